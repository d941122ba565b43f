#!/usr/bin/env perl
# Side-by-side benchmark: ngx_oci_registry (nginx + module + its own Redis),
# CNCF distribution (Debian's docker-registry, filesystem storage) and
# stock nginx serving the same bytes as static files (the physical limit
# for pulls).  Seeds the registries through their real APIs, runs the
# targets alternately (A B C A B C ...) for several rounds, checks every
# response's status, and writes medians to $OUT/results.tsv plus a chart.
#
#   scripts/bench/run.sh [ROUNDS] [SECONDS]   (make bench)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../t/lib";
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use Digest::SHA qw(sha256_hex);
use HTTP::Tiny;
use IO::Socket::INET;
use Socket ();
use POSIX qw(floor);
use Time::HiRes qw(time sleep);
use JSON::PP;

my $top = "$FindBin::Bin/../..";
my $rounds = $ENV{BENCH_ROUNDS} || 3;
my $secs = $ENV{BENCH_SECONDS} || 5;
my $out = $ENV{BENCH_OUT} || "$top/build/bench";
# BENCH_MODULE=path measures another build (say, the last release) with
# the same method
my $module = $ENV{BENCH_MODULE}
             || "$top/build/default/ngx_http_oci_registry_module.so";
my $tmp = tempdir('oci-bench-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my (@procs, %port);

make_path($out);
die "build the module first (make)\n" unless -f $module;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0) or die;
    return $s->sockport;
}

sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', $log; open STDERR, '>&', \*STDOUT;
        exec @cmd or die "exec @cmd: $!";
    }
    push @procs, $pid;
    return $pid;
}

sub wait_port {
    my ($p) = @_;
    for (1 .. 200) {
        return if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p");
        sleep 0.05;
    }
    die "nothing listens on $p\n";
}

END { local $?; kill 'TERM', @procs if @procs; waitpid($_, 0) for @procs }

sub slurp { open my $f, '<', $_[0] or die "$_[0]: $!"; local $/; scalar <$f> }
sub spew { my ($f, $d) = @_; make_path($f =~ m{(.*)/}); open my $h, '>', $f or die;
           binmode $h; print $h $d; close $h }
sub run { my $o = `@_ 2>&1`; die "@_ failed:\n$o" if $?; $o }

# ---------------------------------------------------------------- targets

# ours: nginx with the module, 2 workers, its own Redis (AOF everysec,
# the setting a throughput-minded operator would pick; see reliability.md)
$port{redis} = free_port();
make_path("$tmp/redis", "$tmp/ours/logs", "$tmp/ours/storage");
# The module reaches its co-located Redis over a unix socket, as a
# single node should be set up; BENCH_REDIS=tcp measures loopback TCP
# instead (what nodes sharing one Redis pay, plus the network)
my $redis_addr = ($ENV{BENCH_REDIS} // '') eq 'tcp'
                 ? "127.0.0.1:$port{redis}" : "unix:$tmp/redis.sock";
spawn("$tmp/redis.log", 'redis-server', '--unixsocket', "$tmp/redis.sock",
      '--port', $port{redis}, '--bind',
      '127.0.0.1', '--dir', "$tmp/redis", '--appendonly', 'yes',
      '--appendfsync', 'everysec', '--save', '');
wait_port($port{redis});

# a replica of it, for the pushes with "wait=1" (WAIT 1 after each write)
$port{replica} = free_port();
make_path("$tmp/replica");
spawn("$tmp/replica.log", 'redis-server', '--port', $port{replica},
      '--bind', '127.0.0.1', '--dir', "$tmp/replica", '--appendonly', 'no',
      '--save', '', '--replicaof', '127.0.0.1', $port{redis});
wait_port($port{replica});
for (1 .. 100) {
    last if run("redis-cli -p $port{redis} INFO replication") =~ /state=online/;
    select undef, undef, undef, 0.1;
}

$port{ours} = free_port();
$port{auth} = free_port();
# BENCH_AUTH_CACHE=0 measures the verifier without its per-worker cache
my $auth_cache = $ENV{BENCH_AUTH_CACHE} // 1024;
my $user = $> == 0 ? 'user root;' : '';

# token auth on a second server of the same nginx: an ES256 key made with
# openssl, a policy, and a fixed user (the endpoint trusts its variable)
make_path("$tmp/auth");
run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $tmp/auth/ec.key");
run("openssl pkey -in $tmp/auth/ec.key -pubout -out $tmp/auth/ec.pub");
spew("$tmp/auth/policy", "allow user:bench bench/* pull,push\n");
spew("$tmp/ours/nginx.conf", <<"EOF");
load_module $module;
$user
daemon off;
worker_processes 2;
error_log $tmp/ours/logs/error.log warn;
pid $tmp/ours/nginx.pid;
events { worker_connections 4096; }
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
        client_body_buffer_size 1m;
        oci_registry_thread_pool default;
        location /v2/ {
            oci_registry;
            oci_registry_storage $tmp/ours/storage;
            oci_registry_redis $redis_addr;
        }
        # the same without fsync, for a like-for-like push comparison
        # with distribution, whose filesystem driver does not fsync
        location /v2/nofsync/ {
            oci_registry;
            oci_registry_storage $tmp/ours/storage;
            oci_registry_redis $redis_addr;
            oci_registry_durable off;
        }
        # the same with each acknowledged write waiting for the replica
        location /v2/wait/ {
            oci_registry;
            oci_registry_storage $tmp/ours/storage;
            oci_registry_redis $redis_addr wait=1;
        }
    }
    server {
        listen 127.0.0.1:$port{auth} backlog=4096;
        oci_registry_auth_realm http://127.0.0.1:$port{auth}/token;
        oci_registry_auth_service bench;
        oci_registry_auth_issuer bench;
        location /v2/ {
            auth_request /_oci_auth;
            error_page 401 403 \@oci_denied;
            oci_registry;
            oci_registry_storage $tmp/ours/storage;
            oci_registry_redis $redis_addr;
        }
        location = /_oci_auth {
            internal;
            oci_registry_auth_verify;
            oci_registry_auth_key $tmp/auth/ec.pub;
            oci_registry_auth_cache $auth_cache;
        }
        location \@oci_denied {
            oci_registry_auth_error;
        }
        location = /token {
            oci_registry_auth_token;
            oci_registry_auth_signing_key $tmp/auth/ec.key;
            oci_registry_auth_policy $tmp/auth/policy;
            oci_registry_auth_user bench;
        }
    }
}
EOF
my $ours_pid = spawn("$tmp/ours/logs/stderr.log", '/usr/sbin/nginx', '-p',
                     "$tmp/ours/", '-c', "$tmp/ours/nginx.conf", '-e',
                     "$tmp/ours/logs/error.log");
wait_port($port{ours});

# the same registry with metrics and events on (counting is per nginx, so
# another nginx): same Redis, same storage, a /metrics location, and an
# endpoint taking every event (a second server answering 204)
$port{metrics} = free_port();
$port{sink} = free_port();
make_path("$tmp/metrics/logs");
spew("$tmp/metrics/nginx.conf", <<"EOF");
load_module $module;
$user
daemon off;
worker_processes 2;
error_log $tmp/metrics/logs/error.log warn;
pid $tmp/metrics/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/metrics/body;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    server {
        listen 127.0.0.1:$port{metrics} backlog=4096;
        client_max_body_size 0;
        client_body_buffer_size 1m;
        oci_registry_thread_pool default;
        oci_registry_storage $tmp/ours/storage;
        oci_registry_redis $redis_addr;
        oci_registry_key_prefix ev:;
        oci_registry_events on;
        oci_registry_events_endpoint sink /_sink poll=100ms batch=100;
        location /v2/ {
            oci_registry;
        }
        location = /metrics {
            oci_registry_metrics;
        }
        location /_sink {
            internal;
            proxy_pass http://127.0.0.1:$port{sink};
        }
    }
    server {
        listen 127.0.0.1:$port{sink};
        location / { return 204; }
    }
}
EOF
spawn("$tmp/metrics/logs/stderr.log", '/usr/sbin/nginx', '-p', "$tmp/metrics/",
      '-c', "$tmp/metrics/nginx.conf", '-e', "$tmp/metrics/logs/error.log");
wait_port($port{metrics});

# CNCF distribution 2.8.2, filesystem storage, delete enabled
$port{dist} = free_port();
spew("$tmp/dist/config.yml", <<"EOF");
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/dist/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port{dist}
EOF
spawn("$tmp/dist/log", 'docker-registry', 'serve', "$tmp/dist/config.yml");
wait_port($port{dist});

# stock nginx serving the same bytes as files at the same paths
$port{static} = free_port();
make_path("$tmp/static/logs", "$tmp/static/root");
spew("$tmp/static/nginx.conf", <<"EOF");
$user
daemon off;
worker_processes 2;
error_log $tmp/static/logs/error.log warn;
pid $tmp/static/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port{static} backlog=4096;
        root $tmp/static/root;
    }
}
EOF
spawn("$tmp/static/logs/stderr.log", '/usr/sbin/nginx', '-p', "$tmp/static/",
      '-c', "$tmp/static/nginx.conf", '-e', "$tmp/static/logs/error.log");
wait_port($port{static});

# ---------------------------------------------------------------- seeding

my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
my $json = JSON::PP->new->canonical;
my $MT = 'application/vnd.oci.image.manifest.v1+json';

sub bytes { my ($n, $seed) = @_; my $b = '';
            $b .= sha256_hex("$seed:" . length $b) while length($b) < $n;
            substr($b, 0, $n) }

my %blob = (b1k => bytes(1024, 'a'), b1m => bytes(1 << 20, 'b'),
            b64m => bytes(64 << 20, 'c'), cfg => '{"architecture":"amd64","os":"linux"}');
my %dg = map { $_ => 'sha256:' . sha256_hex($blob{$_}) } keys %blob;
my $manifest = $json->encode({ schemaVersion => 2, mediaType => $MT,
    config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                digest => $dg{cfg}, size => length $blob{cfg} },
    layers => [ map { { mediaType => 'application/vnd.oci.image.layer.v1.tar',
                        digest => $dg{$_}, size => length $blob{$_} } }
                qw(b1k b1m b64m) ] });
my $mdg = 'sha256:' . sha256_hex($manifest);

# Requests go out in one write on a TCP_NODELAY keep-alive socket:
# HTTP::Tiny writes headers and body separately, and Nagle's algorithm
# then waits for a delayed ACK (40 ms per request), which measures the
# client, not the registry.  Idempotent requests are retried once on a
# dropped connection.
my %sock;
sub raw {
    my ($p, $method, $path, $hdrs, $body) = @_;
    $body //= '';
    for my $try (1 .. 2) {
        my $s = $sock{$p} //= do {
            my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$p") or die "connect $p: $!";
            setsockopt($c, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);
            $c };
        my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            . join('', map { "$_: $hdrs->{$_}\r\n" } sort keys %{ $hdrs || {} })
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
        my ($status, %h, $content) = (0);
        if (syswrite($s, $req) == length $req) {
            local $/ = "\r\n";
            my $line = <$s> // '';
            ($status) = $line =~ m{^HTTP/1\.1 (\d+)};
            while (defined(my $l = <$s>)) {
                last if $l eq "\r\n";
                $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*?)\r\n/;
            }
            $content = '';
            read($s, $content, $h{'content-length'}) if $h{'content-length'};
        }
        return ($status, \%h, $content) if $status;
        # the server closed an idle keep-alive connection: a new one
        delete $sock{$p};
    }
    die "$method $path on $p: no answer";
}

sub put_manifest_to {
    my ($p, $repo, $ref, $body) = @_;
    my ($st, undef, $c) = raw($p, 'PUT', "/v2/$repo/manifests/$ref",
                              { 'Content-Type' => $MT }, $body);
    die "PUT manifest $p $ref: $st $c" unless $st == 201;
}

sub rel { my ($loc) = @_; $loc =~ s{^https?://[^/]+}{}; $loc }
sub with_digest { my ($loc, $d) = @_; $loc . ($loc =~ /\?/ ? '&' : '?') . "digest=$d" }

# POST + PUT with the whole blob: the monolithic upload every registry has
sub push_small {
    my ($p, $repo, $b) = @_;
    my $d = 'sha256:' . sha256_hex($b);
    my ($st, $h) = raw($p, 'POST', "/v2/$repo/blobs/uploads/");
    die "POST $p: $st" unless $st == 202;
    ($st) = raw($p, 'PUT', with_digest(rel($h->{location}), $d),
                { 'Content-Type' => 'application/octet-stream' }, $b);
    die "PUT blob $p: $st" unless $st == 201;
}

for my $t (qw(ours dist metrics)) {
    push_small($port{$t}, 'bench/app', $blob{$_}) for qw(cfg b1k b1m b64m);
    put_manifest_to($port{$t}, 'bench/app', 'bench', $manifest);
    put_manifest_to($port{$t}, 'bench/app', sprintf('t%04d', $_), $manifest)
        for 1 .. 999;
}

# BENCH_ONLY=push: only the push scenarios.  BENCH_ONLY=<regex>: only the
# pull scenarios whose name matches (e.g. "HEAD|tags"), ours and static,
# then the medians; "auth" compares manifest GET with and without auth,
# "metrics" with and without metrics (both run with either).
my $only = $ENV{BENCH_ONLY} // '';
my $only_push = $only eq 'push';

# 100000 tags, ours only (distribution would need minutes per thousand)
my $t0 = time;
put_manifest_to($port{ours}, 'bench/app', 'bench', $manifest);
push_small($port{ours}, 'bench/many', $blob{$_}) for qw(cfg b1k b1m b64m);
my $only_pulls = $only ne '' && !$only_push;
$only = 'manifest GET by tag c16' if $only eq 'auth' || $only eq 'metrics';
my $ntags = $only_push || ($only_pulls && 'tags/list 100 of 100000' !~ /$only/)
            ? 1 : 100_000;
put_manifest_to($port{ours}, 'bench/many', sprintf('t%06d', $_), $manifest)
    for 1 .. $ntags;
my $tag_push_rate = $ntags / (time - $t0);

# static: the same bytes at the same paths
my $root = "$tmp/static/root/v2/bench";
spew("$root/app/manifests/bench", $manifest);
spew("$root/app/manifests/$mdg", $manifest);
spew("$root/app/blobs/$dg{$_}", $blob{$_}) for keys %dg;
spew("$root/app/tags/list", $http->get("http://127.0.0.1:$port{ours}/v2/bench/app/tags/list?n=100")->{content});

# ---------------------------------------------------------------- runners

my %bearer;    # target => "Authorization" value

sub wrk {
    my ($url, $conns, $accept, $auth) = @_;
    my $hdr = $accept ? "-H 'Accept: $accept'" : '';
    $hdr .= " -H 'Authorization: $auth'" if $auth;
    my $o = run("wrk -t2 -c$conns -d${secs}s --latency $hdr '$url'");
    my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/;
    my ($tr, $unit) = $o =~ /Transfer\/sec:\s+([\d.]+)(\w+)/;
    my ($p99, $p99u) = $o =~ /\s99%\s+([\d.]+)(\w+)/;
    my ($non2xx) = $o =~ /Non-2xx or 3xx responses: (\d+)/;
    my ($errs) = $o =~ /Socket errors: (.*)/;
    die "wrk $url: $non2xx non-2xx responses\n$o" if $non2xx;
    my %mul = (B => 1 / 1048576, KB => 1 / 1024, MB => 1, GB => 1024);
    my %ms = (us => 0.001, ms => 1, s => 1000);
    return { rps => $rps, mibs => $tr * $mul{$unit}, p99 => $p99 * $ms{$p99u} };
}

sub ab_head {
    my ($url, $conns, $accept) = @_;
    my $n = 20000 * $secs / 5;
    my $hdr = $accept ? "-H 'Accept: $accept'" : '';
    my $o = run("ab -q -k -i -n $n -c $conns $hdr '$url'");
    my ($rps) = $o =~ /Requests per second:\s+([\d.]+)/;
    my ($failed) = $o =~ /Failed requests:\s+(\d+)/;
    my ($non2xx) = $o =~ /Non-2xx responses:\s+(\d+)/;
    die "ab $url: $failed failed, $non2xx non-2xx\n$o" if $failed || $non2xx;
    return { rps => $rps };
}

sub url { my ($t, $path) = @_; "http://127.0.0.1:$port{$t}$path" }

my %paths = (
    manifest_tag => '/v2/bench/app/manifests/bench',
    manifest_digest => "/v2/bench/app/manifests/$mdg",
    blob_1k => "/v2/bench/app/blobs/$dg{b1k}",
    blob_1m => "/v2/bench/app/blobs/$dg{b1m}",
    blob_64m => "/v2/bench/app/blobs/$dg{b64m}",
    tags_1000 => '/v2/bench/app/tags/list?n=100',
);

# scenario => [ runner, path key, connections, metric, targets ]
my @scenarios = (
    [ 'manifest GET by tag c16',  \&wrk,     'manifest_tag',    16, 'rps',  [qw(ours dist static)] ],
    [ 'manifest GET by tag c16, token auth', \&wrk, 'manifest_tag', 16, 'rps', [qw(auth)] ],
    [ 'manifest GET by tag c16, metrics and events on', \&wrk, 'manifest_tag', 16, 'rps', [qw(metrics)] ],
    [ 'manifest GET by tag c64',  \&wrk,     'manifest_tag',    64, 'rps',  [qw(ours dist static)] ],
    [ 'manifest HEAD by digest',  \&ab_head, 'manifest_digest', 16, 'rps',  [qw(ours dist static)] ],
    [ 'blob HEAD',                \&ab_head, 'blob_1m',         16, 'rps',  [qw(ours dist static)] ],
    [ 'blob GET 1 KiB',           \&wrk,     'blob_1k',         16, 'rps',  [qw(ours dist static)] ],
    [ 'blob GET 1 MiB',           \&wrk,     'blob_1m',         16, 'mibs', [qw(ours dist static)] ],
    [ 'blob GET 64 MiB',          \&wrk,     'blob_64m',        4,  'mibs', [qw(ours dist static)] ],
    [ 'tags/list 100 of 1000',    \&wrk,     'tags_1000',       16, 'rps',  [qw(ours dist static)] ],
    [ 'tags/list 100 of 100000',  \&wrk,     'tags_many',       16, 'rps',  [qw(ours)] ],
);
$paths{tags_many} = '/v2/bench/many/tags/list?n=100';

# a token from the auth server's endpoint, checked to be accepted
my $tok = $http->get(url('auth', '/token?service=bench&scope=repository:bench/app:pull'));
die "token endpoint: $tok->{status}\n$tok->{content}\n" unless $tok->{status} == 200;
$bearer{auth} = 'Bearer ' . decode_json($tok->{content})->{token};
my $chk = $http->get(url('auth', $paths{manifest_tag}), { headers => { Authorization => $bearer{auth} } });
die "auth server: $chk->{status}\n" unless $chk->{status} == 200;

@scenarios = map { [ @$_[0 .. 4], [ grep { $_ ne 'dist' } @{ $_->[5] } ] ] }
             grep { $_->[0] =~ /$only/ } @scenarios
    if $only_pulls;

my %res;    # scenario => target => [values]
for my $round ($only_push ? () : 1 .. $rounds) {
    for my $s (@scenarios) {
        my ($name, $fn, $pk, $c, $metric, $targets) = @$s;
        for my $t (@$targets) {
            my $accept = $pk =~ /^manifest/ && $t eq 'dist' ? $MT : undef;
            my $r = $fn->(url($t, $paths{$pk}), $c, $accept, $bearer{$t});
            # the auth and metrics servers are ours too: the ours column
            my $col = $t eq 'auth' || $t eq 'metrics' ? 'ours' : $t;
            push @{ $res{$name}{$col} }, $r->{$metric};
            push @{ $res{"$name p99 ms"}{$col} }, $r->{p99} if defined $r->{p99};
            printf STDERR "round %d %-26s %-6s %10.1f %s\n", $round, $name, $t,
                   $r->{$metric}, $metric;
        }
    }
}

if ($only_pulls) {
    for my $name (sort keys %res) {
        for my $t (sort keys %{ $res{$name} }) {
            my @v = sort { $a <=> $b } @{ $res{$name}{$t} };
            printf "%-40s %-7s %10.1f  (runs: %s)\n", $name, $t,
                   $v[$#v / 2], join(' ', @v);
        }
    }
    pause();
    exit 0;
}

# ---------------------------------------------------------------- pushes

# Large bodies go out with curl, the file already in the page cache, and
# curl's own time_total is what counts: forking this (large) Perl process
# for each curl costs tens of milliseconds that are not the registry's.
sub curl_timed {
    my ($method, $url, $file, @h) = @_;
    my $o = run("curl -s -D - -o /dev/null -w '\\n%{time_total}' -X $method -H 'Expect:' "
                . join(' ', map { "-H '$_'" } @h)
                . " --data-binary \@$file '$url'");
    my ($status) = $o =~ m{^HTTP/1\.1 (\d+)}m;
    my ($loc) = $o =~ /^Location: (\S+)/mi;
    my ($secs) = $o =~ /([\d.]+)\s*\z/;
    print STDERR "curl $method $secs\n" if $ENV{BENCH_DEBUG};
    return ($status, $secs, $loc);
}

sub timed_raw { my $t = time; my @r = raw(@_); return (time - $t, @r) }

sub push_mono_timed {
    my ($p, $repo, $file, $d) = @_;
    my ($t, $st, $h) = timed_raw($p, 'POST', "/v2/$repo/blobs/uploads/");
    die "POST $p: $st" unless $st == 202;
    my ($st2, $secs) = curl_timed('PUT', "http://127.0.0.1:$p"
                                  . with_digest(rel($h->{location}), $d),
                                  $file, 'Content-Type: application/octet-stream');
    die "PUT $p: $st2" unless $st2 == 201;
    return $t + $secs;
}

sub push_chunked_timed {
    my ($p, $repo, $file, $d, $size, $chunk) = @_;
    my ($total, $st, $h) = timed_raw($p, 'POST', "/v2/$repo/blobs/uploads/");
    my $loc = rel($h->{location});
    for (my $off = 0; $off < $size; $off += $chunk) {
        my ($st2, $secs, $next) = curl_timed('PATCH', "http://127.0.0.1:$p$loc",
            "$file.$off", 'Content-Type: application/octet-stream',
            "Content-Range: $off-" . ($off + $chunk - 1));
        die "PATCH $p: $st2" unless $st2 == 202;
        $total += $secs;
        $loc = rel($next);
    }
    my $t;
    ($t, $st) = timed_raw($p, 'PUT', with_digest($loc, $d));
    die "PUT $p: $st" unless $st == 201;
    return $total + $t;
}

# push targets: ours (durable), ours without fsync, distribution
my %push_repo = (ours => 'bench/push', nofsync => 'nofsync/push', dist => 'bench/push');
my %push_port = (ours => $port{ours}, nofsync => $port{ours}, dist => $port{dist});

# The write limit is measured in every round, right before the pushes and
# like them: a fresh 64 MiB file, from a flushed input file, into the same
# file system (dd conv=fdatasync), kept until the round ends.  On this VM
# writing into memory the kernel has not touched for a few seconds runs
# at a fraction of the speed of rewriting a file just freed (the host
# backs the guest's pages lazily), so the rewritten 1 GiB file measured
# below is the machine's best case, not what a push meets.
my @write_round;

for my $round (1 .. $rounds) {
    %sock = ();

    # the bodies are written and flushed first: their own writeback must
    # not compete with the pushes being measured
    my %dig;
    spew("$tmp/push.limit", bytes(64 << 20, "limit$round"));
    for my $t (qw(ours nofsync dist)) {
        my $b = bytes(64 << 20, "push$round$t");
        $dig{mono}{$t} = 'sha256:' . sha256_hex($b);
        spew("$tmp/push.$t", $b);
        $b = bytes(64 << 20, "chunk$round$t");
        $dig{chunk}{$t} = 'sha256:' . sha256_hex($b);
        spew("$tmp/chunk.$t.$_", substr($b, $_, 16 << 20))
            for map { $_ * (16 << 20) } 0 .. 3;
    }
    run('sync');

    my $dd = run("dd if=$tmp/push.limit of=$tmp/ours/storage/limit.bin bs=1M conv=fdatasync");
    my ($wb, $ws) = $dd =~ /(\d+) bytes .* copied, ([\d.]+) s/;
    push @write_round, $wb / 1048576 / $ws;

    for my $t (qw(ours nofsync dist)) {
        push @{ $res{'push 64 MiB monolithic'}{$t} },
             64 / push_mono_timed($push_port{$t}, $push_repo{$t}, "$tmp/push.$t",
                                  $dig{mono}{$t});
        push @{ $res{'push 64 MiB in 16 MiB chunks'}{$t} },
             64 / push_chunked_timed($push_port{$t}, $push_repo{$t}, "$tmp/chunk.$t",
                                     $dig{chunk}{$t}, 64 << 20, 16 << 20);
        my $n = 500;
        my @small = map { bytes(1024, "s$round$t$_") } 1 .. $n;
        my $t0 = time;
        push_small($push_port{$t}, $push_repo{$t}, $_) for @small;
        push @{ $res{'sequential 1 KiB pushes'}{$t} }, $n / (time - $t0);
    }

    # the same with wait=1: the upload's creation and its closing PUT
    # each wait for the replica (WAIT 1 over loopback TCP)
    my @waited = map { bytes(1024, "w$round$_") } 1 .. 500;
    my $tw = time;
    push_small($port{ours}, 'wait/push', $_) for @waited;
    push @{ $res{'sequential 1 KiB pushes, wait=1 (one replica)'}{ours} },
         500 / (time - $tw);

    # the same with metrics and events on: each push's event is appended
    # by its script and delivered to the sink meanwhile
    my @small = map { bytes(1024, "e$round$_") } 1 .. 500;
    my $t0 = time;
    push_small($port{metrics}, 'bench/evpush', $_) for @small;
    push @{ $res{'sequential 1 KiB pushes, metrics and events on'}{ours} },
         500 / (time - $t0);
    unlink glob "$tmp/push.* $tmp/chunk.* $tmp/ours/storage/limit.bin";
}

# ---------------------------------------------------------------- limits

my $sp = run('openssl speed -evp sha256 -bytes 16384 -seconds 2');
my ($sha_k) = $sp =~ /^sha256\s+.*\s([\d.]+)k\s*$/m;
my $sha_mibs = $sha_k * 1000 / 1048576;
run("dd if=/dev/zero of=$tmp/ours/storage/dd.bin bs=1M count=1024 conv=fdatasync");
my $dd = run("dd if=/dev/zero of=$tmp/ours/storage/dd.bin bs=1M count=1024 conv=fdatasync");
my ($wbytes, $wsecs) = $dd =~ /(\d+) bytes .* copied, ([\d.]+) s/;
my $write_mibs = $wbytes / 1048576 / $wsecs;
unlink "$tmp/ours/storage/dd.bin";
my $limit = 1 / (1 / $sha_mibs + 1 / $write_mibs);

# ---------------------------------------------------------------- RSS

# the largest of the workers' VmRSS (or, with "VmHWM", of their peaks)
sub worker_rss {
    my ($field) = @_;
    $field //= 'VmRSS';
    my @w = grep { (`cat /proc/$_/cmdline 2>/dev/null` // '') =~ /worker/ }
            split ' ', `pgrep -P $ours_pid`;
    my $max = 0;
    for (@w) { my ($kb) = slurp("/proc/$_/status") =~ /$field:\s+(\d+)/; $max = $kb if $kb > $max }
    return $max;
}
my $rss0 = worker_rss();
my $rss_max = $rss0;
my $big = 4 << 30;
my $pid = fork // die;
if (!$pid) {
    exec 'sh', '-c', "head -c $big /dev/zero | curl -s -o /dev/null -w '%{http_code}' "
        . "-X POST -H 'Expect:' -T - "
        . "'" . url('ours', '/v2/bench/big/blobs/uploads/?digest=sha256:'
                     . ('0' x 64)) . "' > $tmp/big.status 2> $tmp/big.err";
}
while (waitpid($pid, POSIX::WNOHANG()) == 0) {
    my $r = worker_rss();
    $rss_max = $r if $r > $rss_max;
    sleep 0.1;
}
my $big_status = slurp("$tmp/big.status") . slurp("$tmp/big.err");

# ---------------------------------------------------------------- Redis memory

sub redis_mem { my $o = run("redis-cli -p $port{redis} info memory");
                ($o =~ /used_memory:(\d+)/)[0] }
my $m0 = redis_mem();
put_manifest_to($port{ours}, 'bench/app', sprintf('extra%05d', $_), $manifest) for 1 .. 10000;
my $per_tag = (redis_mem() - $m0) / 10000;
$m0 = redis_mem();
for my $i (1 .. 1000) {
    my $m = $manifest; $m =~ s/}$/,"annotations":{"n":"$i"}}/;
    put_manifest_to($port{ours}, 'bench/app', sprintf('m%05d', $i), $m);
}
my $per_manifest = (redis_mem() - $m0) / 1000 - $per_tag;

# ---------------------------------------------------------------- lifecycle

# a preview over a repository of 10 000 images, each with its own tag:
# "keep the 10 newest t*" expires 9990, the biggest answer a policy gives
push_small($port{ours}, 'bench/lc', $blob{$_}) for qw(cfg b1k b1m b64m);
for my $i (1 .. 10000) {
    my $m = $manifest; $m =~ s/}$/,"annotations":{"lc":"$i"}}/;
    put_manifest_to($port{ours}, 'bench/lc', sprintf('t%05d', $i), $m);
}
my $policy = '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged",'
    . '"tagPatternList":["t*"],"countType":"imageCountMoreThan",'
    . '"countNumber":10},"action":{"type":"expire"}}]}';
my $lc_rss0 = worker_rss();
my $lc_hwm0 = worker_rss('VmHWM');
my (@lc_ms, $lc_bytes);
for (1 .. 5) {
    my $t0 = time;
    my ($st, undef, $c) = raw($port{ours}, 'POST', '/v2/bench/lc/_lifecycle/preview',
                              { 'Content-Type' => 'application/json' }, $policy);
    push @lc_ms, 1000 * (time - $t0);
    die "preview: $st" unless $st == 200;
    my ($n) = $c =~ /"expiringImageTotalCount":(\d+)/;
    die "preview expires $n, not 9990" unless ($n // 0) == 9990;
    $lc_bytes = length $c;
}
my $lc_rss1 = worker_rss();
my $lc_hwm1 = worker_rss('VmHWM');

# ---------------------------------------------------------------- report

sub median { my @v = sort { $a <=> $b } @_; @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2 }

open my $tsv, '>', "$out/results.tsv" or die;
print $tsv "scenario\tours\tdistribution\tstatic\tours_nofsync\n";
for my $name (sort keys %res) {
    print $tsv join("\t", $name, map { defined $res{$name}{$_} ? sprintf('%.1f', median(@{ $res{$name}{$_} })) : '' } qw(ours dist static nofsync)), "\n";
}
close $tsv;

my $v = sub { (`$_[0] 2>&1` =~ /(\d+\.\d+[.\d]*)/)[0] // '?' };
open my $info, '>', "$out/info.txt" or die;
printf $info "date\t%s\n", scalar localtime;
printf $info "cpu\t%s\n", (slurp('/proc/cpuinfo') =~ /model name\s*:\s*(.*)/)[0];
printf $info "cores\t%s\n", `nproc` =~ s/\s+//r;
printf $info "nginx\t%s\n", $v->('/usr/sbin/nginx -v');
printf $info "distribution\t%s\n", $v->('docker-registry --version');
printf $info "redis\t%s\n", $v->('redis-server --version');
printf $info "module to redis\t%s\n", $redis_addr =~ /^unix/ ? 'unix socket' : 'loopback TCP';
printf $info "wrk\t%s\n", $v->('wrk -v');
printf $info "rounds\t%d\nseconds\t%d\n", $rounds, $secs;
printf $info "sha256 MiB/s\t%.0f\nwrite MiB/s (1 GiB, rewritten)\t%.0f\nhash+write limit MiB/s (rewritten)\t%.0f\n",
       $sha_mibs, $write_mibs, $limit;
if (@write_round) {
    my @lim = map { 1 / (1 / $sha_mibs + 1 / $_) } @write_round;
    printf $info "write MiB/s per round (64 MiB, fresh file, before the pushes)\t%s\n",
           join(' ', map { sprintf '%.0f', $_ } @write_round);
    printf $info "hash+write limit MiB/s per round\t%s\n",
           join(' ', map { sprintf '%.0f', $_ } @lim);
    for my $name ('push 64 MiB monolithic', 'push 64 MiB in 16 MiB chunks') {
        for my $t (qw(ours nofsync dist)) {
            my $v = $res{$name}{$t} or next;
            my @r = map { $v->[$_] / $lim[$_] } 0 .. $#lim;
            printf $info "%s/limit of the round, %s\t%s (median %.0f%%)\n", $t, $name,
                   join(' ', map { sprintf '%.0f%%', 100 * $_ } @r), 100 * median(@r);
        }
    }
}
printf $info "worker RSS before 4 GiB upload KiB\t%d\nworker RSS max during KiB\t%d\n",
       $rss0, $rss_max;
printf $info "4 GiB upload status\t%s (digest deliberately wrong: nothing is stored)\n",
       $big_status;
printf $info "redis bytes per tag\t%.0f\nredis bytes per manifest\t%.0f\n",
       $per_tag, $per_manifest;
printf $info "tag pushes per second (100000 tags)\t%.0f\n", $tag_push_rate;
printf $info "lifecycle preview, 10000 images, 9990 expiring: ms per preview\t%s (median %.0f)\n",
       join(' ', map { sprintf '%.0f', $_ } @lc_ms), median(@lc_ms);
printf $info "lifecycle preview: answer bytes\t%d\n", $lc_bytes;
printf $info "lifecycle preview: worker RSS before and after the previews KiB\t%d %d\n",
       $lc_rss0, $lc_rss1;
printf $info "lifecycle preview: worker peak RSS (VmHWM) before and after KiB\t%d %d\n",
       $lc_hwm0, $lc_hwm1;

# the push scenarios round by round (ours, ours without fsync, distribution)
for my $name (grep { /push/ } sort keys %res) {
    printf $info "per round, %s\t%s\n", $name, join(' | ', map {
        my $t = $_; "$t " . join(' ', map { sprintf '%.0f', $_ } @{ $res{$name}{$t} || [] })
    } qw(ours nofsync dist));
}

# Each round measures ours right before static: the median of the
# per-round ratios is steadier than the ratio of medians on a busy VM.
for my $name (sort keys %res) {
    my ($o, $st) = ($res{$name}{ours}, $res{$name}{static});
    next unless $o && $st && @$o == @$st && $name !~ /p99/;
    my @r = map { $o->[$_] / $st->[$_] } 0 .. $#$o;
    printf $info "ours/static per round, %s\t%s (median %.0f%%)\n", $name,
           join(' ', map { sprintf '%.0f%%', 100 * $_ } @r), 100 * median(@r);
}
close $info;

print slurp("$out/results.tsv"), "\n", slurp("$out/info.txt");

pause();

# BENCH_PAUSE=N keeps the targets up N seconds for manual probing
sub pause {
    my $pause = $ENV{BENCH_PAUSE} or return;
    print STDERR "targets up for $pause s: ours $port{ours}, distribution $port{dist}, "
               . "static $port{static}, auth $port{auth}, redis $port{redis}\n";
    STDERR->flush;
    sleep $pause;
}
