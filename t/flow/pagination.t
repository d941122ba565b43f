# Following Link headers pages through every tag and repository exactly
# once, in order, and a page costs the same with many tags.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest);

my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => tempdir(CLEANUP => 1), REDIS => $redis->port);
$t->write_config(registry_config());
$t->start;
my $http = $t->http;

my $cfg = '{}';
is(push_blob($t, 'page/app', $cfg)->{status}, 201, 'config blob');
my $m = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
      . '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
      . sha256($cfg) . '","size":2},"layers":[]}';

my @tags = map { sprintf 'v%02d', $_ } 1 .. 25;
push @tags, 'latest', 'A-upper';
for my $tag (@tags) {
    my $r = put_manifest($t, 'page/app', $tag, $m);
    die "PUT $tag: $r->{status} $r->{content}" unless $r->{status} == 201;
}

sub walk {
    my ($path, $field) = @_;
    my (@seen, $pages);
    while ($path) {
        my $r = $http->get($t->url($path));
        is($r->{status}, 200, "GET $path") or last;
        push @seen, @{ decode_json($r->{content})->{$field} };
        $pages++;
        ($path) = ($r->{headers}{link} // '') =~ /^<([^>]+)>; rel="next"$/;
        last if $pages > 50;
    }
    return (\@seen, $pages);
}

my ($seen, $pages) = walk('/v2/page/app/tags/list?n=10', 'tags');
is_deeply($seen, [ sort @tags ], 'every tag once, in byte order');
is($pages, 3, 'three pages of ten');

for my $i (1 .. 5) {
    is(put_manifest($t, "page/repo$i", 'v1', $m)->{status}, 400,
       "repo$i: config blob not linked there yet");
    push_blob($t, "page/repo$i", $cfg);
    is(put_manifest($t, "page/repo$i", 'v1', $m)->{status}, 201, "repo$i");
}

($seen, $pages) = walk('/v2/_catalog?n=2', 'repositories');
is_deeply($seen, [ 'page/app', map { "page/repo$_" } 1 .. 5 ],
          'catalog pages through every repository once');
is($pages, 3, 'catalog: three pages of two');

# referrers: five signatures of one manifest, two kinds
my $subject = sha256($m);
my %want;
for my $i (1 .. 5) {
    my $kind = $i % 2 ? 'application/vnd.example.sig' : 'application/spdx+json';
    my $ref = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        . qq!"artifactType":"$kind",!
        . '"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"'
        . sha256($cfg) . '","size":2},"layers":[],'
        . qq!"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$subject","size":1},!
        . qq!"annotations":{"i":"$i"}}!;
    is(put_manifest($t, 'page/app', sha256($ref), $ref)->{status}, 201, "referrer $i");
    push @{ $want{$kind} }, sha256($ref);
}

($seen, $pages) = walk("/v2/page/app/referrers/$subject?n=2", 'manifests');
is_deeply([ map { $_->{digest} } @$seen ],
          [ sort map { @$_ } values %want ], 'all five referrers, each once');
is($pages, 3, 'referrers: pages of two');

($seen, $pages) = walk("/v2/page/app/referrers/$subject?n=1&artifactType=application%2Fspdx%2Bjson",
                       'manifests');
is_deeply([ map { $_->{digest} } @$seen ],
          [ sort @{ $want{'application/spdx+json'} } ],
          'filtered paging returns only that type');
is($pages, 2, 'filtered: pages of one');

$t->stop;
$t->check_logs;
done_testing();
