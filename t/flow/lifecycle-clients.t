# Lifecycle expiry as a real client sees it: skopeo pushes three images
# built with umoci, a policy keeps the newest two, a run expires the
# oldest; skopeo inspect of the expired tag fails with manifest unknown,
# and the kept ones pull back byte-identical.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config);
use OciTest::Images qw(run build_image layout_manifest read_blob have);

plan skip_all => 'skopeo and umoci are needed (scripts/bootstrap --test)'
    unless have('skopeo') && have('umoci');

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
mkdir "$tmp/storage";
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(registry_config());
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
    my $at = time - (4 - $v) * 86400;
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
