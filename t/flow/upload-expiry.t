# Abandoned uploads expire: their Redis state after oci_registry_upload_ttl
# and their files through the sweeper.  An upload whose file vanished is
# refused rather than continued with a hole.  Automatic mount (mount
# without "from") only with oci_registry_auto_mount on.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob start_upload);

my $redis = OciTest::Redis->start();
my $storage = tempdir(CLEANUP => 1);
my $t = OciTest::Nginx->new();
$t->set(STORAGE => $storage, REDIS => $redis->port);
$t->write_config(registry_config(
    extra => "oci_registry_upload_ttl 2s;\n"
           . "location /v2/auto/ { oci_registry; oci_registry_storage $storage;"
           . " oci_registry_redis 127.0.0.1:" . $redis->port . ";"
           . " oci_registry_auto_mount on; }"));
$t->start;
my $http = $t->http;

sub files { opendir(my $d, "$storage/_uploads") or return ();
            grep { !/^\./ } readdir $d }

my $loc = start_upload($t, 'exp/app');
my $r = $http->request('PATCH', $t->url($loc),
                       { content => 'abandoned', headers => { 'Content-Range' => '0-8' } });
is($r->{status}, 202, 'a chunk of an upload that is then abandoned');
is(scalar(files()), 1, 'its file exists');

# a link of an upload id's length planted in _uploads: the sweep removes
# the link, never what it names
my $outside = "$storage/outside";
open my $o, '>', $outside or die;
print $o "not an upload\n";
close $o;
my $link = "$storage/_uploads/" . ('0' x 8) . '-0000-4000-8000-' . ('0' x 12);
symlink $outside, $link or die "symlink: $!";
system('touch', '-h', '-d', '1 hour ago', $link);

sleep 4.5;
is($http->get($t->url($loc))->{status}, 404, 'its state expired');
is(scalar(files()), 0, 'the sweeper removed its file (in the thread pool)');
ok(-f $outside, '  and removed a planted link, not the file it names');

# the file of a live upload vanishes: no silent hole
$loc = start_upload($t, 'exp/app');
$r = $http->request('PATCH', $t->url($loc),
                    { content => 'abc', headers => { 'Content-Range' => '0-2' } });
unlink "$storage/_uploads/$_" for files();
$r = $http->request('PATCH', $t->url($loc),
                    { content => 'def', headers => { 'Content-Range' => '3-5' } });
is($r->{status}, 404, 'continuing an upload whose bytes are gone: 404');
like($r->{content}, qr/BLOB_UPLOAD_UNKNOWN/, 'BLOB_UPLOAD_UNKNOWN');

# automatic mount
my $blob = 'shared layer';
my $d = sha256($blob);
is(push_blob($t, 'exp/app', $blob)->{status}, 201, 'blob pushed to exp/app');
$r = $http->request('POST', $t->url("/v2/exp/other/blobs/uploads/?mount=$d"));
is($r->{status}, 202, 'auto mount off (the default): a session, nothing revealed');
$r = $http->request('POST', $t->url("/v2/auto/x/blobs/uploads/?mount=$d"));
is($r->{status}, 201, 'auto mount on: the blob is linked');
is($http->get($t->url("/v2/auto/x/blobs/$d"))->{content}, $blob, 'and served');
$r = $http->request('POST', $t->url("/v2/auto/x/blobs/uploads/?mount=" . sha256('nope')));
is($r->{status}, 202, 'auto mount of an unknown blob: a session');

$t->stop;
$t->check_logs;

# without a thread pool the sweep runs in the worker itself
my $t2 = OciTest::Nginx->new();
$t2->set(STORAGE => $storage, REDIS => $redis->port);
$t2->write_config(registry_config(threads => 0,
                                  extra => "oci_registry_upload_ttl 2s;"));
$t2->start;
$loc = start_upload($t2, 'exp/app');
$r = $t2->http->request('PATCH', $t2->url($loc),
                        { content => 'abandoned', headers => { 'Content-Range' => '0-8' } });
is($r->{status}, 202, 'no thread pool: a chunk of an upload then abandoned');
sleep 4.5;
is(scalar(files()), 0, '  its file is swept as well');

done_testing();
