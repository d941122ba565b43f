#!/usr/bin/env perl
# One registry node against three behind a stock nginx load balancer
# (docs/scaling.md): the nodes share a storage root and one Redis (unix
# socket), as docs/scaling.md deploys them; the balancer (round robin,
# keepalive) is the same in both.  Pulls through it, in alternating
# wrk windows: manifest GET by tag c16 and c64, blob GET 1 MiB c16; and
# the same straight to one node, for what the balancer costs.
#
#   BENCH_ONLY=nodes scripts/bench/run.sh

use strict;
use warnings;
use FindBin;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use IO::Socket::INET;
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
my $tmp = tempdir('oci-bench-nodes-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %port;
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60);

make_path($out);
die "build the module first (make)\n" unless -f $module;


make_path("$tmp/redis", "$tmp/storage");
$port{redis} = start_redis($tmp);
sleep 0.2;

my $user = $> == 0 ? 'user root;' : '';

# three nodes as `make run` has them (2 workers each)
my @nodes;
for my $n (1 .. 3) {
    my $dir = "$tmp/node$n";
    make_path("$dir/logs");
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
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    server {
        listen 127.0.0.1:$p backlog=4096;
        client_max_body_size 0;
        location /v2/ {
            oci_registry;
            oci_registry_storage $tmp/storage;
            oci_registry_redis unix:$tmp/redis.sock;
            oci_registry_thread_pool oci;
        }
    }
}
EOF
    spawn("$dir/stderr.log", '/usr/sbin/nginx', '-p', "$dir/", '-c',
          "$dir/nginx.conf", '-e', "$dir/logs/error.log");
    wait_port($p);
    push @nodes, $p;
}

# two balancers, stock nginx: to node 1 only, and to all three
my %lb;
for my $set ([one => [$nodes[0]]], [three => \@nodes]) {
    my ($name, $ports) = @$set;
    my $dir = "$tmp/lb-$name";
    make_path("$dir/logs");
    my $p = free_port();
    my $servers = join '', map { "        server 127.0.0.1:$_;\n" } @$ports;
    spew("$dir/nginx.conf", <<"EOF");
$user
daemon off;
worker_processes 2;
error_log $dir/logs/error.log notice;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    proxy_temp_path $dir/proxy;
    upstream registry {
$servers        keepalive 64;
    }
    server {
        listen 127.0.0.1:$p backlog=4096;
        client_max_body_size 0;
        location / {
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_request_buffering off;
        }
    }
}
EOF
    spawn("$dir/stderr.log", '/usr/sbin/nginx', '-p', "$dir/", '-c',
          "$dir/nginx.conf", '-e', "$dir/logs/error.log");
    wait_port($p);
    $lb{$name} = $p;
}

# ---------------------------------------------------------------- seed

my $reg = "http://127.0.0.1:$nodes[0]";
sub push_blob {
    my ($bytes) = @_;
    my $d = 'sha256:' . sha256_hex($bytes);
    my $r = $http->request('POST', "$reg/v2/bench/app/blobs/uploads/?digest=$d",
        { content => $bytes, headers => { 'Content-Type' => 'application/octet-stream' } });
    die "push: $r->{status}" unless $r->{status} == 201;
    return ($d, length $bytes);
}
my ($cd, $cs) = push_blob('{"architecture":"amd64","os":"linux"}');
my $mib = do { open my $u, '<', '/dev/urandom' or die; read($u, my $b, 1 << 20); $b };
my ($ld, $ls) = push_blob($mib);
my $manifest = encode_json({ schemaVersion => 2,
    mediaType => 'application/vnd.oci.image.manifest.v1+json',
    config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                digest => $cd, size => $cs },
    layers => [ { mediaType => 'application/vnd.oci.image.layer.v1.tar',
                  digest => $ld, size => $ls } ] });
my $r = $http->request('PUT', "$reg/v2/bench/app/manifests/bench",
    { content => $manifest, headers =>
      { 'Content-Type' => 'application/vnd.oci.image.manifest.v1+json' } });
die "manifest: $r->{status}" unless $r->{status} == 201;

my $accept = 'application/vnd.oci.image.manifest.v1+json';
sub wrk {
    my ($port, $path, $conns, $hdr) = @_;
    my $h = $hdr ? "-H 'Accept: $accept'" : '';
    my $o = run("wrk -t2 -c$conns -d${secs}s $h 'http://127.0.0.1:$port$path'");
    my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk $port $path: $non2xx non-2xx\n$o" if $non2xx;
    return $rps;
}

my @scen = (
    [ 'manifest GET by tag c16', '/v2/bench/app/manifests/bench', 16, 1 ],
    [ 'manifest GET by tag c64', '/v2/bench/app/manifests/bench', 64, 1 ],
    [ 'blob GET 1 MiB c16', "/v2/bench/app/blobs/$ld", 16, 0 ],
);
my @targets = ([ 'one node, direct' => $nodes[0] ],
               [ 'one node behind the balancer' => $lb{one} ],
               [ 'three nodes behind the balancer' => $lb{three} ]);
my %res;
for my $round (1 .. $rounds) {
    for my $s (@scen) {
        my ($name, $path, $c, $hdr) = @$s;
        # the order turns every round
        my @order = map { $targets[($_ + $round) % 3] } 0 .. 2;
        for my $t (@order) {
            my $v = wrk($t->[1], $path, $c, $hdr);
            push @{ $res{$name}{$t->[0]} }, $v;
            printf STDERR "nodes round %d %-24s %-32s %.0f req/s\n",
                   $round, $name, $t->[0], $v;
        }
    }
}

open my $info, '>', "$out/nodes.txt" or die;
for my $s (@scen) {
    my $name = $s->[0];
    for my $t (@targets) {
        my @v = @{ $res{$name}{$t->[0]} };
        printf $info "%s, %s\t%.0f req/s (runs: %s)\n", $name, $t->[0],
               median(@v), join(' ', map { sprintf '%.0f', $_ } @v);
    }
}
printf $info "nginx workers: 2 a node, 2 for each balancer; the machine's "
       . "cores: %s\n", `nproc` =~ s/\s+//r;
close $info;
print slurp("$out/nodes.txt");
