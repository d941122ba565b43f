# Signed upload ids: the POST that starts an upload answers without Redis
# (the id carries its issue time and a MAC under <storage>/upload-id.key),
# the first request that writes makes the state, and the id still behaves
# as the spec asks: unknown, finished, cancelled, expired, forged or
# borrowed from another repository, it gets 404.  Nodes sharing the
# storage root share the key.  Without a usable key, uploads start as
# before, with their state in Redis.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Digest::SHA qw(sha512_hex);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_redis registry_config sha256 start_upload);

my $redis = registry_redis();
my $storage = tempdir(CLEANUP => 1);

sub instance {
    my (%o) = @_;
    my $t = OciTest::Nginx->new();
    $t->set(STORAGE => $storage, REDIS => $redis->port);
    $t->write_config(registry_config(workers => 2, %o));
    $t->start;
    return $t;
}

my $t = instance();
my $http = $t->http;

sub state_of { my ($repo, $id) = @_; $redis->cmd('EXISTS', "oci:{$repo}:upload:$id") }
sub id_of { (split m{/}, $_[0])[-1] }
sub put { my ($t, $loc, $b, $d) = @_;
          $t->http->request('PUT', $t->url("$loc?digest=" . ($d // sha256($b))),
                            { content => $b }) }

my $key = "$storage/upload-id.key";
ok(-f $key, 'the key file was made in the storage root');
is(-s $key, 32, '32 bytes');
is((stat $key)[2] & 0777, 0600, 'readable by its owner only');

# --- a POST makes no state; the id works all the same

my $loc = start_upload($t, 'ids/app');
like($loc, qr{^/v2/ids/app/blobs/uploads/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$},
     'POST: 202 with a version 4 UUID');
is(state_of('ids/app', id_of($loc)), 0, 'and no upload state in Redis');
my $r = $http->get($t->url($loc));
is($r->{status}, 204, 'status of the fresh upload: 204');
is($r->{headers}{range}, '0-0', 'at 0-0');

my $b = join '', map { chr(($_ * 13) % 251) } 1 .. 70_000;
$r = $http->request('PATCH', $t->url($loc),
                    { content => substr($b, 0, 40_000),
                      headers => { 'Content-Range' => '0-39999',
                                   'Content-Type' => 'application/octet-stream' } });
is($r->{status}, 202, 'the first chunk: 202');
is(state_of('ids/app', id_of($loc)), 1, 'the chunk made the state');
$r = put($t, $r->{headers}{location}, substr($b, 40_000), sha256($b));
is($r->{status}, 201, 'closing PUT: 201');
is($http->get($t->url("/v2/ids/app/blobs/" . sha256($b)))->{content}, $b, 'the blob is whole');

# --- a finished upload is over

is($http->get($t->url($loc))->{status}, 404, 'status after the PUT: 404');
$r = put($t, $loc, 'again');
is($r->{status}, 404, 'a second PUT on the finished upload: 404');
like($r->{content}, qr/BLOB_UPLOAD_UNKNOWN/, 'BLOB_UPLOAD_UNKNOWN');

# the same through the eager PUT (a small blob whole, no chunk before)
$loc = start_upload($t, 'ids/app');
is(put($t, $loc, 'small blob')->{status}, 201, 'POST then PUT of a small blob: 201');
is(put($t, $loc, 'small blob')->{status}, 404, 'the same PUT again: 404');
$r = $http->request('PATCH', $t->url($loc), { content => 'x',
    headers => { 'Content-Type' => 'application/octet-stream' } });
is($r->{status}, 404, 'a PATCH on it: 404');

# a wrong digest ends the upload too
$loc = start_upload($t, 'ids/app');
is(put($t, $loc, 'bytes', sha256('other bytes'))->{status}, 400, 'PUT with a wrong digest: 400');
is(put($t, $loc, 'bytes')->{status}, 404, 'then the right one: 404, the upload is over');

# --- cancelled

$loc = start_upload($t, 'ids/app');
is($http->request('DELETE', $t->url($loc))->{status}, 204, 'DELETE of a fresh upload: 204');
is($http->get($t->url($loc))->{status}, 404, 'then its status: 404');
is(put($t, $loc, 'late')->{status}, 404, 'and a PUT: 404');
is($http->request('DELETE', $t->url($loc))->{status}, 404, 'a second DELETE: 404');

# --- forged, borrowed and unsigned ids

$loc = start_upload($t, 'ids/app');
(my $forged = $loc) =~ s/([0-9a-f])$/$1 eq '0' ? '1' : '0'/e;
is($http->get($t->url($forged))->{status}, 404, 'an id with one MAC digit changed: 404');
is(put($t, $forged, 'forged')->{status}, 404, 'PUT on it: 404');
is($http->request('PATCH', $t->url($forged), { content => 'x',
    headers => { 'Content-Type' => 'application/octet-stream' } })->{status}, 404,
   'PATCH on it: 404');
(my $borrowed = $loc) =~ s{/ids/app/}{/ids/other/};
is($http->get($t->url($borrowed))->{status}, 404, 'a valid id on another repository: 404');
is(put($t, $borrowed, 'borrowed')->{status}, 404, 'PUT there: 404');
is($http->get($t->url('/v2/ids/app/blobs/uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'))->{status},
   404, 'a UUID we never issued: 404');
is($http->get($t->url($loc))->{status}, 204, 'the genuine one still works');

# --- sha512 uploads record their algorithm in Redis at the POST

$loc = start_upload($t, 'ids/app', '?digest-algorithm=sha512');
is(state_of('ids/app', id_of($loc)), 1, 'a sha512 upload has its state at once');
is(put($t, $loc, 'five', 'sha512:' . sha512_hex('five'))->{status}, 201, 'and completes');

# --- a second node sharing the storage root takes the first node's ids

$loc = start_upload($t, 'ids/app');
my $t2 = instance();
is(put($t2, $loc, 'from the other node')->{status}, 201,
   'an id from node 1 completed on node 2: 201');
$t2->check_logs;
$t2->stop;

$t->check_logs;
$t->stop;

# --- an id expires when nobody wrote to it within the upload TTL

my $t3 = instance(extra => 'oci_registry_upload_ttl 2s;');
$loc = start_upload($t3, 'ids/app');
is($t3->http->get($t3->url($loc))->{status}, 204, 'short TTL: fresh at first');
sleep 3;
is($t3->http->get($t3->url($loc))->{status}, 404, 'after the TTL with no chunk: 404');
is(put($t3, $loc, 'too late')->{status}, 404, 'and a PUT: 404');
$t3->check_logs;
$t3->stop;

# --- without a usable key: random ids, state in Redis from the POST

open my $f, '>', $key or die;
print $f 'short';
close $f;
my $t4 = instance();
$t4->allow_log(qr/not a 32-byte key/);
$loc = start_upload($t4, 'ids/app');
is(state_of('ids/app', id_of($loc)), 1, 'a broken key file: the POST records the upload in Redis');
is(put($t4, $loc, 'classic')->{status}, 201, 'which completes as before');
like($t4->error_log, qr/not a 32-byte key, upload ids are not signed/,
     'the log says why');
$t4->check_logs;
$t4->stop;

done_testing();
