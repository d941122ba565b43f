#!/usr/bin/env perl
# The pull-through mirror's cost (docs/mirror.md): our registry mirrors
# Debian's docker-registry (distribution, filesystem storage) under the
# prefix hub/ and holds a local copy of the same image.  Measured:
#   - cache hits against local pulls, in alternating wrk windows:
#     manifest GET by tag c16 (within the TTL) and blob GET 1 MiB c16;
#   - a cold 64 MiB pull through the mirror against the same pull from
#     the upstream directly (curl, a new blob each round);
#   - the workers' RSS before and after the cold pulls.
#
#   BENCH_ONLY=mirror scripts/bench/run.sh      (also part of make bench)

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
my $tmp = tempdir('oci-bench-mirror-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %port;
my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 120);

make_path($out);
die "build the module first (make)\n" unless -f $module;


# ---------------------------------------------------------------- peers

make_path("$tmp/redis", "$tmp/ours/logs", "$tmp/ours/storage", "$tmp/up");
$port{redis} = start_redis($tmp);

$port{up} = free_port();
spew("$tmp/up/config.yml", <<"EOF");
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/up/data
http:
  addr: 127.0.0.1:$port{up}
EOF
spawn("$tmp/up/log", 'docker-registry', 'serve', "$tmp/up/config.yml");
wait_port($port{up});

$port{ours} = free_port();
my $user = $> == 0 ? 'user root;' : '';
# the mirror location's one buffer: what each read from the upstream takes
my $buffer = $ENV{BENCH_MIRROR_BUFFER} || '1m';

# the upstream as a network would show it: stock nginx in front of it,
# each connection reading from it at 25 MB/s (200 Mbit/s)
$port{wan} = free_port();
make_path("$tmp/wan/logs");
spew("$tmp/wan/nginx.conf", <<"EOF");
$user
daemon off;
master_process off;
error_log $tmp/wan/logs/error.log notice;
pid $tmp/wan/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_temp_path $tmp/wan/proxy;
    server {
        listen 127.0.0.1:$port{wan};
        location / {
            proxy_pass http://127.0.0.1:$port{up};
            proxy_limit_rate 25m;
        }
    }
}
EOF
spawn("$tmp/wan/stderr.log", '/usr/sbin/nginx', '-p', "$tmp/wan/", '-c',
      "$tmp/wan/nginx.conf", '-e', "$tmp/wan/logs/error.log");
wait_port($port{wan});
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
    proxy_temp_path $tmp/ours/proxy;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    upstream up {
        server 127.0.0.1:$port{up};
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port{ours} backlog=4096;
        client_max_body_size 0;
        location /v2/ {
            oci_registry;
            oci_registry_storage $tmp/ours/storage;
            oci_registry_redis unix:$tmp/redis.sock;
            oci_registry_thread_pool oci;
            oci_registry_mirror hub http://up ttl=1h;
            oci_registry_mirror wan http://127.0.0.1:$port{wan} ttl=1h;
        }
        location = /_oci_mirror {
            internal;
            proxy_pass \$oci_mirror_url;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Authorization \$oci_mirror_authorization;
            proxy_set_header Accept \$oci_mirror_accept;
            proxy_set_header Range \$oci_mirror_range;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_buffer_size $buffer;
            proxy_buffers 2 $buffer;
            proxy_busy_buffers_size $buffer;
        }
    }
}
EOF
my $ours_pid = spawn("$tmp/ours/logs/stderr.log", '/usr/sbin/nginx', '-p', "$tmp/ours/",
                     '-c', "$tmp/ours/nginx.conf", '-e', "$tmp/ours/logs/error.log");
wait_port($port{ours});
sleep 0.5;

my $ours = "http://127.0.0.1:$port{ours}";
my $up = "http://127.0.0.1:$port{up}";

sub workers { grep { (`cat /proc/$_/cmdline 2>/dev/null` // '') =~ /worker/ }
              split ' ', `pgrep -P $ours_pid` }
sub rss { my ($pid) = @_; (slurp("/proc/$pid/status") =~ /VmRSS:\s+(\d+)/)[0] }

# ---------------------------------------------------------------- seed

sub push_blob {
    my ($reg, $repo, $bytes) = @_;
    my $d = 'sha256:' . sha256_hex($bytes);
    my $r = $http->request('POST', "$reg/v2/$repo/blobs/uploads/");
    die "POST $reg $repo: $r->{status}" unless $r->{status} == 202;
    my $loc = $r->{headers}{location};
    $loc = "$reg$loc" if $loc =~ m{^/};
    $loc .= ($loc =~ /\?/ ? '&' : '?') . "digest=$d";
    $r = $http->request('PUT', $loc, { content => $bytes, headers =>
        { 'Content-Type' => 'application/octet-stream' } });
    die "PUT blob $reg $repo: $r->{status} $r->{content}" unless $r->{status} == 201;
    return ($d, length $bytes);
}

sub push_image {
    my ($reg, $repo, $tag, $layer) = @_;
    my ($cd, $cs) = push_blob($reg, $repo, encode_json({ architecture => 'amd64',
        os => 'linux', rootfs => { type => 'layers', diff_ids => [] } }));
    my ($ld, $ls) = push_blob($reg, $repo, $layer);
    my $m = encode_json({ schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.manifest.v1+json',
        config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                    digest => $cd, size => $cs },
        layers => [ { mediaType => 'application/vnd.oci.image.layer.v1.tar',
                      digest => $ld, size => $ls } ] });
    my $r = $http->request('PUT', "$reg/v2/$repo/manifests/$tag", { content => $m,
        headers => { 'Content-Type' => 'application/vnd.oci.image.manifest.v1+json' } });
    die "PUT manifest $reg $repo: $r->{status}" unless $r->{status} == 201;
    return $ld;
}

sub random_bytes {
    my ($n) = @_;
    open my $u, '<', '/dev/urandom' or die;
    read($u, my $b, $n) == $n or die;
    return $b;
}

my $mib = random_bytes(1 << 20);
my $l1 = push_image($up, 'library/app', 'v1', $mib);
push_image($ours, 'local/app', 'v1', $mib);
my (@cold, @wcold);
for my $i (1 .. $rounds) {
    push @cold, push_image($up, "library/big$i", 'v1', random_bytes(64 << 20));
    push @wcold, push_image($up, "library/wan$i", 'v1',
                            random_bytes(64 << 20));
}

my $accept = 'application/vnd.oci.image.manifest.v1+json';

# the mirror's copy, fetched once
for my $p ("/v2/hub/library/app/manifests/v1", "/v2/hub/library/app/blobs/$l1") {
    my $r = $http->get("$ours$p", { headers => { Accept => $accept } });
    die "warm $p: $r->{status}" unless $r->{status} == 200;
}

# ---------------------------------------------------------------- hits

sub wrk {
    my ($path, $hdr) = @_;
    my $h = $hdr ? "-H 'Accept: $accept'" : '';
    my $o = run("wrk -t2 -c16 -d${secs}s $h '$ours$path'");
    my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk $path: $non2xx non-2xx\n$o" if $non2xx;
    return $rps;
}

my %pairs = (
    'manifest GET by tag c16' => [ '/v2/local/app/manifests/v1',
                                   '/v2/hub/library/app/manifests/v1', 1 ],
    'blob GET 1 MiB c16'      => [ "/v2/local/app/blobs/$l1",
                                   "/v2/hub/library/app/blobs/$l1", 0 ],
);
my (%local, %mirror);
for my $round (1 .. $rounds) {
    for my $name (sort keys %pairs) {
        my ($lp, $mp, $hdr) = @{ $pairs{$name} };
        # the order alternates, so that neither always goes first
        if ($round % 2) {
            push @{ $local{$name} }, wrk($lp, $hdr);
            push @{ $mirror{$name} }, wrk($mp, $hdr);
        } else {
            push @{ $mirror{$name} }, wrk($mp, $hdr);
            push @{ $local{$name} }, wrk($lp, $hdr);
        }
        printf STDERR "mirror round %d %-24s local %.0f, mirror hit %.0f req/s\n",
               $round, $name, $local{$name}[-1], $mirror{$name}[-1];
    }
}

# ---------------------------------------------------------------- cold

sub fetch_secs {
    my ($url) = @_;
    my $o = run("curl -s -o /dev/null -w '%{http_code} %{size_download} "
                . "%{time_total}' '$url'");
    my ($code, $size, $t) = split ' ', $o;
    die "$url: $code" unless $code == 200 && $size == 64 << 20;
    return $t;
}

my @w = workers();
my %rss0 = map { $_ => rss($_) } @w;
my (@direct, @through);
for my $i (0 .. $#cold) {
    my $d = $cold[$i];
    my $n = $i + 1;
    if ($i % 2) {
        push @direct, 64 / fetch_secs("$up/v2/library/big$n/blobs/$d");
        push @through, 64 / fetch_secs("$ours/v2/hub/library/big$n/blobs/$d");
    } else {
        push @through, 64 / fetch_secs("$ours/v2/hub/library/big$n/blobs/$d");
        push @direct, 64 / fetch_secs("$up/v2/library/big$n/blobs/$d");
    }
    printf STDERR "mirror cold 64 MiB round %d: direct %.0f, through the "
           . "mirror %.0f MiB/s\n", $n, $direct[-1], $through[-1];
}
my (@wdirect, @wthrough);
my $wan = "http://127.0.0.1:$port{wan}";
for my $i (0 .. $#wcold) {
    my $d = $wcold[$i];
    my $n = $i + 1;
    if ($i % 2) {
        push @wdirect, 64 / fetch_secs("$wan/v2/library/wan$n/blobs/$d");
        push @wthrough, 64 / fetch_secs("$ours/v2/wan/library/wan$n/blobs/$d");
    } else {
        push @wthrough, 64 / fetch_secs("$ours/v2/wan/library/wan$n/blobs/$d");
        push @wdirect, 64 / fetch_secs("$wan/v2/library/wan$n/blobs/$d");
    }
    printf STDERR "mirror cold 64 MiB at 25 MB/s round %d: direct %.0f, "
           . "through the mirror %.0f MiB/s\n", $n, $wdirect[-1],
           $wthrough[-1];
}
my $growth = 0;
for (@w) { my $g = rss($_) - $rss0{$_}; $growth = $g if $g > $growth }

# the copies are whole
for my $i (0 .. $#cold) {
    my $n = $i + 1;
    my $r = $http->get("$ours/v2/hub/library/big$n/blobs/$cold[$i]");
    die "cached big$n: $r->{status}" unless $r->{status} == 200
        && 'sha256:' . sha256_hex($r->{content}) eq $cold[$i];
}

open my $info, '>', "$out/mirror.txt" or die;
for my $name (sort keys %pairs) {
    my @ratio = map { $mirror{$name}[$_] / $local{$name}[$_] }
                0 .. $#{ $local{$name} };
    printf $info "%s: mirror hit / local, %d rounds of %d s\t%.0f / %.0f "
           . "req/s (per round: %s; median %.0f%%)\n", $name, scalar @ratio,
           $secs, median(@{ $mirror{$name} }), median(@{ $local{$name} }),
           join(' ', map { sprintf '%.0f%%', 100 * $_ } @ratio),
           100 * median(@ratio);
}
my @cr = map { $through[$_] / $direct[$_] } 0 .. $#direct;
printf $info "cold 64 MiB blob: through the mirror / from the upstream, "
       . "%d rounds\t%.0f / %.0f MiB/s (per round: %s; median %.0f%%)\n",
       scalar @cr, median(@through), median(@direct),
       join(' ', map { sprintf '%.0f%%', 100 * $_ } @cr), 100 * median(@cr);
my @wr = map { $wthrough[$_] / $wdirect[$_] } 0 .. $#wdirect;
printf $info "cold 64 MiB blob, upstream limited to 25 MB/s a connection: "
       . "through the mirror / direct, %d rounds\t%.0f / %.0f MiB/s "
       . "(per round: %s; median %.0f%%)\n",
       scalar @wr, median(@wthrough), median(@wdirect),
       join(' ', map { sprintf '%.0f%%', 100 * $_ } @wr), 100 * median(@wr);
printf $info "largest growth of a worker's RSS over %d cold 64 MiB pulls "
       . "(KiB)\t%d\n", 2 * scalar @cold, $growth;
printf $info "the mirror location's proxy_buffer_size\t%s\n", $buffer;
close $info;
print slurp("$out/mirror.txt");
