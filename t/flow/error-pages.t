# An operator's own error_page for 400, 413 or 500 in the registry
# location must not crash a worker: the internal redirect clears the
# module's context, and an upload's pool cleanup once read it from there
# (signal 11 with every request in flight).  A bad chunk in a chunked
# POST and PATCH, and a chunked push over client_max_body_size, each
# answered through the operator's page, then the same worker answers on.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 start_upload raw_request);

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(registry_config(extra => <<'EOC'));
            client_max_body_size 4k;
            error_page 400 413 500 /oci-error.json;
        }
        location = /oci-error.json {
            internal;
            default_type application/json;
            return 200 '{"errors":[{"code":"UNKNOWN","message":"see the operators page","detail":null}]}';
EOC
$t->start;
my @workers = $t->worker_pids;
is(scalar @workers, 1, 'one worker');

my $port = $t->port;
my $d = sha256('x' x 10);

sub alive {
    my ($what) = @_;
    my $r = $t->http->get($t->url('/v2/'));
    is($r->{status}, 200, "$what: the registry still answers");
    is_deeply([$t->worker_pids], \@workers, "$what: by the same worker");
    unlike($t->error_log, qr/exited on signal/, "$what: no worker died");
}

my ($status, $h, $body) = raw_request($t,
    "POST /v2/ep/app/blobs/uploads/?digest=$d HTTP/1.1\r\nHost: x\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n");
is($status, 400, 'a bad chunk in a monolithic POST: 400');
like($body, qr/operators page/, "  through the operator's error page");
alive('after the POST');

my $loc = start_upload($t, 'ep/app');
ok($loc, 'an upload started');
($status, $h, $body) = raw_request($t,
    "PATCH $loc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: close\r\n\r\n5\r\nabcde\r\nzz\r\n");
is($status, 400, 'a bad chunk in a PATCH: 400');
alive('after the PATCH');

# the lock the PATCH held was released by the cleanup: a retry may write
($status, $h) = raw_request($t,
    "PATCH $loc HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    . "Content-Range: 0-4\r\nConnection: close\r\n\r\nabcde");
is($status, 202, 'the PATCH retried at once: 202 (its lock was released)');

my $big = 'y' x 5000;
($status, $h, $body) = raw_request($t,
    'POST /v2/ep/app/blobs/uploads/?digest=' . sha256($big) . " HTTP/1.1\r\n"
    . "Host: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big));
is($status, 413, 'a chunked push over client_max_body_size: 413');
alive('after the 413');

done_testing;
