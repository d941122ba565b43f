# Redis Sentinel: a master, two replicas and three sentinels from
# Debian's redis-server and redis-sentinel.  nginx finds the master
# through the sentinels (one of the listed ones is down), follows the
# failover after kill -9 of the master without a reload, and with wait=1
# every push that got its 201 is there afterwards.  wait=3 with two
# replicas answers 503; with no sentinel and no master, 503 at once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest);

plan skip_all => 'redis-sentinel not installed (Debian package redis-sentinel)'
    unless OciTest::Redis::sentinel_available();

my $tmp = tempdir(CLEANUP => 1);

sub wait_for {
    my ($what, $secs, $cond) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $ok = eval { $cond->() };
        return 1 if $ok;
        sleep 0.05;
    }
    diag("timed out waiting for $what");
    return 0;
}

# --- the Redis deployment ------------------------------------------------

my $master = OciTest::Redis->start;
my @replicas = map {
    OciTest::Redis->start(args => [ '--replicaof', '127.0.0.1', $master->port ])
} 1 .. 2;

ok(wait_for('two replicas in sync', 10, sub {
    my $info = $master->cmd('INFO', 'replication');
    my @online = $info =~ /^slave\d+:.*state=online/mg;
    @online == 2;
}), 'master with two replicas in sync');

my @sentinels = map {
    OciTest::Redis->start(sentinel => join '', map { "$_\n" }
        'sentinel monitor m 127.0.0.1 ' . $master->port . ' 2',
        'sentinel down-after-milliseconds m 1000',
        'sentinel failover-timeout m 10000',
        'sentinel parallel-syncs m 2')
} 1 .. 3;

ok(wait_for('the sentinels to find each other and the replicas', 20, sub {
    for my $s (@sentinels) {
        return 0 unless @{ $s->cmd(qw(SENTINEL sentinels m)) } == 2
                     && @{ $s->cmd(qw(SENTINEL replicas m)) } == 2;
    }
    1;
}), 'three sentinels that know each other and both replicas');

my $dead = OciTest::Nginx::free_port();
my $where = join ' ', (map { 'sentinel=127.0.0.1:' . $_->port } @sentinels),
                      "sentinel=127.0.0.1:$dead", 'master=m';

mkdir "$tmp/storage";

my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage");
$t->write_config(registry_config(workers => 2,
                                 redis => "$where wait=1 wait_timeout=1s"));
$t->start;
my $http = $t->http;
my @workers = $t->worker_pids;

sub manifest {
    my ($cfg, $n) = @_;
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    . sha256($cfg) . '","size":' . length($cfg) . '},"layers":[],'
    . '"annotations":{"n":"' . $n . '"}}'
}

# a push through the master the sentinels name
my $r;
ok(wait_for('the first push', 5, sub {
    push_blob($t, 'ha/app', '{"a":0}')->{status} == 201
}), 'blob pushed through the master the sentinels named');
# both workers: a worker takes requests once its sentinel has answered
ok(wait_for('the first manifest', 5, sub {
    put_manifest($t, 'ha/app', 'first',
                 manifest('{"a":0}', 'first'))->{status} == 201
}), 'manifest pushed (wait=1: a replica has it)');

# --- wait=3 with two replicas: no acknowledgement --------------------------

my $t3 = OciTest::Nginx->new();
$t3->set(STORAGE => "$tmp/storage");
$t3->write_config(registry_config(
    redis => "$where wait=3 wait_timeout=200ms"));
$t3->start;
$r = push_blob($t3, 'ha/three', '{"three":1}');
is($r->{status}, 503, 'wait=3 with two replicas: the push is not acknowledged');
is(eval { decode_json($r->{content})->{errors}[0]{code} }, 'UNAVAILABLE',
   'with the OCI error body');
is($t3->http->get($t3->url('/v2/ha/app/manifests/first'))->{status}, 200,
   'reads do not wait');
my ($said) = grep { /replicas acknowledged/ } split /\n/, $t3->error_log;
like($said // '', qr/\b2 of 3 replicas acknowledged the write within 200 ms/,
     'the log says how many replicas had it');
# a burst of writes that no replica count can satisfy: one WAIT at a time
# answers for all the writes before it, so the reads behind the WAITs
# wait for one or two of them, not for twenty
my @burst;
for my $i (1 .. 20) {
    my $pid = fork // die;
    if (!$pid) {
        my $res = push_blob($t3, 'ha/three', qq({"burst":$i}));
        POSIX::_exit($res->{status} == 503 ? 0 : 1);
    }
    push @burst, $pid;
}
my $reads_ok = 0;
for (1 .. 10) {
    $reads_ok++ if $t3->http->get($t3->url('/v2/ha/app/manifests/first'))
                      ->{status} == 200;
}
my $bad = 0;
for (@burst) { waitpid $_, 0; $bad++ if $? }
is($bad, 0, 'twenty concurrent pushes with wait=3: each answered 503');
is($reads_ok, 10, 'the reads sent meanwhile on the same connection: 200');
my $said3 = () = $t3->error_log =~ /replicas acknowledged the write/g;
cmp_ok($said3, '>=', 21, "each unacknowledged write logged ($said3)");
unlike($t3->error_log, qr/redis "m" timed out/,
       'no command timed out behind the WAITs');
$t3->allow_log(qr/replicas acknowledged/);
$t3->check_logs;

# --- kill -9 of the master under eight pushers ----------------------------

# $n processes push a blob and a manifest in a loop until $stop exists,
# logging "<time> <status> <tag> <manifest digest> <blob digest>"
my $stop = "$tmp/stop";

sub pushers {
    my ($n, $logs, $prefix) = @_;
    my @pids;
    for my $p (1 .. $n) {
        my $pid = fork // die;
        if (!$pid) {
            open my $log, '>', "$logs.$p" or POSIX::_exit(1);
            $log->autoflush(1);
            my $i = 0;
            while (!-e $stop) {
                my $name = "$prefix$p-" . $i++;
                my $cfg = qq({"pusher":"$name"});
                my $m = manifest($cfg, $name);
                my $res = push_blob($t, 'ha/app', $cfg);
                $res = put_manifest($t, 'ha/app', $name, $m)
                    if $res->{status} == 201;
                printf $log "%.3f %d %s %s %s\n", time, $res->{status},
                    $name, sha256($m), sha256($cfg);
            }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return @pids;
}

my @kids = pushers(8, "$tmp/acked", 'p');

sleep 1.5;
my $old = $master->port;
$master->kill9;
my $killed = time;
note 'master killed';

my $moved = wait_for('a push after the failover', 30, sub {
    for my $f (glob "$tmp/acked.*") {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($at, $status) = split / /;
            return 1 if $at > $killed + 0.2 && $status == 201;
        }
    }
    0;
});
ok($moved, 'pushes succeed again after the failover, without a reload');
sleep 1;
open my $touch, '>', $stop or die;
close $touch;
waitpid $_, 0 for @kids;

my $addr = $sentinels[0]->cmd(qw(SENTINEL get-master-addr-by-name m));
isnt($addr->[1], $old, 'the sentinels promoted a replica');

my (@acked, $first_after, $failed);
for my $f (glob "$tmp/acked.*") {
    open my $fh, '<', $f or die;
    while (<$fh>) {
        chomp;
        my ($at, $status, $tag, $d, $cfg) = split / /;
        if ($status == 201) {
            push @acked, [ $tag, $d, $cfg ];
            $first_after = $at if $at > $killed
                && (!defined $first_after || $at < $first_after);
        } else {
            $failed++;
        }
    }
}
cmp_ok(scalar @acked, '>', 20, scalar(@acked) . ' pushes acknowledged in all');
note(sprintf 'first acknowledged push %.2f s after the kill; %d pushes '
     . 'failed meanwhile (503, the clients retry)',
     $first_after - $killed, $failed // 0) if defined $first_after;

my $lost = 0;
for my $a (@acked) {
    my ($tag, $d, $cfg) = @$a;
    $r = $http->get($t->url("/v2/ha/app/manifests/$tag"));
    my $blob = $http->request('HEAD', $t->url("/v2/ha/app/blobs/$cfg"));
    next if $r->{status} == 200 && $r->{headers}{'docker-content-digest'} eq $d
            && $blob->{status} == 200;
    $lost++;
    diag("lost $tag: manifest $r->{status}, blob $blob->{status}");
}
is($lost, 0, 'every push acknowledged with wait=1 survived the failover');
is($http->get($t->url('/v2/ha/app/manifests/first'))->{status}, 200,
   'and the one from before');

is_deeply([ sort $t->worker_pids ], [ sort @workers ], 'no worker crashed');

# --- a reload, then a second failover with the sentinel of some workers
# frozen (SIGSTOP): they give up on it after connect_timeout + timeout and
# ask the next one ---------------------------------------------------------

$t->reload;
ok(wait_for('a push after the reload', 5, sub {
    put_manifest($t, 'ha/app', 'reloaded',
                 manifest('{"a":0}', 'reloaded'))->{status} == 201
}), 'a reload asks the sentinels afresh');

# the old master comes back; the sentinels make it a replica of the new one
$master->start_again;
my $now_master = (grep { $_->port == $addr->[1] } @replicas)[0];
ok(wait_for('the old master as a replica', 30, sub {
    my @online = $now_master->cmd('INFO', 'replication')
        =~ /^slave\d+:.*state=online/mg;
    @online == 2;
}), 'the old master rejoined as a replica: two replicas again');

# the sentinel with most of our subscriptions (clients of +switch-master)
my ($frozen) = sort { $b->[1] <=> $a->[1] } map {
    my $list = $_->cmd('CLIENT', 'LIST');
    [ $_, scalar(() = $list =~ /\bsub=1\b/g) ];
} @sentinels;
cmp_ok($frozen->[1], '>=', 1, "a sentinel has $frozen->[1] of our links");
kill 'STOP', $frozen->[0]->pid;

unlink $stop;
my @kids2 = pushers(4, "$tmp/acked2", 'q');
sleep 1;
$now_master->kill9;
my $killed2 = time;
note 'the new master killed too';
ok(wait_for('a push after the second failover', 40, sub {
    for my $f (glob "$tmp/acked2.*") {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($at, $status) = split / /;
            return 1 if $at > $killed2 + 0.2 && $status == 201;
        }
    }
    0;
}), 'pushes succeed again after a failover with a sentinel frozen');
sleep 1;
open $touch, '>', $stop or die;
close $touch;
waitpid $_, 0 for @kids2;

# the workers linked to the frozen sentinel moved on too: twenty requests
# in a row succeed, and the log shows the give-up
ok(wait_for('every worker to serve', 20, sub {
    for (1 .. 20) {
        return 0 unless $http->get($t->url('/v2/ha/app/tags/list'))->{status} == 200;
    }
    1;
}), 'every worker serves again, the frozen sentinel\'s too');
like(join("\n", grep { /sentinel did not answer/ } split /\n/, $t->error_log),
     qr/sentinel did not answer/, 'after giving up on the frozen sentinel');
kill 'CONT', $frozen->[0]->pid;

my @acked2;
for my $f (glob "$tmp/acked2.*") {
    open my $fh, '<', $f or die;
    while (<$fh>) {
        my ($at, $status, $tag, $d, $cfg) = split / /;
        chomp $cfg;
        push @acked2, [ $tag, $d, $cfg, $at ] if $status == 201;
    }
}
my ($first2) = sort { $a <=> $b } grep { $_ > $killed2 } map { $_->[3] } @acked2;
note(sprintf 'first acknowledged push %.2f s after the second kill',
     $first2 - $killed2) if defined $first2;
$lost = 0;
for my $a (@acked2) {
    my ($tag, $d) = @$a;
    $r = $http->get($t->url("/v2/ha/app/manifests/$tag"));
    $lost++ unless $r->{status} == 200
                   && $r->{headers}{'docker-content-digest'} eq $d;
}
is($lost, 0, scalar(@acked2) . ' acknowledged pushes, none lost');

# --- no sentinel, no master: 503 at once -----------------------------------

$_->kill9 for @sentinels;
$_->kill9 for $master, @replicas;
ok(wait_for('503', 10, sub {
    $http->get($t->url('/v2/ha/app/tags/list'))->{status} == 503
}), 'with no master and no sentinel: 503');
$r = $http->get($t->url('/v2/ha/app/tags/list'));
is(eval { decode_json($r->{content})->{errors}[0]{code} }, 'UNAVAILABLE',
   'with the OCI error body');

$t->allow_log(qr/oci registry: redis .* (connection lost|connect failed|connect to .* failed|is not connected|unavailable|timed out|sentinel|replica)/);
$t->check_logs;
done_testing();
