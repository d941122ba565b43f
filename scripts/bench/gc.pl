#!/usr/bin/env perl
# Garbage collection at scale: a registry with 100 000 blobs (100
# repositories of 1000; half of them referenced by 500 manifests, half
# unreferenced), one pass that collects the 50 000, its time, the
# collecting worker's memory and what the blob records cost Redis; then
# pull rates (manifest GET by tag c16, blob GET 1 MiB c16) during a pass
# against the rates right after it, in pairs of windows.
#
#   BENCH_ONLY=gc scripts/bench/run.sh      (also the end of make bench)

use strict;
use warnings;
use FindBin;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use JSON::PP;
use lib $FindBin::Bin;
use BenchUtil qw(free_port spawn wait_port run slurp spew median
                 start_redis);

my $top = "$FindBin::Bin/../..";
my $rounds = $ENV{BENCH_ROUNDS} || 3;
my $secs = $ENV{BENCH_SECONDS} || 5;
my $out = $ENV{BENCH_OUT} || "$top/build/bench";
my $module = $ENV{BENCH_MODULE}
             || "$top/build/default/ngx_http_oci_registry_module.so";
my $tmp = tempdir('oci-bench-gc-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %port;
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60);

make_path($out);
die "build the module first (make)\n" unless -f $module;


make_path("$tmp/redis", "$tmp/ours/logs", "$tmp/ours/storage");
$port{redis} = start_redis($tmp);
sub redis { run("redis-cli -p $port{redis} @_") }
sub redis_mem { (redis('info memory') =~ /used_memory:(\d+)/)[0] }

$port{ours} = free_port();
my $user = $> == 0 ? 'user root;' : '';
spew("$tmp/ours/nginx.conf", <<"EOF");
load_module $module;
$user
daemon off;
worker_processes 2;
error_log $tmp/ours/logs/error.log notice;
pid $tmp/ours/nginx.pid;
events { worker_connections 4096; }
thread_pool oci threads=4;
http {
    access_log off;
    client_body_temp_path $tmp/ours/body;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    server {
        listen 127.0.0.1:$port{ours} backlog=4096;
        client_max_body_size 0;
        location /v2/ {
            oci_registry;
            oci_registry_storage $tmp/ours/storage;
            oci_registry_redis unix:$tmp/redis.sock;
            oci_registry_thread_pool oci;
            oci_registry_delete on;
            oci_registry_gc_grace 0s;
        }
    }
}
EOF
my $ours_pid = spawn("$tmp/ours/logs/stderr.log", '/usr/sbin/nginx', '-p', "$tmp/ours/",
                     '-c', "$tmp/ours/nginx.conf", '-e', "$tmp/ours/logs/error.log");
wait_port($port{ours});
sleep 0.5;
sub url { "http://127.0.0.1:$port{ours}$_[0]" }

sub workers { grep { (`cat /proc/$_/cmdline 2>/dev/null` // '') =~ /worker/ }
              split ' ', `pgrep -P $ours_pid` }
sub rss { my ($pid, $f) = @_; (slurp("/proc/$pid/status") =~ /$f:\s+(\d+)/)[0] }

# ---------------------------------------------------------------- seed

# 100 repositories of 1000 blobs of 1 KiB: the files as commits leave
# them, the links and records as BLOB_LINK makes them (in one script a
# repository: an HTTP push of each would take minutes)
my $nrepo = 100;
my $per = 1000;
my $m0 = redis_mem();
my @live;    # [repo, [digests]]
for my $r (1 .. $nrepo) {
    my $base = "oci:{gc/r$r}:";
    my (@args, @ds);
    for my $i (1 .. $per) {
        my $bytes = sprintf("%-1024s", "blob $r $i");
        my $h = sha256_hex($bytes);
        my $dir = "$tmp/ours/storage/blobs/sha256/" . substr($h, 0, 2);
        make_path($dir) unless -d $dir;
        spew("$dir/$h", $bytes);
        push @args, "sha256:$h", 1024;
        push @ds, "sha256:$h";
    }
    my $lua = "for i = 1, #ARGV, 2 do "
        . "redis.call('HSET', KEYS[1] .. 'blobs', ARGV[i], ARGV[i + 1]) "
        . "redis.call('SADD', 'oci:blob:' .. ARGV[i], KEYS[1]) "
        . "redis.call('ZADD', KEYS[1] .. 'unref', 0, ARGV[i]) end "
        . "redis.call('ZADD', 'oci:gc:repos', 0, KEYS[1]) return 1";
    my $pid = fork // die;
    if (!$pid) { open STDOUT, '>', '/dev/null';
                 exec 'redis-cli', '-p', $port{redis}, 'EVAL', $lua, 1, $base, @args;
                 die }
    waitpid($pid, 0);
    die "seeding failed" if $?;
    push @live, ["gc/r$r", [@ds[0 .. $per / 2 - 1]]];
}
my $record_bytes = (redis_mem() - $m0) / ($nrepo * $per);

# half of each repository referenced: 5 manifests of 100 layers each
my ($pull_manifest, $pull_blob);
for my $l (@live) {
    my ($repo, $ds) = @$l;
    for my $k (0 .. 4) {
        my @layers = @$ds[$k * 100 .. $k * 100 + 99];
        my $cfg = shift @layers;
        my $m = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
            . $cfg . '","size":1024},"layers":['
            . join(',', map { '{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
                              . '"digest":"' . $_ . '","size":1024}' } @layers) . ']}';
        my $r = $http->request('PUT', url("/v2/$repo/manifests/v$k"), { content => $m,
            headers => { 'Content-Type' => 'application/vnd.oci.image.manifest.v1+json' } });
        die "manifest: $r->{status} $r->{content}" unless $r->{status} == 201;
    }
}
# what the pulls read: a tag, and a 1 MiB blob, pushed as clients do
my $mib = 'x' x 1048576;
my $md = 'sha256:' . sha256_hex($mib);
my $r = $http->request('POST', url("/v2/gc/pull/blobs/uploads/?digest=$md"), { content => $mib });
die "blob: $r->{status}" unless $r->{status} == 201;
my $pm = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    . $md . '","size":1048576},"layers":[]}';
$r = $http->request('PUT', url('/v2/gc/pull/manifests/latest'), { content => $pm,
    headers => { 'Content-Type' => 'application/vnd.oci.image.manifest.v1+json' } });
die "manifest: $r->{status}" unless $r->{status} == 201;

# ---------------------------------------------------------------- one pass

sub status { decode_json($http->get(url('/v2/_gc'))->{content}) }
sub pass {
    my $before = status()->{last};
    $http->request('POST', url('/v2/_gc/run'))->{status} == 202 or die;
    while (1) {
        my $s = status();
        return $s->{last} if $s->{last} && !$s->{running} && !$s->{requested}
                             && (!$before || $s->{last}{id} > $before->{id});
        sleep 0.02;
    }
}
sub disk_files { my $n = 0; $n++ for split /\n/, `find $tmp/ours/storage/blobs -type f`; $n }

my $files0 = disk_files();
my %hwm0 = map { $_ => rss($_, 'VmHWM') } workers();
my %rss0 = map { $_ => rss($_, 'VmRSS') } workers();
my $t0 = time;
my $first = pass();
my $first_s = time - $t0;
my @w = workers();
my ($hwm1) = sort { $b <=> $a } map { rss($_, 'VmHWM') - ($hwm0{$_} // 0) } @w;
my ($rss1) = sort { $b <=> $a } map { rss($_, 'VmRSS') - ($rss0{$_} // 0) } @w;
my $files1 = disk_files();
die "the pass removed $first->{removedFiles}, not 50000"
    unless $first->{removedFiles} == $nrepo * $per / 2;
$t0 = time;
my $second = pass();
my $second_s = time - $t0;

# ---------------------------------------------------------------- pulls

sub wrk {
    my ($path, $secs) = @_;
    my $o = run("wrk -t2 -c16 -d${secs}s '" . url($path) . "'");
    my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk $path: $non2xx non-2xx\n$o" if $non2xx;
    return $rps;
}

# Pairs of windows, the target alternating: one while a pass runs (asked
# for, the window starts when the pass does), one after it ended.  A
# window covered by a pass only in part is counted as such.
my $win = 3;
my (%quiet, %busy, $covered, $windows);
for my $round (1 .. 2 * $rounds) {
    for my $p ('/v2/gc/pull/manifests/latest', "/v2/gc/pull/blobs/$md") {
        my $before = status()->{last}{id};
        $http->request('POST', url('/v2/_gc/run'))->{status} == 202 or die;
        sleep 0.01 until status()->{running};
        push @{ $busy{$p} }, wrk($p, $win);
        $windows++;
        $covered++ if status()->{running};
        sleep 0.05 until (status()->{last}{id} // 0) > ($before // 0)
                         && !status()->{running};
        push @{ $quiet{$p} }, wrk($p, $win);
        printf STDERR "gc round %d %-16s during a pass %.0f, without %.0f req/s\n",
               $round, $p =~ /manifests/ ? 'manifest GET' : 'blob GET 1 MiB',
               $busy{$p}[-1], $quiet{$p}[-1];
    }
}

open my $info, '>', "$out/gc.txt" or die;
printf $info "blobs, repositories\t%d, %d\n", $nrepo * $per, $nrepo;
printf $info "redis bytes per blob link with its record\t%.0f\n", $record_bytes;
printf $info "first pass (50000 collected): seconds\t%.2f\n", $first_s;
printf $info "first pass: links unlinked, files removed, bytes\t%d %d %d\n",
       @$first{qw(unlinkedBlobs removedFiles removedBytes)};
printf $info "first pass: blob files before and after\t%d %d\n", $files0, $files1;
printf $info "first pass: largest growth of a worker's RSS, peak RSS (KiB)\t%d %d\n",
       $rss1, $hwm1;
printf $info "second pass (nothing to collect, 50000 blobs): seconds\t%.2f\n", $second_s;
for my $p (sort keys %quiet) {
    my @ratio = map { $busy{$p}[$_] / $quiet{$p}[$_] } 0 .. $#{ $quiet{$p} };
    printf $info "%s req/s during a pass / without, %d pairs of %d s windows\t"
           . "%.0f / %.0f (per pair: %s; median %.0f%%)\n",
           $p =~ /manifests/ ? 'manifest GET by tag c16' : 'blob GET 1 MiB c16',
           scalar @ratio, $win, median(@{ $busy{$p} }), median(@{ $quiet{$p} }),
           join(' ', map { sprintf '%.0f%%', 100 * $_ } @ratio), 100 * median(@ratio);
}
printf $info "windows a pass covered to their end\t%d of %d\n", $covered, $windows;
close $info;
print slurp("$out/gc.txt");
