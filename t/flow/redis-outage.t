# Redis goes away and comes back: requests that need it answer 503 with
# the OCI error body while it is down, no worker crashes, and they succeed
# again on their own once it is back, without reloading nginx.  A Redis
# that stops answering (SIGSTOP) is treated the same after the timeout.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use OciTest::Nginx;
use OciTest::Redis;

my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();

$t->set(PRIVATE_REDIS => $redis->port);
$t->write_config(<<'EOF');
%%GLOBALS%%
master_process on;
worker_processes 2;
events { worker_connections 64; }
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v2/ {
            oci_registry;
            oci_registry_redis 127.0.0.1:%%PRIVATE_REDIS%% timeout=500ms;
        }
    }
}
EOF
$t->start;

my $http = $t->http;
my $url = $t->url('/v2/outage/app/tags/list');

sub wait_for_status {
    my ($want, $seconds) = @_;
    my $deadline = time + $seconds;
    my $r;
    while (time < $deadline) {
        $r = $http->get($url);
        return $r if $r->{status} == $want;
        sleep 0.05;
    }
    return $r;
}

$redis->cmd('ZADD', 'oci:{outage/app}:tags', 0, 'v1');

my $r = wait_for_status(200, 5);
is($r->{status}, 200, 'tags list served while Redis is up');
is_deeply(decode_json($r->{content}), { name => 'outage/app', tags => ['v1'] },
          'body lists the tag');

my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two workers running');

$redis->stop;

for my $i (1 .. 6) {
    $r = $http->get($url);
    is($r->{status}, 503, "request $i while Redis is down: 503");
}
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON error');
is_deeply(decode_json($r->{content}),
          { errors => [ { code => 'UNAVAILABLE',
                          message => 'service unavailable',
                          detail => undef } ] },
          'OCI error body with code UNAVAILABLE');

is($http->get($t->url('/v2/'))->{status}, 200,
   'GET /v2/ still answers without Redis');

$redis->start_again;
my $back = time;
$redis->cmd('ZADD', 'oci:{outage/app}:tags', 0, 'v2');

# both workers must reconnect: ask several times so each one answers
my $ok = 0;
my $deadline = time + 3;
while (time < $deadline && $ok < 10) {
    $r = $http->get($url);
    $ok = $r->{status} == 200 ? $ok + 1 : 0;
    sleep 0.02 unless $ok;
}
is($ok, 10, 'ten requests in a row succeed after Redis is back');
cmp_ok(time - $back, '<', 2.5, 'recovered within the reconnect backoff');
# the private Redis keeps nothing across restarts: only v2 is there now
is_deeply(decode_json($r->{content})->{tags}, ['v2'],
          'served from the restarted Redis');

# a Redis that hangs: commands time out, then the connection recovers
kill 'STOP', $redis->pid;
my $t0 = time;
$r = $http->get($url);
is($r->{status}, 503, 'hung Redis: 503');
cmp_ok(time - $t0, '<', 2, 'answered after the 500ms command timeout');
kill 'CONT', $redis->pid;

$r = wait_for_status(200, 3);
is($r->{status}, 200, 'requests succeed again once Redis answers');

is_deeply([ sort $t->worker_pids ], [ sort @workers ],
          'the same workers served throughout: none crashed');

$t->stop;
$redis->stop;

$t->allow_log(qr/oci registry: redis .* (connection lost|connect failed|is not connected|unavailable|timed out)/);
$t->check_logs;

unlike($t->error_log, qr/exited on signal/,
       'no worker died on a signal');

done_testing();
