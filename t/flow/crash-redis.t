# kill -9 of redis-server (AOF with appendfsync always, as conf/redis.conf
# ships it) during manifest pushes: after Redis restarts, every tag and
# manifest that was acknowledged is there.  While it is down: 503 with the
# OCI body and no worker crash; after it returns, requests succeed within
# a second, without reloading nginx.

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

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start(
    args => [ '--appendonly', 'yes', '--appendfsync', 'always' ]);
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
mkdir "$tmp/storage";
$t->write_config(registry_config(workers => 2));
$t->start;
my $http = $t->http;
my @workers = $t->worker_pids;

my $cfg = '{}';
is(push_blob($t, 'rc/app', $cfg)->{status}, 201, 'config blob');

sub manifest { '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    . sha256($cfg) . '","size":2},"layers":[],"annotations":{"n":"' . $_[0] . '"}}' }

# four pushers tag manifests as fast as they can and log what was acked
my @kids;
for my $p (1 .. 4) {
    my $pid = fork // die;
    if (!$pid) {
        open my $log, '>', "$tmp/acked.$p" or POSIX::_exit(1);
        $log->autoflush(1);
        my $deadline = time + 2.5;
        my $n = 0;
        while (time < $deadline) {
            my $tag = "p$p-" . $n++;
            my $r = put_manifest($t, 'rc/app', $tag, manifest($tag));
            print $log "$tag " . sha256(manifest($tag)) . "\n" if $r->{status} == 201;
        }
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sleep 0.8;
$redis->kill9;
note 'redis-server killed';
sleep 0.3;

my $r = $http->get($t->url('/v2/rc/app/tags/list'));
is($r->{status}, 503, 'Redis down: 503');
is(decode_json($r->{content})->{errors}[0]{code}, 'UNAVAILABLE', 'UNAVAILABLE');

$redis->start_again;
my $back = time;

my $ok;
while (time - $back < 3) {
    $ok = $http->get($t->url('/v2/rc/app/tags/list'))->{status} == 200 and last;
    sleep 0.02;
}
my $took = time - $back;
ok($ok, 'requests succeed again after Redis restarts');
cmp_ok($took, '<', 1.5, 'within about a second (the reconnect backoff is 1 s at most)');

waitpid $_, 0 for @kids;

my @acked = map { split /\n/, do { local (@ARGV, $/) = $_; <> } } glob "$tmp/acked.*";
cmp_ok(scalar @acked, '>', 10, scalar(@acked) . ' pushes acknowledged in all');

my $lost = 0;
for my $line (@acked) {
    my ($tag, $d) = split / /, $line;
    $r = $http->get($t->url("/v2/rc/app/manifests/$tag"));
    $lost++ unless $r->{status} == 200 && $r->{headers}{'docker-content-digest'} eq $d;
}
is($lost, 0, 'every acknowledged tag survived the Redis crash');

is_deeply([ sort $t->worker_pids ], [ sort @workers ], 'no worker crashed');

$t->stop;
$t->allow_log(qr/oci registry: redis .* (connection lost|connect failed|is not connected|unavailable|timed out)/);
$t->check_logs;
done_testing();
