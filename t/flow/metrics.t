# Metrics as an operator reads them: every worker's requests in one
# answer, exact counts, pulls and pushes per repository under a cap, the
# gauges a crashed worker must not leave behind, Redis's failures and
# reconnects, counters that survive a reload, the verifier's decisions,
# and a real Prometheus server scraping it all (Debian's prometheus and
# promtool).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest
                         half_sent);
use OciTest::Auth qw(auth_setup auth_config token_for);
use OciTest::Images qw(have);

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(registry_config(
    workers => 2,
    redis_args => 'timeout=500ms',
    http_extra => "oci_registry_metrics_repositories 2;\n"
                . "log_format pids '\$pid \$request';",
    extra => 'access_log %%TESTDIR%%/logs/pids.log pids;',
    server_extra => 'location = /metrics { oci_registry_metrics; }'));
$t->start;

# the exposition as { 'name{labels}' => value }
sub scrape {
    my ($srv) = @_;
    my $r = HTTP::Tiny->new(keep_alive => 0)->get(($srv // $t)->url('/metrics'));
    die "GET /metrics: $r->{status}" unless $r->{status} == 200;
    my %m = map { /^(\S+) (\S+)$/ ? ($1 => $2) : () }
            grep { !/^#/ } split /\n/, $r->{content};
    return \%m;
}

# a counter may be written a moment after its response is read
sub wait_metric {
    my ($key, $want, $srv) = @_;
    my $v;
    for (1 .. 100) {
        $v = scrape($srv)->{$key} // 'absent';
        return $v if $v eq $want;
        sleep 0.05;
    }
    return $v;
}

my $base = 'oci_registry_http_requests_total{family="base",method="GET",status="2xx"}';

# --- the format, with and without samples

SKIP: {
    skip 'promtool (Debian prometheus) is not installed', 2 unless have('promtool');
    my $text = HTTP::Tiny->new->get($t->url('/metrics'))->{content};
    open my $p, '|-', 'promtool check metrics >/dev/null 2>&1' or die;
    print $p $text;
    close $p;
    is($?, 0, 'promtool check metrics: a fresh registry\'s exposition');
    ok(!defined scrape()->{$base}, 'no request yet: no sample for it');
}

# --- every worker's requests, counted once

my $n = 200;
my $ok = 0;
for (1 .. $n) {
    $ok++ if HTTP::Tiny->new(keep_alive => 0)->get($t->url('/v2/'))->{status} == 200;
}
is($ok, $n, "$n requests over new connections");
is(wait_metric($base, $n), $n, 'the counter says exactly that many');
open my $pl, '<', $t->dir . '/logs/pids.log' or die;
my %pids = map { /^(\d+) GET \/v2\/ / ? ($1 => 1) : () } <$pl>;
close $pl;
is(scalar keys %pids, 2, 'and both workers served some of them');

my $m = scrape();
is($m->{'oci_registry_http_request_duration_seconds_count{family="base"}'}, $n,
   'the duration histogram counts them');
is($m->{'oci_registry_http_request_duration_seconds_bucket{family="base",le="+Inf"}'}, $n,
   '  its +Inf bucket is the count');
ok($m->{'oci_registry_http_received_bytes_total{family="base"}'} >= $n * 20,
   'bytes received are counted');
ok($m->{'oci_registry_http_sent_bytes_total{family="base"}'} >= $n * 100,
   'bytes sent are counted');
is($m->{oci_registry_workers}, 2, 'two workers count');
is($m->{'oci_registry_redis_connections{redis="127.0.0.1:' . $redis->port . '"}'}, 2,
   'both connected to Redis');

# --- pulls and pushes per repository, two series at most

my $cfg = '{}';
my $layer = 'a layer of bytes';
my $OCI_M = 'application/vnd.oci.image.manifest.v1+json';
my $image = qq!{"schemaVersion":2,"mediaType":"$OCI_M",!
    . qq!"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"!
    . sha256($cfg) . qq!","size":2},"layers":[{"mediaType":!
    . qq!"application/vnd.oci.image.layer.v1.tar","digest":"! . sha256($layer)
    . qq!","size":! . length($layer) . '}]}';

for my $repo (qw(first/app second/app third/app)) {
    push_blob($t, $repo, $_) for $cfg, $layer;
    is(put_manifest($t, $repo, 'v1', $image)->{status}, 201, "pushed $repo");
}
my $pull = sub {
    $t->http->get($t->url("/v2/$_[0]/manifests/v1"),
                  { headers => { Accept => $OCI_M } })->{status};
};
is($pull->('first/app'), 200, 'pulled first/app') for 1 .. 2;
is($pull->('third/app'), 200, 'pulled third/app');
is($t->http->head($t->url('/v2/first/app/manifests/v1'))->{status}, 200,
   'a HEAD is no pull');

my $pulls = 'oci_registry_repository_pulls_total';
my $pushes = 'oci_registry_repository_pushes_total';
is(wait_metric(qq!$pulls\{repository="_other"}!, 1), 1,
   'the third repository\'s pull counts as _other');
$m = scrape();
is($m->{qq!$pushes\{repository="first/app"}!}, 1, 'first/app: one push');
is($m->{qq!$pushes\{repository="second/app"}!}, 1, 'second/app: one push');
is($m->{qq!$pushes\{repository="_other"}!}, 1, 'third/app: past the cap of 2, _other');
ok(!exists $m->{qq!$pushes\{repository="third/app"}!}, '  with no series of its own');
is($m->{qq!$pulls\{repository="first/app"}!}, 2, 'first/app: two pulls');
is($m->{qq!$pulls\{repository="second/app"}!}, 0, 'second/app: none');

# --- uploads in flight, and a worker that dies with one

my $blob = 'u' x 200_000;
my $finish = half_sent($t, 'POST /v2/first/app/blobs/uploads/?digest=' . sha256($blob), $blob);
is(wait_metric('oci_registry_uploads_in_flight', 1), 1,
   'a push whose body is arriving: one upload in flight');
is(($finish->())[0], 201, 'it completes');
is(wait_metric('oci_registry_uploads_in_flight', 0), 0, '  and is not in flight any more');

my $before = scrape()->{$base};
$finish = half_sent($t, 'POST /v2/first/app/blobs/uploads/?digest=' . sha256($blob . 'x'),
                    $blob . 'x');
is(wait_metric('oci_registry_uploads_in_flight', 1), 1, 'another one in flight');
my @old = $t->worker_pids;
kill 'KILL', @old;
$t->allow_log(qr/exited on signal 9/);
my @new;
for (1 .. 100) {
    @new = grep { my $p = $_; !grep { $_ == $p } @old } $t->worker_pids;
    last if @new == 2;
    sleep 0.05;
}
is(scalar @new, 2, 'both workers killed with -9 and started again');
is(wait_metric('oci_registry_uploads_in_flight', 0), 0,
   'the dead worker\'s upload is not in flight');
is(wait_metric('oci_registry_workers', 2), 2, 'two workers count, not four');
is(scrape()->{$base}, $before, 'the counters survived the crash');
$finish->();

# --- Redis: a stall, an outage, the reconnect

my $rs = '{redis="127.0.0.1:' . $redis->port . '"';
is(wait_metric("oci_registry_redis_connections$rs}", 2), 2, 'the new workers connected');
$m = scrape();
my %err0 = map { $_ => $m->{"oci_registry_redis_errors_total$rs,kind=\"$_\"}"} }
           qw(timeout lost unavailable);
my $rec0 = $m->{"oci_registry_redis_reconnects_total$rs}"};
ok($m->{"oci_registry_redis_command_duration_seconds_count$rs}"} > 0,
   'Redis command latencies are recorded');

kill 'STOP', $redis->pid;
is($pull->('first/app'), 503, 'Redis stalled: a pull gets 503 after the timeout');
kill 'CONT', $redis->pid;
$m = scrape();
is($m->{"oci_registry_redis_errors_total$rs,kind=\"timeout\"}"}, $err0{timeout} + 1,
   'one timeout');
ok($m->{"oci_registry_redis_errors_total$rs,kind=\"lost\"}"} > $err0{lost},
   'the command in flight was lost with the dropped connection');
is(wait_metric("oci_registry_redis_connections$rs}", 2), 2, 'both connected again');
ok(scrape()->{"oci_registry_redis_reconnects_total$rs}"} > $rec0, 'after a reconnect');

$redis->stop;
is(wait_metric("oci_registry_redis_connections$rs}", 0), 0, 'Redis stopped: no connection');
is($pull->('first/app'), 503, 'a pull gets 503');
ok(scrape()->{"oci_registry_redis_errors_total$rs,kind=\"unavailable\"}"} > $err0{unavailable},
   'counted as unavailable');
$redis->start_again;
is(wait_metric("oci_registry_redis_connections$rs}", 2), 2, 'Redis back: connected again');

# --- a reload keeps the counters

$before = scrape()->{$base};
$t->reload;
is(scrape()->{$base}, $before, 'a reload keeps the counters');
is(wait_metric('oci_registry_workers', 2), 2, 'the old workers\' slots are given back');

# --- a real Prometheus scrapes it

SKIP: {
    skip 'prometheus (Debian prometheus) is not installed', 4 unless have('prometheus');
    my $pport = OciTest::Nginx::free_port();
    mkdir "$tmp/prom";
    open my $pc, '>', "$tmp/prom/prometheus.yml" or die;
    print $pc "global:\n  scrape_interval: 1s\n"
            . "scrape_configs:\n  - job_name: oci\n    static_configs:\n"
            . "      - targets: ['127.0.0.1:" . $t->port . "']\n";
    close $pc;
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$tmp/prom/log"; open STDERR, '>&', \*STDOUT;
        exec 'prometheus', "--config.file=$tmp/prom/prometheus.yml",
             "--storage.tsdb.path=$tmp/prom/data",
             "--web.listen-address=127.0.0.1:$pport" or exit 127;
    }
    my $q = sub {
        my $r = HTTP::Tiny->new->get("http://127.0.0.1:$pport/api/v1/query?query=$_[0]");
        return undef unless $r->{success};
        my $res = decode_json($r->{content})->{data}{result};
        return @$res ? $res->[0]{value}[1] : undef;
    };
    my $up;
    for (1 .. 300) { $up = $q->('up{job="oci"}'); last if defined $up && $up == 1; sleep 0.1 }
    is($up, 1, 'Prometheus scrapes /metrics (up == 1)');

    my $sel = 'oci_registry_http_requests_total{family="base",method="GET",status="2xx"}';
    my $now = scrape()->{$base};
    my $seen;
    for (1 .. 100) { $seen = $q->($sel); last if defined $seen && $seen == $now; sleep 0.1 }
    is($seen, $now, 'and reads the counter as it is');
    HTTP::Tiny->new->get($t->url('/v2/')) for 1 .. 10;
    for (1 .. 100) { $seen = $q->($sel); last if defined $seen && $seen == $now + 10; sleep 0.1 }
    is($seen, $now + 10, 'ten more requests: it moved by ten');
    my $sum = $q->('sum(oci_registry_http_request_duration_seconds_count)');
    ok(defined $sum && $sum > $now, 'histograms are queryable');
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# --- the token verifier's decisions

my $keys = auth_setup("$tmp/auth");
mkdir "$tmp/astorage";
my $a = OciTest::Nginx->new();
$a->set(STORAGE => "$tmp/astorage", REDIS => $redis->port, AUTH => $keys);
$a->write_config(auth_config(
    server_extra => 'location = /metrics { oci_registry_metrics; }'));
$a->start;

my $dec = sub { scrape($a)->{qq!oci_registry_auth_decisions_total{decision="$_[0]"}!} };
my %d0 = map { $_ => $dec->($_) } qw(allowed denied challenged);
my $ah = $a->http;
is($ah->get($a->url('/v2/'))->{status}, 401, 'no token: 401');
my $demo = token_for($a, 'demo', 'repository:demo/app:pull,push');
is($ah->get($a->url('/v2/'), { headers => { Authorization => "Bearer $demo" } })->{status},
   200, 'a token: 200');
my $reader = token_for($a, 'reader', 'repository:demo/app:pull,push');
is($ah->request('POST', $a->url('/v2/demo/app/blobs/uploads/'),
                { headers => { Authorization => "Bearer $reader" } })->{status},
   403, 'a reader\'s push: 403');
is($dec->('challenged'), $d0{challenged} + 1, 'one challenged');
is($dec->('allowed'), $d0{allowed} + 1, 'one allowed');
is($dec->('denied'), $d0{denied} + 1, 'one denied');
is(scrape($a)->{'oci_registry_http_requests_total{family="uploads",method="POST",status="4xx"}'},
   1, 'the refused push is counted under its endpoint, 4xx');

$a->stop;
$t->stop;
$t->check_logs;
done_testing;
