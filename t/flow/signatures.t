# Signatures and other artifacts, stored the ways the clients store them:
# a cosign signature (ECDSA P-256 made here with openssl over a simple-
# signing payload naming the image digest) under the tag sha256-<hex>.sig
# and as an OCI 1.1 referrer; a notation-shaped signature whose
# artifactType comes from its config; an SBOM, a Helm-chart-like artifact
# and a BuildKit-style cache index.  The test finds each the way the
# clients do and verifies the cosign signature with openssl.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config sha256 push_blob put_manifest);
use OciTest::Images qw(run have);

plan skip_all => 'openssl is needed' unless have('openssl');

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
mkdir "$tmp/storage";
$t->write_config(registry_config());
$t->start;
my $http = $t->http;
my $json = JSON::PP->new->canonical;

my $OCI_M = 'application/vnd.oci.image.manifest.v1+json';
my $OCI_I = 'application/vnd.oci.image.index.v1+json';
my $EMPTY = 'application/vnd.oci.empty.v1+json';

sub blob { my ($bytes) = @_;
           is(push_blob($t, 'sig/app', $bytes)->{status}, 201, 'blob ' . sha256($bytes));
           return { digest => sha256($bytes), size => length $bytes } }

sub manifest {
    my (%m) = @_;
    my $body = $json->encode({ schemaVersion => 2, mediaType => $OCI_M, %m });
    return ($body, sha256($body));
}

sub write_file { open my $f, '>', $_[0] or die; binmode $f; print $f $_[1]; close $f }

# --- the image

my $cfg = blob('{"architecture":"amd64","os":"linux"}');
my $layer = blob('image layer');
my ($image, $image_d) = manifest(
    config => { mediaType => 'application/vnd.oci.image.config.v1+json', %$cfg },
    layers => [ { mediaType => 'application/vnd.oci.image.layer.v1.tar', %$layer } ]);
is(put_manifest($t, 'sig/app', 'v1', $image)->{status}, 201, 'image pushed');

# --- a cosign signature: key, payload, signature

run('openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout',
    '-out', "$tmp/key.pem");
run('openssl', 'ec', '-in', "$tmp/key.pem", '-pubout', '-out', "$tmp/pub.pem");

my $payload = $json->encode({
    critical => { identity => { 'docker-reference' => "127.0.0.1/sig/app" },
                  image => { 'docker-manifest-digest' => $image_d },
                  type => 'cosign container image signature' },
    optional => undef });
write_file("$tmp/payload", $payload);
run('openssl', 'dgst', '-sha256', '-sign', "$tmp/key.pem", '-out',
    "$tmp/sig.der", "$tmp/payload");
my $sig_b64 = encode_base64(do { local (@ARGV, $/) = "$tmp/sig.der"; <> }, '');

my $payload_blob = blob($payload);
my $cosign_cfg = blob($json->encode({ architecture => '', os => '', config => {},
    rootfs => { type => 'layers', diff_ids => [ $payload_blob->{digest} ] } }));
my %cosign_layer = (
    mediaType => 'application/vnd.dev.cosign.simplesigning.v1+json',
    %$payload_blob,
    annotations => { 'dev.cosignproject.cosign/signature' => $sig_b64 });

# legacy ("tag") mode: sha256-<hex>.sig
(my $sig_tag = $image_d) =~ s/^sha256:/sha256-/;
$sig_tag .= '.sig';
my ($legacy) = manifest(
    config => { mediaType => 'application/vnd.oci.image.config.v1+json', %$cosign_cfg },
    layers => [ \%cosign_layer ]);
is(put_manifest($t, 'sig/app', $sig_tag, $legacy)->{status}, 201,
   "cosign signature pushed as tag $sig_tag");

# OCI 1.1 mode: the same, as a referrer
my ($referrer, $referrer_d) = manifest(
    artifactType => 'application/vnd.dev.cosign.artifact.sig.v1+json',
    config => { mediaType => 'application/vnd.oci.image.config.v1+json', %$cosign_cfg },
    layers => [ \%cosign_layer ],
    subject => { mediaType => $OCI_M, digest => $image_d, size => length $image });
my $r = put_manifest($t, 'sig/app', $referrer_d, $referrer);
is($r->{status}, 201, 'cosign signature pushed as a referrer');
is($r->{headers}{'oci-subject'}, $image_d, 'OCI-Subject answered');

# notation: no top-level artifactType, its config type says what it is
my $notary_cfg = blob('{}');
my $envelope = blob('{"payload":"e30","protected":"e30","signature":"AA"}');
my ($notation, $notation_d) = manifest(
    config => { mediaType => 'application/vnd.cncf.notary.signature', %$notary_cfg },
    layers => [ { mediaType => 'application/jose+json', %$envelope } ],
    subject => { mediaType => $OCI_M, digest => $image_d, size => length $image },
    annotations => { 'io.cncf.notary.x509chain.thumbprint#S256' => '["abc"]' });
is(put_manifest($t, 'sig/app', $notation_d, $notation)->{status}, 201,
   'notation-shaped signature pushed');

# --- find them as the clients do

$r = $http->get($t->url("/v2/sig/app/manifests/$sig_tag"));
is($r->{status}, 200, 'cosign (legacy) finds the .sig tag');
my $found = decode_json($r->{content});
my $l = $found->{layers}[0];
my $p = $http->get($t->url("/v2/sig/app/blobs/$l->{digest}"))->{content};
write_file("$tmp/p2", $p);
write_file("$tmp/s2", decode_base64($l->{annotations}{'dev.cosignproject.cosign/signature'}));
my $v = `openssl dgst -sha256 -verify $tmp/pub.pem -signature $tmp/s2 $tmp/p2 2>&1`;
like($v, qr/Verified OK/, 'the cosign signature verifies with the public key');
is(decode_json($p)->{critical}{image}{'docker-manifest-digest'}, $image_d,
   'and names the image digest');
write_file("$tmp/p3", $p . ' ');
$v = `openssl dgst -sha256 -verify $tmp/pub.pem -signature $tmp/s2 $tmp/p3 2>&1`;
unlike($v, qr/Verified OK/, 'a changed payload does not verify');

$r = $http->get($t->url("/v2/sig/app/referrers/$image_d"));
my %types = map { $_->{digest} => $_->{artifactType} }
            @{ decode_json($r->{content})->{manifests} };
is_deeply(\%types, { $referrer_d => 'application/vnd.dev.cosign.artifact.sig.v1+json',
                     $notation_d => 'application/vnd.cncf.notary.signature' },
          'referrers: the cosign referrer and the notation signature with artifactTypes');

$r = $http->get($t->url("/v2/sig/app/referrers/$image_d?artifactType="
                        . 'application%2Fvnd.cncf.notary.signature'));
my $idx = decode_json($r->{content});
is_deeply([ map { $_->{digest} } @{ $idx->{manifests} } ], [ $notation_d ],
          'notation finds its signature with the filter');
is($idx->{manifests}[0]{annotations}{'io.cncf.notary.x509chain.thumbprint#S256'},
   '["abc"]', 'with its annotations');

# --- other artifacts round-trip unchanged

my $sbom = blob('{"spdxVersion":"SPDX-2.3","name":"app"}');
my $empty = blob('{}');
my ($sbom_m, $sbom_d) = manifest(
    artifactType => 'application/spdx+json',
    config => { mediaType => $EMPTY, %$empty },
    layers => [ { mediaType => 'application/spdx+json', %$sbom } ],
    subject => { mediaType => $OCI_M, digest => $image_d, size => length $image });
is(put_manifest($t, 'sig/app', $sbom_d, $sbom_m)->{status}, 201, 'SBOM artifact');

my $chart = blob("\x1f\x8b chart bytes");
my ($helm, $helm_d) = manifest(
    config => { mediaType => 'application/vnd.cncf.helm.config.v1+json',
                %{ blob('{"name":"app","version":"1.0.0"}') } },
    layers => [ { mediaType => 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', %$chart } ]);
is(put_manifest($t, 'sig/app', '1.0.0', $helm)->{status}, 201, 'Helm-like chart');

my $cache_cfg = blob('{"layers":[],"records":[]}');
my $cache = $json->encode({ schemaVersion => 2, mediaType => $OCI_I, manifests => [
    { mediaType => 'application/vnd.oci.image.layer.v1.tar+gzip', %$layer },
    { mediaType => 'application/vnd.buildkit.cacheconfig.v0', %$cache_cfg } ] });
is(put_manifest($t, 'sig/app', 'buildcache', $cache, $OCI_I)->{status}, 201,
   'BuildKit-style cache index (entries are blobs)');

for my $case ([ $sbom_d, $sbom_m ], [ '1.0.0', $helm ], [ 'buildcache', $cache ]) {
    $r = $http->get($t->url("/v2/sig/app/manifests/$case->[0]"));
    ok($r->{content} eq $case->[1], "$case->[0] reads back byte for byte");
}
is($http->get($t->url("/v2/sig/app/blobs/$chart->{digest}"))->{content},
   "\x1f\x8b chart bytes", 'chart content blob reads back');

$t->stop;
$t->check_logs;
done_testing();
