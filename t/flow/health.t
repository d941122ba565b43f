# Liveness and readiness as a load balancer or a Kubernetes probe sees
# them: ready while Redis answers and the storage root takes files with
# room to spare; not ready, saying why, while Redis is stalled or down,
# or the file system is full or read-only; ready again after.  Liveness
# does not depend on either.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(sha256 push_blob);

my $tmp = tempdir(CLEANUP => 1);
my $storage = "$tmp/storage";
mkdir $storage;

# a small file system of its own, as root; else the temp dir's
my $small = 0;
if ($> == 0
    && system('mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', $storage) == 0)
{
    $small = 1;
}
END { system('umount', $storage) if $small }

my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);

# the documented set-up: Redis and storage at server level, shared by the
# registry and its readiness check; the check in the thread pool
$t->write_config(<<'EOF');
%%GLOBALS%%
master_process on;
worker_processes 1;
events { worker_connections 64; }
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;
        oci_registry_storage %%STORAGE%%;
        oci_registry_redis 127.0.0.1:%%REDIS%% timeout=3s;
        oci_registry_thread_pool default;
        oci_registry_ready_timeout 300ms;
        oci_registry_ready_min_free 4m;

        location /v2/ { oci_registry; }
        location = /healthz { oci_registry_live; }
        location = /readyz { oci_registry_ready; }
    }
}
EOF
$t->start;
$t->allow_log(qr/oci registry: not ready|redis .* (?:timed out|connection lost|connect failed|is not connected|unavailable)/);

my $http = HTTP::Tiny->new(timeout => 10);
sub ready { my $r = $http->get($t->url('/readyz')); ($r->{status}, eval { decode_json($r->{content}) }) }
sub live { $http->get($t->url('/healthz'))->{status} }

# polls until /readyz answers $want; returns the last (status, body)
sub ready_becomes {
    my ($want) = @_;
    my ($st, $b);
    for (1 .. 200) {
        ($st, $b) = ready();
        last if $st == $want;
        sleep 0.05;
    }
    return ($st, $b);
}

my ($st, $b) = ready_becomes(200);
is($st, 200, 'ready: 200');
is($b->{status}, 'ready', '  "status":"ready"');
is($b->{checks}{redis}{status}, 'ok', '  Redis ok');
is($b->{checks}{storage}{status}, 'ok', '  storage ok');
ok($b->{checks}{storage}{free_bytes} > 4 * 1024 * 1024, '  with its free bytes');
is(live(), 200, 'live: 200');

# --- Redis stalled: not ready within the bound, alive all the same

kill 'STOP', $redis->pid;
($st, $b) = ready();
is($st, 503, 'Redis stalled: 503');
is($b->{checks}{redis}{error}, 'no reply within oci_registry_ready_timeout',
   '  the redis check says it did not answer in time');
ok($b->{checks}{redis}{ms} >= 300 && $b->{checks}{redis}{ms} < 3000,
   '  after the readiness bound, not the command timeout');
is($b->{checks}{storage}{status}, 'ok', '  the storage check is still ok');
is(live(), 200, 'live: still 200');
kill 'CONT', $redis->pid;
($st) = ready_becomes(200);
is($st, 200, 'Redis answers again: ready');

# --- Redis down, then back

$redis->stop;
($st, $b) = ready_becomes(503);
is($st, 503, 'Redis stopped: 503');
like($b->{checks}{redis}{error}, qr/^(?:not connected|no reply)/, '  the redis check says why');
is(live(), 200, 'live: 200');
$redis->start_again;
($st) = ready_becomes(200);
is($st, 200, 'Redis started again: ready again (reconnected)');

# --- the storage: full, then read-only

SKIP: {
    skip 'a small file system needs root and tmpfs', 8 unless $small;

    my $big = 'f' x (5 * 1024 * 1024);
    is(push_blob($t, 'full/app', $big)->{status}, 201, 'a 5 MiB blob fills most of the 8 MiB');
    ($st, $b) = ready();
    is($st, 503, 'less than oci_registry_ready_min_free (4m) left: 503');
    is($b->{checks}{storage}{error}, 'free space below oci_registry_ready_min_free',
       '  the storage check says why');
    is($b->{checks}{redis}{status}, 'ok', '  Redis is fine');

    my $hex = substr(sha256($big), 7);
    my ($file) = glob("$storage/blobs/sha256/*/$hex"), glob("$storage/blobs/sha256/$hex");
    ok($file && unlink($file), 'the blob file removed by hand');
    ($st) = ready();
    is($st, 200, 'room again: ready');

    # the workers hold spare files open for writing: a file system that
    # turned read-only is seen at the next start
    $t->stop;
    system('mount', '-o', 'remount,ro', $storage) == 0 or die 'remount ro';
    $t->start;
    ($st, $b) = ready();
    is($st, 503, 'a read-only file system: 503');
    like($b->{checks}{storage}{error}, qr/^open\(O_TMPFILE\): Read-only file system/,
         '  the storage check names the failed call and the error');
    $t->stop;
    system('mount', '-o', 'remount,rw', $storage) == 0 or die 'remount rw';
    $t->start;
}

($st) = ready_becomes(200);
is($st, 200, 'ready at the end');

$t->stop;
$t->check_logs;
done_testing;
