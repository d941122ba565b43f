# A full disk: the storage root is a small tmpfs.  Uploads that do not fit
# fail with 507 and the OCI error body, no partial blob becomes visible,
# a chunked upload keeps its acknowledged bytes, and pulls go on.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob start_upload);

plan skip_all => 'mounting a tmpfs needs root' if $> != 0;

my $tmp = tempdir(CLEANUP => 1);
my $storage = "$tmp/storage";
mkdir $storage;
system('mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', $storage) == 0
    or plan skip_all => 'cannot mount a tmpfs here';
END { system('umount', $storage) if $storage && -d $storage }

my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config());
$t->start;
my $http = $t->http;

sub uploads_left { opendir(my $d, "$storage/_uploads") or return -1;
                   scalar grep { !/^\./ } readdir $d }

my $small = 'a small layer';
is(push_blob($t, 'full/app', $small)->{status}, 201, 'a small blob fits');

my $big = 'x' x (12 * 1024 * 1024);
my $r = push_blob($t, 'full/app', $big);
is($r->{status}, 507, 'a blob larger than the free space: 507');
is(decode_json($r->{content})->{errors}[0]{code}, 'BLOB_UPLOAD_INVALID',
   'with the OCI error body');
is($http->get($t->url('/v2/full/app/blobs/' . sha256($big)))->{status}, 404,
   'nothing is visible under its digest');
is(uploads_left(), 0, 'and its partial file is gone');

# chunked: what was acknowledged stays, the chunk that did not fit does not
my $loc = start_upload($t, 'full/app');
my $part = 'y' x (5 * 1024 * 1024);
$r = $http->request('PATCH', $t->url($loc), { content => $part,
        headers => { 'Content-Range' => '0-' . (length($part) - 1) } });
is($r->{status}, 202, 'a 5 MiB chunk fits');
$loc = $r->{headers}{location};
$r = $http->request('PATCH', $t->url($loc), { content => $part,
        headers => { 'Content-Range' => length($part) . '-' . (2 * length($part) - 1) } });
is($r->{status}, 507, 'the next 5 MiB chunk does not: 507');
is($http->get($t->url($loc))->{headers}{range}, '0-' . (length($part) - 1),
   'the upload still holds exactly the acknowledged bytes');

is($http->get($t->url('/v2/full/app/blobs/' . sha256($small)))->{content}, $small,
   'pulls go on while the disk is full');

is($http->request('DELETE', $t->url($loc))->{status}, 204,
   'cancelling the upload frees its space');
is(push_blob($t, 'full/app', 'z' x (2 * 1024 * 1024))->{status}, 201,
   'and pushes succeed again');

$t->stop;
$t->check_logs;
done_testing();
