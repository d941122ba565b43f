# Chunked uploads end to end: Location -> PATCH (Content-Range) -> PUT,
# out-of-order and lying chunks, streamed (chunked transfer-encoding)
# PATCH, digest mismatch, cancel, sha512, cross-repo mount, one writer at
# a time, and an upload continued by a second nginx sharing Redis and the
# storage root.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Digest::SHA qw(sha512_hex);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob start_upload);

my $redis = OciTest::Redis->start();
my $storage = tempdir(CLEANUP => 1);

sub instance {
    my $t = OciTest::Nginx->new();
    $t->set(STORAGE => $storage, REDIS => $redis->port);
    $t->write_config(registry_config(workers => 2, aio => 1));
    $t->start;
    return $t;
}

my $t = instance();
my $http = $t->http;

sub uploads_left { opendir(my $d, "$storage/_uploads") or return -1;
                   scalar grep { !/^\./ } readdir $d }

sub patch {
    my ($loc, $bytes, $range, %h) = @_;
    my %headers = ('Content-Type' => 'application/octet-stream', %h);
    $headers{'Content-Range'} = $range if defined $range;
    return $http->request('PATCH', $t->url($loc),
                          { content => $bytes, headers => \%headers });
}

my $blob = join '', map { chr(($_ * 7 + 3) % 256) } 1 .. 300_000;
my $d = sha256($blob);

# --- a blob in three chunks

my $loc = start_upload($t, 'flow/app');
like($loc, qr{^/v2/flow/app/blobs/uploads/[0-9a-f-]{36}$}, 'session Location');

my $r = patch($loc, substr($blob, 0, 100_000), '0-99999');
is($r->{status}, 202, 'first chunk: 202');
is($r->{headers}{range}, '0-99999', 'Range covers the first chunk');
$loc = $r->{headers}{location};

$r = $http->get($t->url($loc));
is($r->{status}, 204, 'status: 204');
is($r->{headers}{range}, '0-99999', 'status reports the offset');
is($r->{headers}{'docker-upload-uuid'}, (split m{/}, $loc)[-1], 'upload UUID');

$r = patch($loc, substr($blob, 0, 1000), '0-999');
is($r->{status}, 416, 'a chunk that does not start at the offset: 416');
is($r->{headers}{range}, '0-99999', '416 tells where the upload stands');

$r = patch($loc, substr($blob, 100_000, 10), '100000-100019');
is($r->{status}, 416, 'Content-Range longer than Content-Length: 416');

$r = patch($loc, substr($blob, 100_000, 100_000), '100000-199999');
is($r->{status}, 202, 'second chunk');
is($r->{headers}{range}, '0-199999', 'offset advanced');

$r = $http->request('PUT', $t->url("$loc?digest=$d"),
                    { content => substr($blob, 200_000),
                      headers => { 'Content-Range' => '200000-299999' } });
is($r->{status}, 201, 'closing PUT with the last chunk: 201');
is($r->{headers}{location}, "/v2/flow/app/blobs/$d", 'blob Location');
is($r->{headers}{'docker-content-digest'}, $d, 'Docker-Content-Digest');

$r = $http->get($t->url("/v2/flow/app/blobs/$d"));
ok($r->{content} eq $blob, 'the blob reads back byte for byte');
is(uploads_left(), 0, 'no upload file left behind');
is($http->get($t->url($loc))->{status}, 404, 'the finished upload is gone');

# --- a chunk whose body is longer than its Content-Range (chunked TE)

$loc = start_upload($t, 'flow/app');
my @pieces = (substr($blob, 0, 500), substr($blob, 500, 600));
$r = $http->request('PATCH', $t->url($loc),
    { headers => { 'Content-Range' => '0-499' },
      content => sub { shift @pieces } });
is($r->{status}, 416, 'more bytes than Content-Range announced: 416');
$r = $http->get($t->url($loc));
is($r->{headers}{range}, '0-0', 'the lying chunk was not recorded');

# --- streamed PATCH without Content-Range (docker, containerd)

@pieces = map { substr($blob, $_ * 30_000, 30_000) } 0 .. 9;
$r = $http->request('PATCH', $t->url($loc),
                    { content => sub { shift @pieces } });
is($r->{status}, 202, 'streamed chunked PATCH: 202');
is($r->{headers}{range}, '0-299999', 'the whole stream was taken');
$r = $http->request('PUT', $t->url("$r->{headers}{location}?digest=$d"));
is($r->{status}, 201, 'closing PUT without body: 201 (blob exists already)');

# --- a wrong digest stores nothing and ends the upload

$loc = start_upload($t, 'flow/app');
$r = patch($loc, 'some bytes', '0-9');
is($r->{status}, 202, 'chunk');
my $wrong = sha256('other bytes');
$r = $http->request('PUT', $t->url("$loc?digest=$wrong"));
is($r->{status}, 400, 'digest mismatch: 400');
like($r->{content}, qr/"code":"DIGEST_INVALID"/, 'DIGEST_INVALID');
is($http->get($t->url("/v2/flow/app/blobs/$wrong"))->{status}, 404,
   'nothing stored under the claimed digest');
is($http->get($t->url($loc))->{status}, 404, 'the upload is gone');
is(uploads_left(), 0, 'its file is gone');

# --- cancel

$loc = start_upload($t, 'flow/app');
patch($loc, 'abc', '0-2');
$r = $http->request('DELETE', $t->url($loc));
is($r->{status}, 204, 'cancel: 204');
is(patch($loc, 'def', '3-5')->{status}, 404, 'PATCH after cancel: 404');
is(uploads_left(), 0, 'cancelled upload file removed');

# --- sha512

$loc = start_upload($t, 'flow/app', '?digest-algorithm=sha512');
ok($loc, 'sha512 session');
$r = patch($loc, substr($blob, 0, 5000), '0-4999');
my $d512 = 'sha512:' . sha512_hex(substr($blob, 0, 5000));
$r = $http->request('PUT', $t->url("$r->{headers}{location}?digest=$d512"));
is($r->{status}, 201, 'sha512 upload closes with a sha512 digest');
is($http->get($t->url("/v2/flow/app/blobs/$d512"))->{status}, 200,
   'sha512 blob served');

# --- cross-repository mount

$r = $http->request('POST',
                    $t->url("/v2/flow/copy/blobs/uploads/?mount=$d&from=flow%2Fapp"));
is($r->{status}, 201, 'mount from a repository that has the blob: 201');
is($r->{headers}{location}, "/v2/flow/copy/blobs/$d", 'mounted Location');
ok($http->get($t->url("/v2/flow/copy/blobs/$d"))->{content} eq $blob,
   'the mounted blob is served from the new repository');

$r = $http->request('POST',
                    $t->url("/v2/flow/copy/blobs/uploads/?mount=$wrong&from=flow/app"));
is($r->{status}, 202, 'mount of a blob "from" lacks: an upload session instead');
$r = $http->request('POST',
                    $t->url("/v2/flow/third/blobs/uploads/?mount=$d"));
is($r->{status}, 202, 'mount without "from": an upload session');

# --- one writer at a time: a slow chunk holds the upload

$loc = start_upload($t, 'flow/app');
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
    or die "connect: $!";
print $slow "PATCH $loc HTTP/1.1\r\nHost: localhost\r\n"
          . "Content-Range: 0-9\r\nContent-Length: 10\r\n\r\n12345";
select(undef, undef, undef, 0.3);
$r = patch($loc, 'xxxxxxxxxx', '0-9');
is($r->{status}, 416, 'a second writer while a chunk is in flight: 416');
like($r->{content}, qr/BLOB_UPLOAD_INVALID/, 'BLOB_UPLOAD_INVALID');
print $slow "67890";
my $resp = '';
while (<$slow>) { $resp .= $_; last if /^\r\n$/ }
like($resp, qr{^HTTP/1.1 202}, 'the first writer completes');
close $slow;

# --- a body shorter than its Content-Length (client goes away) and one
#     longer (the rest is the next request on the connection)

$loc = start_upload($t, 'flow/app');
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die;
print $c "PATCH $loc HTTP/1.1\r\nHost: localhost\r\n"
       . "Content-Length: 1000\r\n\r\n" . ('a' x 400);
select(undef, undef, undef, 0.2);
close $c;
select(undef, undef, undef, 0.3);
$r = $http->get($t->url($loc));
is($r->{headers}{range}, '0-0', 'a truncated body records nothing');
$r = patch($loc, 'b' x 10, '0-9');
is($r->{status}, 202, 'the upload goes on from the recorded offset');

$c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die;
print $c "PATCH $r->{headers}{location} HTTP/1.1\r\nHost: localhost\r\n"
       . "Connection: close\r\nContent-Length: 5\r\n\r\n" . ('c' x 50);
my $all = do { local $/; <$c> };
close $c;
like($all, qr{^HTTP/1.1 202}, 'a body longer than Content-Length: 202 for the declared bytes');
is($http->get($t->url($loc))->{headers}{range}, '0-14',
   'exactly Content-Length bytes were taken');

# --- closed with a digest of another algorithm than the upload's: clients
# do not always announce sha512; the file is hashed with it at the commit

my $big = join('', map { sha256("sha512 $_") } 1 .. 3000);    # ~210 KB
my $big512 = 'sha512:' . sha512_hex($big);
$loc = start_upload($t, 'flow/alg');
$r = patch($loc, substr($big, 0, 100_000), '0-99999');
is($r->{status}, 202, 'a sha256 upload (no digest-algorithm): a chunk');
$r = $http->request('PUT', $t->url("$r->{headers}{location}?digest=$big512"),
                    { content => substr($big, 100_000) });
is($r->{status}, 201, 'closed with the sha512 digest of its bytes, last chunk in the PUT: 201');
is($r->{headers}{'docker-content-digest'}, $big512, '  Docker-Content-Digest is that digest');
ok($http->get($t->url("/v2/flow/alg/blobs/$big512"))->{content} eq $big,
   '  and the blob reads back under it');

$loc = start_upload($t, 'flow/alg');
$r = patch($loc, $big, '0-' . (length($big) - 1));
$r = $http->request('PUT', $t->url("$r->{headers}{location}?digest=sha512:" . ('a' x 128)));
is($r->{status}, 400, 'closed with a sha512 digest its bytes do not have: 400');
like($r->{content}, qr/DIGEST_INVALID/, '  DIGEST_INVALID');
is($http->get($t->url($loc))->{status}, 404, '  and the upload is dropped');

my $whole = $big . 'monolithic';
$loc = start_upload($t, 'flow/alg');
$r = $http->request('PUT', $t->url("$loc?digest=sha512:" . sha512_hex($whole)),
                    { content => $whole });
is($r->{status}, 201, 'POST, then a PUT of the whole blob (over the eager size) with sha512: 201');

$loc = start_upload($t, 'flow/alg', '?digest-algorithm=sha512');
$r = patch($loc, $big, '0-' . (length($big) - 1));
$r = $http->request('PUT', $t->url("$r->{headers}{location}?digest=" . sha256($big)));
is($r->{status}, 201, 'a sha512 upload closed with the sha256 digest of its bytes: 201');

# --- a second nginx sharing Redis and the storage root continues

my $t2 = instance();
$loc = start_upload($t, 'flow/ha');
$r = patch($loc, substr($blob, 0, 150_000), '0-149999');
is($r->{status}, 202, 'first half on instance 1');
$r = $t2->http->request('PATCH', $t2->url($r->{headers}{location}),
    { content => substr($blob, 150_000),
      headers => { 'Content-Range' => '150000-299999' } });
is($r->{status}, 202, 'second half on instance 2');
$r = $http->request('PUT', $t->url("$r->{headers}{location}?digest=$d"));
is($r->{status}, 201, 'closed on instance 1');
ok($t2->http->get($t2->url("/v2/flow/ha/blobs/$d"))->{content} eq $blob,
   'instance 2 serves the blob');

$t2->stop;
$t2->check_logs;
$t->stop;
$t->check_logs;
done_testing();
