# Uploads racing each other and Redis: a DELETE of an upload while its
# closing PUT is still arriving (the PUT gets 404 BLOB_UPLOAD_UNKNOWN, not
# a 500 from the rename that no longer finds the file); a chunk whose
# lock was taken in Redis while its reply was lost to a timeout (the lock
# is released once Redis is back, so the client's retry is not 416 for
# the lock's five minutes).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes qw(sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 start_upload half_sent);

my $tmp = tempdir(CLEANUP => 1);
my $storage = "$tmp/storage";
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config());
$t->start;
my $http = $t->http;

sub bytes_of { my ($seed, $n) = @_; substr(join('', map { sha256("$seed.$_") } 1 .. $n / 71 + 1), 0, $n) }
sub code_of { my $b = eval { decode_json($_[0]) }; $b ? $b->{errors}[0]{code} : '' }

# --- a closing PUT after earlier chunks (the named upload file)

my $blob = bytes_of('del', 300_000);
my $loc = start_upload($t, 'race/app');
my $r = $http->request('PATCH', $t->url($loc),
    { content => substr($blob, 0, 1000),
      headers => { 'Content-Range' => '0-999' } });
is($r->{status}, 202, 'a first chunk: 202');
my $finish = half_sent($t, "PUT $loc?digest=" . sha256($blob), substr($blob, 1000));
$r = $http->request('DELETE', $t->url($loc));
is($r->{status}, 204, 'DELETE of the upload while its closing PUT arrives: 204');
my ($st, $body) = $finish->();
is($st, 404, 'the closing PUT then: 404');
is(code_of($body), 'BLOB_UPLOAD_UNKNOWN', '  BLOB_UPLOAD_UNKNOWN');
is($http->get($t->url('/v2/race/app/blobs/' . sha256($blob)))->{status}, 404,
   'the blob is not in the repository');

# --- a closing PUT with the whole blob at offset 0 (a spare file)

is($http->request('POST', $t->url('/v2/race/app/blobs/uploads/?digest=' . sha256('warm')),
                  { content => 'warm' })->{status}, 201,
   'a monolithic push (the worker makes its spare files)');
sleep 0.5;
$blob = bytes_of('del0', 200_000);
$loc = start_upload($t, 'race/app');
$finish = half_sent($t, "PUT $loc?digest=" . sha256($blob), $blob);
$r = $http->request('DELETE', $t->url($loc));
is($r->{status}, 204, 'DELETE while a whole-blob PUT arrives: 204');
($st, $body) = $finish->();
is($st, 404, 'that PUT then: 404');
is(code_of($body), 'BLOB_UPLOAD_UNKNOWN', '  BLOB_UPLOAD_UNKNOWN');
is($http->get($t->url('/v2/race/app/blobs/' . sha256($blob)))->{status}, 404,
   'the blob is not in the repository');

# --- a lock set by a script whose reply was lost in a Redis timeout

{
    my $t2 = OciTest::Nginx->new();
    $t2->set(STORAGE => $storage, REDIS => $redis->port);
    $t2->write_config(registry_config(redis_args => 'timeout=500ms'));
    $t2->start;
    $t2->allow_log(qr/redis .* timed out/);
    my $h2 = $t2->http;

    my $loc = start_upload($t2, 'race/lost');
    my $id = (split m{/}, $loc)[-1];
    kill 'STOP', $redis->pid;
    my $r = $h2->request('PATCH', $t2->url($loc),
        { content => 'abcdefghij', headers => { 'Content-Range' => '0-9' } });
    is($r->{status}, 503, 'a chunk while Redis hangs: 503 after the timeout');
    kill 'CONT', $redis->pid;

    # the lock script was in Redis's buffer: it ran when Redis woke up
    my $st = 503;
    for (1 .. 50) {
        $st = $h2->get($t2->url('/v2/race/lost/tags/list'))->{status};
        last if $st != 503;
        sleep 0.1;
    }
    is($st, 404, 'Redis is back (tags/list answers again)');
    sleep 0.2;
    is($redis->cmd('EXISTS', "oci:{race/lost}:upload:$id:lock"), 0,
       'the lock the lost reply took has been released');
    $r = $h2->request('PATCH', $t2->url($loc),
        { content => 'abcdefghij', headers => { 'Content-Range' => '0-9' } });
    is($r->{status}, 202, 'the client\'s retry of the chunk: 202');
}

done_testing;
