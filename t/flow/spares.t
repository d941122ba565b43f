# Uploads that start and end in one request (POST ?digest= with the blob,
# or POST then PUT with the whole blob) write into an anonymous spare file
# the worker made ahead (O_TMPFILE) and link it into place once verified:
# no named file exists while the bytes arrive, an interrupted one leaves
# nothing behind, the worker keeps a bounded number of spares, and
# uploads still create named files where they must (chunks, no thread
# pool).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Fcntl qw(O_WRONLY);
use Digest::SHA ();
use Time::HiRes qw(sleep time);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob start_upload);

plan skip_all => 'spare upload files need Linux (O_TMPFILE)' if $^O ne 'linux';

my $storage = tempdir(CLEANUP => 1);

# O_TMPFILE (__O_TMPFILE | O_DIRECTORY on Linux): some file systems
# refuse it, and the registry then creates named files, as tested below
# for the no-thread-pool case
plan skip_all => 'the test directory\'s file system has no O_TMPFILE'
    unless sysopen(my $probe, $storage, 0x410000 | O_WRONLY, 0600);
close $probe;

my $redis = OciTest::Redis->start();

my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);
# no collector: its idle step would count in INFO commandstats
$t->write_config(registry_config(workers => 1, extra => 'oci_registry_gc off;'));
$t->start;
my $http = $t->http;

sub uploads_left { opendir(my $d, "$storage/_uploads") or return -1;
                   scalar grep { !/^\./ } readdir $d }

# the worker's open anonymous files in _uploads
sub spares {
    my ($pid) = @_;
    opendir(my $d, "/proc/$pid/fd") or return -1;
    return scalar grep {
        (readlink("/proc/$pid/fd/$_") // '') =~ m{/_uploads/#\d+ \(deleted\)$}
    } readdir $d;
}

sub blob_bytes { my ($seed, $n) = @_; substr(join('', map { sha256("$seed.$_") } 1 .. $n / 71 + 1), 0, $n) }

# POST then PUT with the whole blob (docker's and containerd's way)
sub post_put {
    my ($repo, $bytes, $digest) = @_;
    my $loc = start_upload($t, $repo) or return 0;
    my $r = $http->request('PUT', $t->url("$loc?digest=" . ($digest // sha256($bytes))),
                           { content => $bytes,
                             headers => { 'Content-Type' => 'application/octet-stream' } });
    return $r->{status};
}

# starts a request whose body is only half sent; returns the socket
sub half_sent {
    my ($path, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:" . $t->port) or die "connect: $!";
    print $s "$path HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: application/octet-stream\r\n"
           . "Content-Length: " . length($bytes) . "\r\n\r\n"
           . substr($bytes, 0, length($bytes) / 2);
    sleep 0.3;    # the worker has read and written what was sent
    return $s;
}

# --- warm up: the first upload finds no spares and posts their making

my ($worker) = $t->worker_pids;
is(push_blob($t, 'sp/app', blob_bytes('warm', 5000))->{status}, 201,
   'first monolithic push: 201');
my $n;
for (1 .. 50) { $n = spares($worker); last if $n > 0; sleep 0.1 }
cmp_ok($n, '>', 0, "the worker keeps spare upload files ($n)");
cmp_ok($n, '<=', 8, 'at most 8 of them');

# --- many pushes: every one whole, no file descriptor leaks

my %pushed;
for my $i (1 .. 60) {
    my $b = blob_bytes("b$i", 1000 + $i * 37);
    my $st = $i % 2 ? post_put('sp/app', $b) : push_blob($t, 'sp/app', $b)->{status};
    $pushed{sha256($b)} = $b if $st == 201;
}
is(scalar keys %pushed, 60, '60 pushes, alternately POST+PUT and POST ?digest=: all 201');
my $whole = grep {
    my $r = $http->get($t->url("/v2/sp/app/blobs/$_"));
    $r->{status} == 200 && $r->{content} eq $pushed{$_}
} keys %pushed;
is($whole, 60, 'every blob reads back byte for byte');
is(uploads_left(), 0, 'no upload file left in _uploads');
sleep 0.3;
cmp_ok(spares($worker), '<=', 8, 'still at most 8 spares after 60 pushes (none leaked)');

# --- the same blob pushed again: the upload is dropped, the blob stays

my ($again) = keys %pushed;
is(post_put('sp/other', $pushed{$again}), 201, 'a blob that exists, pushed again: 201');
my $r = $http->get($t->url("/v2/sp/other/blobs/$again"));
ok($r->{status} == 200 && $r->{content} eq $pushed{$again}, 'and reads back whole');

# --- a monolithic POST in flight has no name; killed, it leaves nothing

my $big = blob_bytes('big', 1 << 20);
my $big_d = sha256($big);
my $s = half_sent("POST /v2/sp/app/blobs/uploads/?digest=$big_d", $big);
is(uploads_left(), 0, 'half of a monolithic POST received: no file in _uploads');
kill 'KILL', $worker;
close $s;
my @w;
for (1 .. 50) { @w = grep { $_ != $worker } $t->worker_pids; last if @w; sleep 0.1 }
ok(@w, 'the master started a new worker');
$t->allow_log(qr/exited on signal 9/);
is(uploads_left(), 0, 'after kill -9 of the worker: still nothing in _uploads');
is($http->head($t->url("/v2/sp/app/blobs/$big_d"))->{status}, 404,
   'and no blob');
is(push_blob($t, 'sp/app', $big)->{status}, 201, 'the push again: 201');
($worker) = @w;

# --- a PUT at offset 0 in flight has no name either; the upload survives

my $loc = start_upload($t, 'sp/app');
my $put_d = sha256($big . 'x');
$s = half_sent("PUT $loc?digest=$put_d", $big . 'x');
is(uploads_left(), 0, 'half of a closing PUT received: no file in _uploads');
close $s;
sleep 0.2;
$r = $http->get($t->url($loc));
is($r->{status}, 204, 'the client went away: the upload is still there');
is($r->{headers}{range}, '0-0', 'at offset 0');
$r = $http->request('PUT', $t->url("$loc?digest=$put_d"), { content => $big . 'x' });
is($r->{status}, 201, 'the PUT again: 201');
is(uploads_left(), 0, 'nothing left in _uploads');

# --- a digest that does not match: 400, nothing stored

my $bad = blob_bytes('bad', 3000);
is(post_put('sp/app', $bad, sha256('something else')), 400, 'PUT with a wrong digest: 400');
is($http->head($t->url('/v2/sp/app/blobs/' . sha256($bad)))->{status}, 404, 'no blob under its real digest');
is($http->head($t->url('/v2/sp/app/blobs/' . sha256('something else')))->{status}, 404,
   'none under the claimed one');

# --- chunks still go to a named file, which the last PUT removes

$loc = start_upload($t, 'sp/app');
my $chunked = blob_bytes('chunked', 20_000);
$r = $http->request('PATCH', $t->url($loc),
                    { content => substr($chunked, 0, 12_000),
                      headers => { 'Content-Type' => 'application/octet-stream',
                                   'Content-Range' => '0-11999' } });
is($r->{status}, 202, 'PATCH of a first chunk: 202');
is(uploads_left(), 1, 'a chunked upload has its named file');
$r = $http->request('PUT', $t->url($r->{headers}{location} . '?digest=' . sha256($chunked)),
                    { content => substr($chunked, 12_000),
                      headers => { 'Content-Range' => '12000-19999' } });
is($r->{status}, 201, 'closing PUT: 201');
is(uploads_left(), 0, 'the named file became the blob');

# --- an interrupted first chunk leaves a named file at offset 0; the PUT
#     of the whole blob through a spare removes it

$loc = start_upload($t, 'sp/app');
$s = half_sent("PATCH $loc", $chunked);
close $s;
sleep 0.2;
is(uploads_left(), 1, 'an interrupted first PATCH left its named file');
$r = $http->get($t->url($loc));
is($r->{headers}{range}, '0-0', 'the upload is at offset 0');
$r = $http->request('PUT', $t->url("$loc?digest=" . sha256($chunked)), { content => $chunked });
is($r->{status}, 201, 'PUT of the whole blob: 201');
is(uploads_left(), 0, 'the leftover named file is gone');

# --- a closing PUT with a small blob whole is read first: one Redis
#     round trip (the script that checks the upload and links the blob)
#     instead of two, and the same answers as the usual way

sub evalshas {
    my ($stats) = $redis->cmd('INFO', 'commandstats') =~ /cmdstat_evalsha:calls=(\d+)/;
    return $stats // 0;
}

sleep 0.3;    # the spares are back
$loc = start_upload($t, 'sp/eager');
my $small = blob_bytes('eager', 2000);
my $before = evalshas();
$r = $http->request('PUT', $t->url("$loc?digest=" . sha256($small)),
                    { content => $small });
is($r->{status}, 201, 'PUT of a whole small blob: 201');
is(evalshas() - $before, 1, 'with one Redis script call');
is($http->get($t->url('/v2/sp/eager/blobs/' . sha256($small)))->{content}, $small,
   'the blob reads back');
is($http->get($t->url($loc))->{status}, 404, 'the upload is over');

# the last chunk of a longer upload, in the PUT without Content-Range
$loc = start_upload($t, 'sp/eager');
my $long = blob_bytes('long', 3000);
$r = $http->request('PATCH', $t->url($loc),
                    { content => substr($long, 0, 2000),
                      headers => { 'Content-Range' => '0-1999',
                                   'Content-Type' => 'application/octet-stream' } });
is($r->{status}, 202, 'a first chunk');
$r = $http->request('PUT', $t->url($r->{headers}{location} . '?digest=' . sha256($long)),
                    { content => substr($long, 2000) });
is($r->{status}, 201, 'the PUT with the rest and no Content-Range: 201');
is($http->get($t->url('/v2/sp/eager/blobs/' . sha256($long)))->{content}, $long,
   'the blob is both parts');
is(uploads_left(), 0, 'no upload file left');

# a body that is a blob of its own, after bytes were uploaded: not the digest
$loc = start_upload($t, 'sp/eager');
$r = $http->request('PATCH', $t->url($loc),
                    { content => 'x' x 100,
                      headers => { 'Content-Range' => '0-99',
                                   'Content-Type' => 'application/octet-stream' } });
my $tail = blob_bytes('tail', 500);
$r = $http->request('PUT', $t->url($r->{headers}{location} . '?digest=' . sha256($tail)),
                    { content => $tail });
is($r->{status}, 400, 'bytes before a body that matches its digest alone: 400');
like($r->{content}, qr/DIGEST_INVALID/, 'DIGEST_INVALID');
is($http->get($t->url($loc))->{status}, 404, 'and the upload is dropped, as for any wrong digest');
is($http->head($t->url('/v2/sp/eager/blobs/' . sha256($tail)))->{status}, 404,
   'the repository has no such blob');
is(uploads_left(), 0, 'its file is gone');

# an upload started for sha512 closed with a sha256 digest: the body is
# the whole blob, hashed with the digest's own algorithm
$loc = start_upload($t, 'sp/eager', '?digest-algorithm=sha512');
$r = $http->request('PUT', $t->url("$loc?digest=" . sha256($small . 'w')),
                    { content => $small . 'x' });
is($r->{status}, 400, 'a sha512 upload closed with a wrong sha256 digest: 400');
$loc = start_upload($t, 'sp/eager', '?digest-algorithm=sha512');
$r = $http->request('PUT', $t->url("$loc?digest=" . sha256($small . 'y')),
                    { content => $small . 'y' });
is($r->{status}, 201, 'a sha512 upload closed with the sha256 digest of its bytes: 201');

# an upload nobody started
$r = $http->request('PUT', $t->url('/v2/sp/eager/blobs/uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9?digest='
                                   . sha256($small . 'z')), { content => $small . 'z' });
is($r->{status}, 404, 'PUT of a whole blob to an unknown upload: 404');
like($r->{content}, qr/BLOB_UPLOAD_UNKNOWN/, 'BLOB_UPLOAD_UNKNOWN');
is($http->head($t->url('/v2/sp/eager/blobs/' . sha256($small . 'z')))->{status}, 404,
   'and the repository has no such blob');

# a PATCH in flight holds the upload
$loc = start_upload($t, 'sp/eager');
$s = half_sent("PATCH $loc", $chunked);
$r = $http->request('PUT', $t->url("$loc?digest=" . sha256($small . 'w')),
                    { content => $small . 'w' });
is($r->{status}, 416, 'PUT while a chunk is being written: 416');
close $s;
sleep 0.2;
is($http->request('DELETE', $t->url($loc))->{status}, 204, 'that upload cancelled');
is(uploads_left(), 0, 'with its file');

# ...unless its writer was killed: the lock is taken over at once
$loc = start_upload($t, 'sp/eager');
$s = half_sent("PATCH $loc", $chunked);
($worker) = $t->worker_pids;
kill 'KILL', $worker;
close $s;
for (1 .. 50) { @w = grep { $_ != $worker } $t->worker_pids; last if @w; sleep 0.1 }
is(push_blob($t, 'sp/eager', blob_bytes('wake', 100))->{status}, 201, 'a new worker');
sleep 0.3;
$before = evalshas();
$r = $http->request('PUT', $t->url("$loc?digest=" . sha256($small . 'v')),
                    { content => $small . 'v' });
is($r->{status}, 201, 'PUT after the chunk\'s writer was killed: 201');
is(evalshas() - $before, 2, 'the script ran again, taking the dead writer\'s lock');
is(uploads_left(), 0, 'the killed chunk\'s file is gone');

$t->check_logs;
$t->stop;

# --- without a thread pool nothing makes spares: named files, as before

my $t2 = OciTest::Nginx->new();
$t2->set(STORAGE => $storage, REDIS => $redis->port);
$t2->write_config(registry_config(workers => 1, threads => 0));
$t2->start;
my ($w2) = $t2->worker_pids;
is(push_blob($t2, 'sp/plain', blob_bytes('plain', 4000))->{status}, 201,
   'no thread pool: monolithic push 201');
sleep 0.3;
is(spares($w2), 0, 'and no spare files');
$t = $t2;
$s = half_sent("POST /v2/sp/plain/blobs/uploads/?digest=$big_d", $big);
is(uploads_left(), 1, 'a monolithic POST in flight has a named file');
close $s;
sleep 0.2;
is(uploads_left(), 0, 'which is removed when the client goes away');

$t2->check_logs;
done_testing();
