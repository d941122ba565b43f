#!/usr/bin/env perl
# A Redis Cluster against a single Redis (docs/scaling.md, "Redis
# Cluster"): one registry node (2 workers) on each, both over loopback
# TCP, in alternating wrk windows.  Manifest GET by tag c16 and c64 over
# twelve repositories (spread over the cluster's three masters), and
# pushes (a blob and a manifest, one client after the other) timed per
# push.  The cluster has three masters and no replicas: what is measured
# is the routing and the outbox, not replication.
#
#   BENCH_ONLY=cluster scripts/bench/run.sh

use strict;
use warnings;
use FindBin;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use JSON::PP;
use lib $FindBin::Bin;
use BenchUtil qw(free_port spawn wait_port run slurp spew median);

my $top = "$FindBin::Bin/../..";
my $rounds = $ENV{BENCH_ROUNDS} || 3;
my $secs = $ENV{BENCH_SECONDS} || 5;
my $out = $ENV{BENCH_OUT} || "$top/build/bench";
my $module = $ENV{BENCH_MODULE}
             || "$top/build/default/ngx_http_oci_registry_module.so";
my $tmp = tempdir('oci-bench-cluster-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60);

make_path($out);
die "build the module first (make)\n" unless -f $module;

# ------------------------------------------------------------ the Redis

sub redis {
    my ($name, @args) = @_;
    my $p = free_port();
    make_path("$tmp/$name");
    spawn("$tmp/$name.log", 'redis-server', '--port', $p, '--bind',
          '127.0.0.1', '--dir', "$tmp/$name", '--appendonly', 'yes',
          '--appendfsync', 'everysec', '--save', '', @args);
    wait_port($p);
    return $p;
}

my $single = redis('single');
my @masters = map {
    redis("node$_", '--cluster-enabled', 'yes', '--cluster-config-file',
          'nodes.conf', '--cluster-port', free_port())
} 1 .. 3;
run('redis-cli', '-p', $masters[0], '--cluster', 'create',
    (map { "127.0.0.1:$_" } @masters), '--cluster-yes');
for (1 .. 100) {
    last if `redis-cli -p $masters[0] cluster info` =~ /cluster_state:ok/;
    sleep 0.1;
}

# ------------------------------------------------------------ the nodes

my $user = $> == 0 ? 'user root;' : '';
my %node;
for my $set ([single => "127.0.0.1:$single"],
             [cluster => join ' ', map { "cluster=127.0.0.1:$_" } @masters])
{
    my ($name, $redis) = @$set;
    my $dir = "$tmp/nginx-$name";
    make_path("$dir/logs", "$dir/storage");
    my $p = free_port();
    spew("$dir/nginx.conf", <<"EOF");
load_module $module;
$user
daemon off;
worker_processes 2;
error_log $dir/logs/error.log notice;
pid $dir/nginx.pid;
events { worker_connections 4096; }
thread_pool oci threads=4;
http {
    access_log off;
    client_body_temp_path $dir/body;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$p backlog=4096;
        client_max_body_size 0;
        location /v2/ {
            oci_registry;
            oci_registry_storage $dir/storage;
            oci_registry_redis $redis;
            oci_registry_thread_pool oci;
        }
    }
}
EOF
    spawn("$dir/stderr.log", '/usr/sbin/nginx', '-p', "$dir/", '-c',
          "$dir/nginx.conf", '-e', "$dir/logs/error.log");
    wait_port($p);
    $node{$name} = $p;
}

# ------------------------------------------------------------ seed

my @repos = map { "bench/r$_" } 0 .. 11;

sub push_image {
    my ($port, $repo, $tag) = @_;
    my $reg = "http://127.0.0.1:$port";
    my $cfg = qq({"repo":"$repo","tag":"$tag"});
    my $d = 'sha256:' . sha256_hex($cfg);
    my $r = $http->request('POST', "$reg/v2/$repo/blobs/uploads/?digest=$d",
        { content => $cfg,
          headers => { 'Content-Type' => 'application/octet-stream' } });
    die "push $repo: $r->{status} $r->{content}" unless $r->{status} == 201;
    my $m = encode_json({ schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.manifest.v1+json',
        config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                    digest => $d, size => length $cfg },
        layers => [] });
    $r = $http->request('PUT', "$reg/v2/$repo/manifests/$tag",
        { content => $m, headers =>
          { 'Content-Type' => 'application/vnd.oci.image.manifest.v1+json' } });
    die "manifest $repo: $r->{status}" unless $r->{status} == 201;
}

for my $name (keys %node) {
    # the first requests may meet a seed before its map is loaded
    for (1 .. 50) {
        last if $http->get("http://127.0.0.1:$node{$name}/v2/")->{status}
                == 200;
        sleep 0.1;
    }
    push_image($node{$name}, $_, 'bench') for @repos;
}

my %on;
$on{ `redis-cli -p $masters[0] cluster keyslot 'oci:{$_}:tags'` + 0 } = 1
    for @repos;

# wrk turning over the twelve repositories
spew("$tmp/repos.lua", <<'EOF');
local i = 0
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
request = function()
  i = i + 1
  return wrk.format(nil, "/v2/bench/r" .. (i % 12) .. "/manifests/bench")
end
EOF

sub wrk {
    my ($port, $conns) = @_;
    my $o = run("wrk -t2 -c$conns -d${secs}s -s $tmp/repos.lua "
                . "'http://127.0.0.1:$port/'");
    my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk $port: $non2xx non-2xx\n$o" if $non2xx;
    return $rps;
}

# pushes one after the other: milliseconds a push (a blob and a manifest)
sub pushes {
    my ($port, $round) = @_;
    my $n = 200;
    my $t0 = time;
    push_image($port, $repos[$_ % 12], "p$round-$_") for 1 .. $n;
    return (time - $t0) * 1000 / $n;
}

my @targets = ([ 'single Redis' => $node{single} ],
               [ 'Redis Cluster, 3 masters' => $node{cluster} ]);
my %res;
for my $round (1 .. $rounds) {
    my @order = $round % 2 ? @targets : reverse @targets;
    for my $c (16, 64) {
        for my $t (@order) {
            my $v = wrk($t->[1], $c);
            push @{ $res{"manifest GET by tag c$c"}{ $t->[0] } }, $v;
            printf STDERR "cluster round %d c%d %-26s %.0f req/s\n",
                   $round, $c, $t->[0], $v;
        }
    }
    for my $t (@order) {
        my $v = pushes($t->[1], $round);
        push @{ $res{'push (blob + manifest), one client'}{ $t->[0] } }, $v;
        printf STDERR "cluster round %d push %-26s %.2f ms\n",
               $round, $t->[0], $v;
    }
}

open my $info, '>', "$out/cluster.txt" or die;
for my $s ('manifest GET by tag c16', 'manifest GET by tag c64') {
    my %m = map { $_->[0] => median(@{ $res{$s}{ $_->[0] } }) } @targets;
    for my $t (@targets) {
        printf $info "%s, %s\t%.0f req/s (runs: %s)\n", $s, $t->[0],
               $m{ $t->[0] },
               join(' ', map { sprintf '%.0f', $_ } @{ $res{$s}{ $t->[0] } });
    }
    printf $info "%s, cluster / single\t%.0f%%\n", $s,
           100 * $m{'Redis Cluster, 3 masters'} / $m{'single Redis'};
}
my $s = 'push (blob + manifest), one client';
for my $t (@targets) {
    printf $info "%s, %s\t%.2f ms (runs: %s)\n", $s, $t->[0],
           median(@{ $res{$s}{ $t->[0] } }),
           join(' ', map { sprintf '%.2f', $_ } @{ $res{$s}{ $t->[0] } });
}
printf $info "the twelve repositories' slots: %d distinct; nginx workers: 2 "
       . "a node; the machine's cores: %s\n", scalar(keys %on),
       `nproc` =~ s/\s+//r;
close $info;
print slurp("$out/cluster.txt");
