# The referrers API at scale: a page costs Redis the page, not the
# subject's whole referrer set (counted in INFO commandstats, which
# counts the commands scripts run); a filter that matches nothing costs
# nothing; pages are bounded in bytes and continue through Link; a
# subject may collect only oci_registry_referrers_max referrers.

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

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
$t->write_config(registry_config(
    # no collector: its idle step would count in INFO commandstats
    extra => "oci_registry_referrers_max 2100;\noci_registry_gc off;"));
$t->start;
my $http = $t->http;

my $OCI_M = 'application/vnd.oci.image.manifest.v1+json';
my $cfg = '{}';
my $layer = 'signature bytes';
my $repo = 'ref/app';
is(push_blob($t, $repo, $cfg)->{status}, 201, 'config blob');
is(push_blob($t, $repo, $layer)->{status}, 201, 'layer blob');

sub manifest {
    my (%o) = @_;
    my $s = qq!{"schemaVersion":2,"mediaType":"$OCI_M",!
        . qq!"artifactType":"$o{type}",!
        . qq!"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"!
        . sha256($cfg) . qq!","size":2},!
        . qq!"layers":[{"mediaType":"application/octet-stream","digest":"!
        . sha256($layer) . qq!","size":! . length($layer) . '}]';
    $s .= qq!,"subject":{"mediaType":"$OCI_M","digest":"$o{subject}","size":10}!
        if $o{subject};
    $s .= qq!,"annotations":{"n":"$o{note}"}! if defined $o{note};
    return $s . '}';
}

my $image = manifest(type => 'application/vnd.example.image');
is(put_manifest($t, $repo, 'v1', $image)->{status}, 201, 'the subject image');
my $subject = sha256($image);

my $sig = 'application/vnd.example.sig';
my $n = 2000;
my $ok = 0;
for my $i (1 .. $n) {
    my $m = manifest(type => $sig, subject => $subject, note => "sig $i");
    $ok++ if put_manifest($t, $repo, sha256($m), $m)->{status} == 201;
}
is($ok, $n, "$n referrers pushed for one subject");

sub reads {
    my %c;
    for (split /\r\n/, $redis->cmd('INFO', 'commandstats')) {
        $c{$1} = $2 if /^cmdstat_(\w+):calls=(\d+)/;
    }
    return ($c{hget} // 0) + ($c{hmget} // 0) + ($c{hstrlen} // 0)
           + ($c{hgetall} // 0);
}

sub referrers {
    my ($query) = @_;
    $redis->cmd('CONFIG', 'RESETSTAT');
    my $r = $http->get($t->url("/v2/$repo/referrers/$subject$query"));
    my $body = eval { decode_json($r->{content}) } // {};
    return ($r, scalar @{ $body->{manifests} // [] }, reads());
}

my ($r, $count, $reads) = referrers('?n=1');
is($r->{status}, 200, '?n=1: 200');
is($count, 1, '  one descriptor');
like($r->{headers}{link} // '', qr/rel="next"/, '  and a Link to the rest');
cmp_ok($reads, '<=', 4, "  reading $reads hash fields of $n referrers");

($r, $count, $reads) = referrers('?artifactType=application%2Fvnd.example.none');
is($r->{status}, 200, 'a filter that matches none of them: 200');
is($count, 0, '  an empty index');
is($r->{headers}{'oci-filters-applied'}, 'artifactType', '  OCI-Filters-Applied');
is($reads, 0, '  reading no hash field at all');

($r, $count, $reads) = referrers('?artifactType=' . $sig . '&n=5');
is($count, 5, 'the filter that matches them, n=5: 5 descriptors');
cmp_ok($reads, '<=', 12, "  reading $reads hash fields");
like($r->{headers}{link} // '',
     qr/artifactType=application%2Fvnd\.example\.sig>; rel="next"/,
     '  the Link keeps the filter, escaped');

# walk every page of the filtered list: each referrer exactly once
my (%seen, $pages);
my $next = "/v2/$repo/referrers/$subject?artifactType=$sig";
while ($next && $pages++ < 10) {
    $r = $http->get($t->url($next));
    $seen{$_->{digest}}++ for @{ decode_json($r->{content})->{manifests} };
    ($next) = ($r->{headers}{link} // '') =~ /^<([^>]+)>; rel="next"$/;
}
is(scalar keys %seen, $n, "walking the Links lists all $n once each ($pages pages)");
ok(!grep({ $_ != 1 } values %seen), '  none twice');

# --- pages bounded in bytes

my $big_subject = sha256('another subject');
for my $i (1 .. 5) {
    my $m = manifest(type => $sig, subject => $big_subject,
                     note => ('x' x 300_000) . $i);
    put_manifest($t, $repo, sha256($m), $m);
}
$r = $http->get($t->url("/v2/$repo/referrers/$big_subject"));
my $first = decode_json($r->{content})->{manifests};
cmp_ok(length($r->{content}), '<=', 1_100_000,
       'five referrers of 300 KB each: the first page stays under about 1 MiB');
cmp_ok(scalar @$first, '<', 5, '  with ' . scalar(@$first) . ' of them');
%seen = ();
$seen{$_->{digest}}++ for @$first;
($next) = ($r->{headers}{link} // '') =~ /^<([^>]+)>; rel="next"$/;
while ($next) {
    $r = $http->get($t->url($next));
    $seen{$_->{digest}}++ for @{ decode_json($r->{content})->{manifests} };
    ($next) = ($r->{headers}{link} // '') =~ /^<([^>]+)>; rel="next"$/;
}
is(scalar keys %seen, 5, '  and the Links lead to the other ones');

# --- a subject may collect only so many referrers

my $capped = sha256('a capped subject');
$redis->cmd('ZADD', "oci:{$repo}:referrers:$capped", 0, $_)
    for map { sha256("filler $_") } 1 .. 2100;
my $m = manifest(type => $sig, subject => $capped, note => 'one too many');
$r = put_manifest($t, $repo, sha256($m), $m);
is($r->{status}, 403, 'a referrer past oci_registry_referrers_max: 403');
my $err = eval { decode_json($r->{content})->{errors}[0] } // {};
is($err->{code}, 'DENIED', '  DENIED');
like($err->{detail} // '', qr/most referrers a subject may have \(2100\)/,
     '  saying which limit');
$m = manifest(type => $sig, subject => $subject, note => 'sig 1');
is(put_manifest($t, $repo, sha256($m), $m)->{status}, 201,
   'pushing a referrer that exists again is still 201');

# --- an artifactType that is no media type is refused at push

$m = manifest(type => 'a"b>c', subject => $subject, note => 'bad');
$r = put_manifest($t, $repo, sha256($m), $m);
is($r->{status}, 400, 'an artifactType with quotes: 400');

done_testing;
