# Online garbage collection: POST /v2/_gc/run (and ?dry=1) and what it
# frees.  The storage root shrinks by exactly the files no repository
# needs; a blob another repository links stays; a referrer whose subject
# was deleted goes; a file a crash left between commit and link (no
# Redis record) is found by the walk; a file a killed collector left
# under its trash name is finished (restored when it is linked, deleted
# when not); the grace period protects a blob uploaded before its
# manifest; GET /v2/<name>/_gc/usage counts bytes and reclaimable bytes.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Find ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $redis = OciTest::Redis->start;
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);

sub config {
    my ($grace) = @_;
    $t->write_config(registry_config(workers => 2,
        extra => "oci_registry_gc_grace $grace;\noci_registry_delete on;"));
}

config('0s');
$t->start;
my $http = $t->http;

# the bytes of the blob files under the storage root, and their names
sub disk {
    my ($bytes, %names) = (0);
    File::Find::find(sub {
        return unless -f $_;
        $bytes += -s _;
        $names{$_} = 1;
    }, "$tmp/storage/blobs");
    return ($bytes, \%names);
}

sub blob_file { my ($d) = @_; my $h = substr($d, 7);
                "$tmp/storage/blobs/sha256/" . substr($h, 0, 2) . "/$h" }

sub manifest {
    my ($cfg, @layers) = @_;
    my $l = join ',', map { '{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
        . '"digest":"' . sha256($_) . '","size":' . length($_) . '}' } @layers;
    return '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
        . sha256($cfg) . '","size":' . length($cfg) . '},"layers":[' . $l . ']}';
}

sub push_image {
    my ($repo, $tag, $cfg, @layers) = @_;
    for my $b ($cfg, @layers) {
        push_blob($t, $repo, $b)->{status} == 201 or die "blob push to $repo";
    }
    my $m = manifest($cfg, @layers);
    put_manifest($t, $repo, $tag, $m)->{status} == 201 or die "manifest $repo:$tag";
    return sha256($m);
}

sub status {
    my $r = $http->get($t->url('/v2/_gc'));
    die "GET /v2/_gc: $r->{status}" unless $r->{status} == 200;
    return decode_json($r->{content});
}

# asks for a pass and waits for its report
sub collect {
    my ($dry) = @_;
    my $before = status()->{last};
    my $r = $http->request('POST', $t->url('/v2/_gc/run' . ($dry ? '?dry=1' : '')));
    is $r->{status}, 202, 'POST /v2/_gc/run' . ($dry ? '?dry=1' : '') . ': 202';
    my $deadline = time + 30;
    while (time < $deadline) {
        my $s = status();
        my $l = $s->{last};
        if ($l && !$s->{running} && !$s->{requested}
            && (!$before || $l->{id} > $before->{id}))
        {
            return $l;
        }
        sleep 0.1;
    }
    diag explain status(); diag $t->error_log;
    die "no collection report within 30 s";
}

my $shared = 'S' x 300_000;
my ($cfg_a, $layer_a) = ('{"a":1}', 'A' x 200_000);
my ($cfg_b) = ('{"b":1}');
my $da = push_image('gc/a', 'v1', $cfg_a, $layer_a, $shared);
my $db = push_image('gc/b', 'v1', $cfg_b, $shared);
my $loose = 'L' x 100_000;
is push_blob($t, 'gc/a', $loose)->{status}, 201, 'a blob no manifest references';

my $u = decode_json($http->get($t->url('/v2/gc/a/_gc/usage'))->{content});
is_deeply [@$u{qw(blobs blobBytes unreferencedBlobs reclaimableBytes manifests tags)}],
    [4, length($cfg_a) + 200_000 + 300_000 + 100_000, 1, 100_000, 1, 1],
    'usage: links, bytes, unreferenced links and their bytes, manifests, tags';
is $http->get($t->url('/v2/gc/none/_gc/usage'))->{status}, 404,
    'usage of a repository that does not exist: 404';

# a dry run says what a real one frees, and frees nothing
my ($bytes0, $names0) = disk();
my $dry = collect(1);
ok $dry->{dryRun}, 'the report says dry run';
is $dry->{unlinkedBlobs}, 1, 'dry run: one link would go';
is $dry->{removedFiles}, 1, 'dry run: one file would be removed';
is $dry->{removedBytes}, 100_000, 'dry run: its bytes';
is((disk())[0], $bytes0, 'dry run: the disk is as it was');
ok -f blob_file(sha256($loose)), 'dry run: the file is there';

# delete image a; a real pass frees a's config, its own layer and the
# loose blob; the layer b shares stays
is $http->request('DELETE', $t->url("/v2/gc/a/manifests/$da"))->{status}, 202,
    'image a deleted';
my $real = collect(0);
ok !$real->{dryRun}, 'a real run';
is $real->{unlinkedBlobs}, 4, 'four links of gc/a went';
is $real->{removedFiles}, 3, 'three files removed';
is $real->{removedBytes}, length($cfg_a) + 200_000 + 100_000, 'their bytes';
my ($bytes1, $names1) = disk();
is $bytes0 - $bytes1, length($cfg_a) + 200_000 + 100_000,
    'the storage root shrank by exactly those bytes';
ok !-e blob_file(sha256($_)), 'file removed' for $cfg_a, $layer_a, $loose;
ok -f blob_file(sha256($shared)), 'the layer gc/b links stays';
is $http->get($t->url('/v2/gc/a/blobs/' . sha256($shared)))->{status}, 404,
    'gc/a no longer serves the shared layer';
my $g = $http->get($t->url('/v2/gc/b/blobs/' . sha256($shared)));
ok $g->{status} == 200 && $g->{content} eq $shared, 'gc/b pulls it byte-identical';
is $http->get($t->url("/v2/gc/b/manifests/$db"))->{status}, 200, 'gc/b image intact';
is $real->{repositories}, 2, 'both repositories visited';

# a pass with nothing to do frees nothing
my $idle = collect(0);
is_deeply [@$idle{qw(unlinkedBlobs removedFiles)}], [0, 0], 'nothing more to collect';

# a referrer whose subject was deleted goes, and then its blob
my $sub = push_image('gc/c', 'v1', '{"s":1}');
my $acfg = '{"sig":1}';
push_blob($t, 'gc/c', $acfg)->{status} == 201 or die;
my $ref = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    . '"artifactType":"application/vnd.example.sig","config":{"mediaType":'
    . '"application/vnd.example.sig","digest":"' . sha256($acfg) . '","size":'
    . length($acfg) . '},"layers":[],"subject":{"mediaType":'
    . '"application/vnd.oci.image.manifest.v1+json","digest":"' . $sub
    . '","size":' . length(manifest('{"s":1}')) . '}}';
is put_manifest($t, 'gc/c', sha256($ref), $ref)->{status}, 201, 'a referrer';
is $http->request('DELETE', $t->url("/v2/gc/c/manifests/$sub"))->{status}, 202,
    'its subject deleted';
my $rr = collect(0);
is $rr->{deletedReferrers}, 1, 'the referrer of a deleted subject went';
is $http->get($t->url('/v2/gc/c/manifests/' . sha256($ref)))->{status}, 404,
    'the referrer is gone';
collect(0);
ok !-e blob_file(sha256($acfg)), 'and its config blob, on the next pass';

# a file committed but never linked (a crash between the two): found by
# the walk, once it is older than the grace period
my $orphan = 'O' x 5000;
my $of = blob_file(sha256($orphan));
mkdir $of =~ s{/[^/]+$}{}r;
open my $fh, '>', $of or die; print $fh $orphan; close $fh;
sleep 1.1;
collect(0);
ok !-e $of, 'a blob file no record names is removed';

# a killed collector's trash: linked blob -> restored; unlinked -> removed
my $sf = blob_file(sha256($shared));
(my $strash = $sf) =~ s{/([0-9a-f]+)$}{/.$1.gc};
rename $sf, $strash or die;
my $lost = 'T' x 7000;
my $lf = blob_file(sha256($lost));
(my $ltrash = $lf) =~ s{/([0-9a-f]+)$}{/.$1.gc};
mkdir $lf =~ s{/[^/]+$}{}r;
open $fh, '>', $ltrash or die; print $fh $lost; close $fh;
collect(0);
ok -f $sf && !-e $strash, 'trash of a linked blob is put back';
$g = $http->get($t->url('/v2/gc/b/blobs/' . sha256($shared)));
ok $g->{status} == 200 && $g->{content} eq $shared, 'and serves the same bytes';
ok !-e $ltrash && !-e $lf, 'trash of an unlinked blob is removed';

# a blob deleted with DELETE /v2/<name>/blobs/ goes with the next pass
is $http->request('DELETE', $t->url('/v2/gc/b/blobs/' . sha256($cfg_b)))->{status}, 202,
    'a blob link deleted';
collect(0);
ok !-e blob_file(sha256($cfg_b)), 'its file is collected';

# the grace period (default one hour): an upload waiting for its
# manifest stays, and the pass does not count it as freed
$t->stop;
config('1h');
$t->start;
my $fresh = 'F' x 9000;
is push_blob($t, 'gc/d', $fresh)->{status}, 201, 'a blob uploaded before its manifest';
my $gr = collect(0);
is $gr->{unlinkedBlobs}, 0, 'within the grace period: not unlinked';
ok -f blob_file(sha256($fresh)), 'its file stays';
my $dm = manifest($fresh);
is put_manifest($t, 'gc/d', 'v1', $dm)->{status}, 201,
    'the manifest pushed after the pass finds its blob';

$t->stop;
$t->check_logs;
done_testing;
