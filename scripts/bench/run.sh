#!/usr/bin/env bash
# Runs the side-by-side benchmark (see scripts/bench/bench.pl) and draws
# the chart, then garbage collection at scale (scripts/bench/gc.pl), the
# pull-through mirror (scripts/bench/mirror.pl), one node against
# three (scripts/bench/nodes.pl) and a Redis Cluster against a single
# Redis (scripts/bench/cluster.pl).  Results: build/bench/{results.tsv,
# info.txt,chart.png,gc.txt,mirror.txt,nodes.txt,cluster.txt}.
# BENCH_ONLY=gc, mirror, nodes or cluster runs that part alone.
#   scripts/bench/run.sh [ROUNDS [SECONDS]]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export BENCH_ROUNDS=${1:-${BENCH_ROUNDS:-3}} BENCH_SECONDS=${2:-${BENCH_SECONDS:-5}}
export BENCH_OUT=${BENCH_OUT:-$top/build/bench}
if [ "${BENCH_ONLY:-}" = gc ]; then
    # garbage collection only (scripts/bench/gc.pl)
    perl scripts/bench/gc.pl
    echo "bench: $BENCH_OUT/gc.txt"
    exit 0
fi
if [ "${BENCH_ONLY:-}" = nodes ]; then
    perl scripts/bench/nodes.pl
    echo "bench: $BENCH_OUT/nodes.txt"
    exit 0
fi
if [ "${BENCH_ONLY:-}" = cluster ]; then
    perl scripts/bench/cluster.pl
    echo "bench: $BENCH_OUT/cluster.txt"
    exit 0
fi
if [ "${BENCH_ONLY:-}" = mirror ]; then
    perl scripts/bench/mirror.pl
    echo "bench: $BENCH_OUT/mirror.txt"
    exit 0
fi
perl scripts/bench/bench.pl
if [ -n "${BENCH_ONLY:-}" ]; then
    # a part of the scenarios: no chart of the whole
    echo "bench: $BENCH_OUT/results.tsv, $BENCH_OUT/info.txt"
    exit 0
fi
grep -v " p99 ms" "$BENCH_OUT/results.tsv" | grep -v "of 100000" \
    | grep -v -e "token auth" -e "events on" -e "wait=1" \
    > "$BENCH_OUT/chart.tsv"
gnuplot -e "out='$BENCH_OUT/chart.png'; in='$BENCH_OUT/chart.tsv'" \
    scripts/bench/chart.gp
perl scripts/bench/gc.pl
perl scripts/bench/mirror.pl
perl scripts/bench/nodes.pl
perl scripts/bench/cluster.pl
echo "bench: $BENCH_OUT/results.tsv, $BENCH_OUT/info.txt, $BENCH_OUT/chart.png," \
     "$BENCH_OUT/gc.txt, $BENCH_OUT/mirror.txt, $BENCH_OUT/nodes.txt," \
     "$BENCH_OUT/cluster.txt"
