# Lifecycle expiry as a real client sees it: skopeo pushes three images
# built with umoci, a policy keeps the newest two, a run expires the
# oldest; skopeo inspect of the expired tag fails with manifest unknown;
# a garbage collection pass frees exactly the expired image's own blobs
# from the disk, and the kept ones pull back byte-identical.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Find ();
use Time::HiRes qw(sleep time);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_redis registry_config);
use OciTest::Images qw(run build_image layout_manifest read_blob have);

plan skip_all => 'skopeo and umoci are needed (scripts/bootstrap --test)'
    unless have('skopeo') && have('umoci');

my $tmp = tempdir(CLEANUP => 1);
my $redis = registry_redis();
mkdir "$tmp/storage";
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(registry_config(extra => 'oci_registry_gc_grace 0s;'));
$t->start;

my $reg = '127.0.0.1:' . $t->port;
my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');
my $src = "$tmp/src";
my %digest;

for my $v (1 .. 3) {
    build_image($src, "v$v", 'amd64', { 'version.txt' => "release $v\n" });
    run('skopeo', 'copy', @tls, "oci:$src:v$v", "docker://$reg/team/app:v$v");
    $digest{$v} = layout_manifest($src, "v$v")->{digest};

    # pushed $v days apart: v1 the oldest
    my $at = int(time) - (4 - $v) * 86400;
    $redis->cmd('HSET', "oci:{team/app}:m:$digest{$v}", 'pushed', $at);
    $redis->cmd('ZADD', "oci:{team/app}:manifests", $at, $digest{$v});
}
pass('skopeo pushed v1, v2 and v3');

my $http = $t->http;
my $r = $http->request('PUT', $t->url('/v2/team/app/_lifecycle/policy'),
    { content => '{"rules":[{"rulePriority":1,"description":"keep two",'
                 . '"selection":{"tagStatus":"any","countType":'
                 . '"imageCountMoreThan","countNumber":2},'
                 . '"action":{"type":"expire"}}]}' });
is($r->{status}, 201, 'a policy that keeps two images');

$r = $http->request('POST', $t->url('/v2/team/app/_lifecycle/preview'));
my $preview = decode_json($r->{content});
is_deeply([ map { $_->{imageDigest} } @{ $preview->{previewResults} } ],
          [ $digest{1} ], 'the preview expires v1');

$r = $http->request('POST', $t->url('/v2/team/app/_lifecycle/run'));
my $run = decode_json($r->{content});
is_deeply([ map { $_->{imageDigest} } @{ $run->{expiredImages} } ],
          [ $digest{1} ], 'the run expires what the preview said');

my $out = `skopeo inspect --tls-verify=false docker://$reg/team/app:v1 2>&1`;
isnt($?, 0, 'skopeo inspect of the expired v1 fails');
like($out, qr/manifest unknown/i, '  with manifest unknown');

# the disk: the blob files under the storage root
sub disk {
    my $bytes = 0;
    File::Find::find(sub { $bytes += -s $_ if -f $_ }, "$tmp/storage/blobs");
    return $bytes;
}
my %kept;
for my $v (2, 3) {
    my $m = decode_json(read_blob($src, $digest{$v}));
    $kept{$_->{digest}} = 1 for $m->{config}, @{ $m->{layers} };
}
my $m1 = decode_json(read_blob($src, $digest{1}));
my $own = 0;
$own += $_->{size} for grep { !$kept{$_->{digest}} } $m1->{config}, @{ $m1->{layers} };
ok($own > 0, "v1 has blobs of its own ($own bytes)");
my $bytes0 = disk();
my $id0 = decode_json($http->get($t->url('/v2/_gc'))->{content})->{last}{id} // 0;
is($http->request('POST', $t->url('/v2/_gc/run'))->{status}, 202,
   'a garbage collection pass asked for');
my ($last, $deadline) = (undef, time + 30);
while (time < $deadline) {
    my $st = decode_json($http->get($t->url('/v2/_gc'))->{content});
    if ($st->{last} && !$st->{running} && $st->{last}{id} > $id0) {
        $last = $st->{last};
        last;
    }
    sleep 0.1;
}
ok($last, 'the pass finished');
is($bytes0 - disk(), $own, "the disk shrank by v1's own config and layers");
is($last->{removedBytes}, $own, 'and the report says so');

for my $v (2, 3) {
    run('skopeo', 'copy', @tls, "docker://$reg/team/app:v$v", "oci:$tmp/back:v$v");
    my $m = layout_manifest("$tmp/back", "v$v");
    is($m->{digest}, $digest{$v}, "v$v pulls with its pushed digest");
    my $manifest = decode_json(read_blob($src, $digest{$v}));
    my $same = 1;
    for my $l ($manifest->{config}, @{ $manifest->{layers} }) {
        $same = 0 unless read_blob("$tmp/back", $l->{digest}) eq read_blob($src, $l->{digest});
    }
    ok($same, "v$v: config and layers byte-identical");
}

done_testing();
