# oci_registry_lifecycle_interval: the policies in force applied in the
# background by two nodes sharing Redis and storage.  Every image the
# policy expires goes, once (one delete event each, one log line in one of
# the nodes), and the pass records when the next is due.  A lease left by
# a process that was killed (-9) is taken over at once, and the pass goes
# on from its cursor.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use POSIX ();
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_redis registry_config sha256 push_blob
                         put_manifest);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $redis = registry_redis();

open my $pf, '>', "$tmp/keep2.json" or die;
print $pf '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any",'
        . '"countType":"imageCountMoreThan","countNumber":2},'
        . '"action":{"type":"expire"}}]}';
close $pf;

my @nodes = map {
    my $n = OciTest::Nginx->new();
    $n->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
    $n->write_config(registry_config(workers => 2,
        server_extra => 'location = /metrics { oci_registry_metrics; }',
        extra =>
        "oci_registry_lifecycle_policy sched/* $tmp/keep2.json;\n"
        . "oci_registry_lifecycle_interval 8s;\n"
        . "oci_registry_events on;"));
    $n;
} 1 .. 2;

my $t = $nodes[0];
my $now = time;
my %digest;

sub image {
    my ($repo, $name, $age) = @_;
    my $cfg = qq({"image":"$repo $name"});
    push_blob($t, $repo, $cfg)->{status} == 201 or die "blob $name";
    my $m = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
        . sha256($cfg) . '","size":' . length($cfg) . '},"layers":[]}';
    put_manifest($t, $repo, $name, $m)->{status} == 201 or die "manifest $name";
    my $d = sha256($m);
    my $at = int($now - $age * 86400);
    $redis->cmd('HSET', "oci:{$repo}:m:$d", 'pushed', $at);
    $redis->cmd('ZADD', "oci:{$repo}:manifests", $at, $d);
    $digest{"$repo/$name"} = $d;
}

sub tags {
    my ($repo) = @_;
    my $r = $t->http->get($t->url("/v2/$repo/tags/list"));
    return [] unless $r->{status} == 200;
    return [ sort @{ decode_json($r->{content})->{tags} // [] } ];
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.2;
    }
    return 0;
}

# the images first, with nginx stopped, so no pass sees half of them
$t->start;
for my $repo (qw(sched/a sched/b sched/c)) {
    image($repo, "v$_", 10 - $_) for 1 .. 5;
}
image('other/app', "v$_", 10 - $_) for 1 .. 5;
$t->stop;

# a lease left by a holder of this host that is gone, and a pass half
# done: the next pass starts at sched/b
chomp(my $boot = do { local (@ARGV, $/) = '/proc/sys/kernel/random/boot_id'; <> });
my ($ns) = readlink('/proc/self/ns/pid') =~ /\[(\d+)\]/;
my $gone = fork // die;
POSIX::_exit(0) unless $gone;
waitpid $gone, 0;
$redis->cmd('SET', 'oci:lifecycle:lease', "$boot.$ns:$gone:lifecycle", 'PX', 600000);
$redis->cmd('HSET', 'oci:lifecycle:pass', 'cursor', 'sched/a');

$_->start for @nodes;
my $started = time;

ok(wait_for(30, sub {
    join(',', map { @{ tags($_) } } qw(sched/b sched/c)) eq 'v4,v5,v4,v5'
}), 'sched/b and sched/c keep their two newest images');
cmp_ok(time - $started, '<', 30,
       'the lease of the killed holder was taken (it had ten minutes left)');
is_deeply(tags('sched/a'), [ map { "v$_" } 1 .. 5 ],
          'sched/a, before the cursor, waits for the next pass');
ok(wait_for(30, sub { join(',', @{ tags('sched/a') }) eq 'v4,v5' }),
   'which expires its old images too');
is_deeply(tags('other/app'), [ map { "v$_" } 1 .. 5 ],
          'no policy matches other/app: nothing expires');

my $pass = $redis->cmd('HGETALL', 'oci:lifecycle:pass');
my %pass = @$pass;
cmp_ok($pass{next} // 0, '>=', int($started), 'the pass set when the next is due');

# once each: one delete event per expired manifest, one log line
my %events;
for my $e (@{ $redis->cmd('XRANGE', 'oci:events', '-', '+') }) {
    my %f = @{ $e->[1] };
    next unless $f{a} eq 'delete';
    $events{ $f{d} }++;
    is(eval { decode_json("{$f{q}}")->{actor}{name} }, 'lifecycle',
       "the event of $f{r}\@$f{d} names the lifecycle as actor") if $f{d} eq $digest{'sched/a/v1'};
}
my @expired = map { my $r = $_; map { $digest{"$r/v$_"} } 1 .. 3 } qw(sched/a sched/b sched/c);
is_deeply([ sort keys %events ], [ sort @expired ], 'a delete event for each expired image');
is_deeply([ grep { $_ != 1 } values %events ], [], 'and only one');

my $lines = 0;
$lines += () = $_->error_log =~ /lifecycle expired .* on schedule/g for @nodes;
is($lines, 9, 'nine expiries logged, over both nodes');

# the metrics of both nodes: nine images, four repositories a pass
my %sum;
for my $n (@nodes) {
    for (split /\n/, $n->http->get($n->url('/metrics'))->{content}) {
        $sum{$1} += $2
            if /^(oci_registry_lifecycle_\w+\{trigger="schedule"\}) (\d+)$/;
    }
}
is($sum{'oci_registry_lifecycle_expired_images_total{trigger="schedule"}'}, 9,
   'the metrics count nine expired images, over both nodes');
cmp_ok($sum{'oci_registry_lifecycle_repositories_total{trigger="schedule"}'},
       '>=', 5, 'and the repositories with a policy done (two in the first pass, three in the next)');

$_->allow_log(qr/lifecycle/) for @nodes;
done_testing();
