#!/usr/bin/env perl
# A Redis Cluster against a single Redis (docs/scaling.md, "Redis
# Cluster"): one registry node (2 workers) on each, both over loopback
# TCP, in alternating wrk windows.  Manifest GET by tag c16 and c64 over
# twelve repositories (spread over the cluster's three masters), and
# pushes c4 (the same blob again, and manifests under new tags, with
# oci_registry_durable off so that the disk does not hide Redis).  The cluster has three masters and no replicas: what is measured
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
my $tmp = tempdir('oci-bench-cluster-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{BENCH_KEEP});
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60);

make_path($out);
die "build the module first (make)\n" unless -f $module;

# ------------------------------------------------------------ the Redis

sub redis {
    my ($name, @args) = @_;
    my $p = free_port();
    $p = free_port() while grep { $_ eq $p } @args;
    make_path("$tmp/$name");
    spawn("$tmp/$name.log", 'redis-server', '--port', $p, '--bind',
          '127.0.0.1', '--dir', "$tmp/$name", '--appendonly', 'yes',
          '--appendfsync', 'everysec', '--save', '', @args);
    wait_port($p);
    return $p;
}

my $single = redis('single');
# the bus port is the port + 10000 unless named; a free one of its own
# (free_port() may name a port twice once its probe socket is closed)
my %taken = ($single => 1);
sub bus_port {
    my $p;
    do { $p = free_port() } while $taken{$p}++;
    return $p;
}
my @masters = map {
    redis("node$_", '--cluster-enabled', 'yes', '--cluster-config-file',
          'nodes.conf', '--cluster-port', bus_port())
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
            # the pushes measure Redis, not the disk's fsync()
            oci_registry_durable off;
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
    for my $repo (@repos) {
        my $r = $http->request('POST', "http://127.0.0.1:$node{$name}"
            . "/v2/$repo/blobs/uploads/?digest=sha256:"
            . sha256_hex('{"bench":"blob"}'),
            { content => '{"bench":"blob"}',
              headers => { 'Content-Type' => 'application/octet-stream' } });
        die "seed $repo: $r->{status}" unless $r->{status} == 201;
    }
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

# pushes over the twelve repositories: the same small blob (its upload,
# hash, commit and BLOB_LINK each time), and manifests under new tags
# (MANIFEST_PUT, whose catalog change goes through the outbox on a
# cluster)
my $blob = '{"bench":"blob"}';
my $bd = 'sha256:' . sha256_hex($blob);
my $bm = encode_json({ schemaVersion => 2,
    mediaType => 'application/vnd.oci.image.manifest.v1+json',
    config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                digest => $bd, size => length $blob },
    layers => [] });
$bm =~ s/(["\\])/\\$1/g;
spew("$tmp/blobs.lua", <<"EOF");
local i = 0
wrk.method = "POST"
wrk.body = '$blob'
wrk.headers["Content-Type"] = "application/octet-stream"
request = function()
  i = i + 1
  return wrk.format(nil, "/v2/bench/r" .. (i % 12)
                         .. "/blobs/uploads/?digest=$bd")
end
EOF
spew("$tmp/manifests.lua", <<"EOF");
local i = 0
local t = tostring(os.time()) .. tostring(math.random(1000000))
wrk.method = "PUT"
wrk.body = "$bm"
wrk.headers["Content-Type"] = "application/vnd.oci.image.manifest.v1+json"
request = function()
  i = i + 1
  return wrk.format(nil, "/v2/bench/r" .. (i % 12) .. "/manifests/t"
                         .. t .. "-" .. i)
end
EOF

sub wrk_push {
    my ($port, $script) = @_;
    my $o = run("wrk -t2 -c4 -d${secs}s -s $tmp/$script "
                . "'http://127.0.0.1:$port/'");
    my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk $port $script: $non2xx non-2xx\n$o" if $non2xx;
    return $rps;
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
    for my $p (['blob push c4' => 'blobs.lua'],
               ['manifest push c4' => 'manifests.lua'])
    {
        for my $t (@order) {
            my $v = wrk_push($t->[1], $p->[1]);
            push @{ $res{ $p->[0] }{ $t->[0] } }, $v;
            printf STDERR "cluster round %d %s %-26s %.0f req/s\n",
                   $round, $p->[0], $t->[0], $v;
        }
    }
}

open my $info, '>', "$out/cluster.txt" or die;
for my $s ('manifest GET by tag c16', 'manifest GET by tag c64',
           'blob push c4', 'manifest push c4')
{
    my %m = map { $_->[0] => median(@{ $res{$s}{ $_->[0] } }) } @targets;
    for my $t (@targets) {
        printf $info "%s, %s\t%.0f req/s (runs: %s)\n", $s, $t->[0],
               $m{ $t->[0] },
               join(' ', map { sprintf '%.0f', $_ } @{ $res{$s}{ $t->[0] } });
    }
    # each round measured both one after the other: its own ratio
    my @q = map { 100 * $res{$s}{'Redis Cluster, 3 masters'}[$_]
                  / $res{$s}{'single Redis'}[$_] }
            0 .. $#{ $res{$s}{'single Redis'} };
    printf $info "%s, cluster / single\t%.0f%% of the medians; a round's "
           . "own: median %.0f%% (%s)\n", $s,
           100 * $m{'Redis Cluster, 3 masters'} / $m{'single Redis'},
           median(@q), join(' ', map { sprintf '%.0f%%', $_ } @q);
}
printf $info "the twelve repositories' slots: %d distinct; nginx workers: 2 "
       . "a node; the machine's cores: %s\n", scalar(keys %on),
       `nproc` =~ s/\s+//r;
close $info;
print slurp("$out/cluster.txt");
