# Bar chart of the benchmark's medians, each scenario normalised to static
# nginx (= 100%) where static nginx ran it, else to distribution.
# gnuplot -e "in='results.tsv'; out='chart.png'" scripts/bench/chart.gp
set terminal pngcairo size 1200,650 font ",10" noenhanced
set output out
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "% of static nginx (pulls) or of distribution (pushes)"
set logscale y
set yrange [1:*]
set xtics rotate by -35 scale 0 noenhanced
set key top right
set grid ytics
set title "ngx_oci_registry vs CNCF distribution 2.8.2 vs static nginx (medians)"
ref(s, d) = (s eq "" ? d : s)
plot in every ::1 using (100*$2/ref(strcol(4), $3)):xtic(1) title "ngx_oci_registry", \
     '' every ::1 using (100*$3/ref(strcol(4), $3)) title "distribution", \
     '' every ::1 using (strcol(4) eq "" ? NaN : 100) title "static nginx"
