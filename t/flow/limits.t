# Resource limits are nginx's own: concurrent uploads per repository with
# limit_conn keyed by the repository name, answered with the OCI error
# body through error_page, exactly as docs/reliability.md shows.  And
# ours: the uploads a repository may have in progress in Redis
# (oci_registry_uploads_max), however slowly their clients go.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(start_upload registry_config);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(<<'EOF');
%%GLOBALS%%
master_process off;
events { worker_connections 256; }
http {
    %%HTTP_GLOBALS%%

    # the repository of an upload request; empty (no limit) otherwise
    map $request_method:$uri $oci_upload_repo {
        "~^(POST|PATCH|PUT):/v2/(?<repo>.+)/blobs/uploads/" $repo;
        default "";
    }
    limit_conn_zone $oci_upload_repo zone=oci_uploads:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;

        location /v2/ {
            oci_registry;
            oci_registry_storage %%STORAGE%%;
            oci_registry_redis 127.0.0.1:%%REDIS%%;

            limit_conn oci_uploads 2;
            limit_conn_status 429;
            error_page 429 = @oci_too_many;
        }

        location @oci_too_many {
            default_type application/json;
            add_header Retry-After 1 always;
            return 429 '{"errors":[{"code":"TOOMANYREQUESTS","message":"too many concurrent uploads","detail":null}]}';
        }
    }
}
EOF
$t->start;

my @locs = map { start_upload($t, 'lim/app') } 1 .. 3;
ok($locs[2], 'starting sessions is not limited');

# two uploads in flight in lim/app (bodies announced, not yet sent)
my @held;
for my $loc (@locs[0, 1]) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die;
    print $s "PATCH $loc HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12";
    push @held, $s;
}
sleep 0.2;

my $r = $t->http->request('PATCH', $t->url($locs[2]), { content => 'abc' });
is($r->{status}, 429, 'a third concurrent upload to the repository: 429');
is(decode_json($r->{content})->{errors}[0]{code}, 'TOOMANYREQUESTS',
   'with the OCI error body');
is($r->{headers}{'retry-after'}, '1', 'and Retry-After');

my $other = start_upload($t, 'lim/other');
$r = $t->http->request('PATCH', $t->url($other), { content => 'abc' });
is($r->{status}, 202, 'another repository is not affected');

is($t->http->get($t->url('/v2/'))->{status}, 200, 'pulls are not limited');

print $_ "34567890" for @held;
for my $s (@held) { my $l = <$s>; like($l, qr{^HTTP/1.1 202}, 'held upload completes') }
close $_ for @held;

$r = $t->http->request('PATCH', $t->url($locs[2]), { content => 'abc' });
is($r->{status}, 202, 'once they are done, the third goes through');

$t->stop;
$t->check_logs;

# --- uploads in progress per repository, in Redis

my $t2 = OciTest::Nginx->new();
$t2->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t2->write_config(registry_config(extra => 'oci_registry_uploads_max 3;'));
$t2->start;
my $h = $t2->http;

sub chunk { $h->request('PATCH', $t2->url($_[0]),
                        { content => 'x', headers => { 'Content-Range' => '0-0' } }) }

my @up = map { start_upload($t2, 'lim/state') } 1 .. 4;
is(scalar(grep { chunk($_)->{status} == 202 } @up[0 .. 2]), 3,
   'three uploads of a repository in progress: 202 each');
$r = chunk($up[3]);
is($r->{status}, 429, 'a fourth one\'s first chunk: 429');
is(eval { decode_json($r->{content})->{errors}[0]{code} }, 'TOOMANYREQUESTS',
   '  TOOMANYREQUESTS');
ok($r->{headers}{'retry-after'}, '  with Retry-After');
$r = $h->request('POST', $t2->url('/v2/lim/state/blobs/uploads/?digest-algorithm=sha512'));
is($r->{status}, 429, 'a sha512 POST (state in Redis at once): 429 too');
is(chunk(start_upload($t2, 'lim/else'))->{status}, 202,
   'another repository is not affected');
is($h->request('DELETE', $t2->url($up[0]))->{status}, 204, 'one upload cancelled');
is(chunk($up[3])->{status}, 202, 'then the fourth goes through');
is($h->request('PUT', $t2->url("$up[1]?digest=sha256:" . ('0' x 64)))->{status}, 400,
   'one closed with a wrong digest (dropped)');
is(chunk(start_upload($t2, 'lim/state'))->{status}, 202, 'and another has room');

done_testing();
