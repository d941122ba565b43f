# vi:ft=
# Manifests: PUT with validation, GET/HEAD by tag and digest with content
# negotiation, multi-tag PUT, subject/referrers, DELETE semantics.  Blocks
# build on each other (no_shuffle).

use FindBin;
use lib "$FindBin::Bin/lib";
BEGIN {
    if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/lib/fallback" }
    else { push @INC, "$FindBin::Bin/lib/fallback" }
}
use Test::Nginx::Socket 'no_plan';
use OciTest::Blocks;
use Digest::SHA qw(sha256_hex sha512_hex);
use OciTest::Redis;

sub dg { 'sha256:' . sha256_hex($_[0]) }

our $OCI_M = 'application/vnd.oci.image.manifest.v1+json';
our $OCI_I = 'application/vnd.oci.image.index.v1+json';
our $DOCKER_M = 'application/vnd.docker.distribution.manifest.v2+json';

our $cfg = '{"architecture":"amd64","os":"linux"}';
our $layer = 'layer bytes';
our ($cfg_d, $layer_d) = (dg($cfg), dg($layer));
our $missing = 'sha256:' . ('e' x 64);

sub manifest {
    my (%o) = @_;
    my $mt = $o{mediaType} // $OCI_M;
    my $s = qq!{"schemaVersion":2,"mediaType":"$mt",!;
    $s .= qq!"artifactType":"$o{artifactType}",! if $o{artifactType};
    $s .= qq!"config":{"mediaType":"application/vnd.oci.image.config.v1+json",!
        . qq!"digest":"$cfg_d","size":! . length($cfg) . '},';
    $s .= qq!"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",!
        . qq!"digest":"! . ($o{layer} // $layer_d) . qq!","size":11}]!;
    $s .= qq!,"subject":{"mediaType":"$OCI_M","digest":"$o{subject}","size":1}!
        if $o{subject};
    $s .= qq!,"annotations":{"org.example.note":"$o{note}"}! if $o{note};
    return $s . '}';
}

our $m1 = manifest();
our $m1_d = dg($m1);
our $docker_m = manifest(mediaType => $DOCKER_M);
our $docker_d = dg($docker_m);
our $sig = manifest(artifactType => 'application/vnd.example.sig',
                    subject => $m1_d, note => 'signed');
our $sig_d = dg($sig);
our $sbom = manifest(artifactType => 'application/spdx+json',
                     subject => $m1_d);
our $sbom_d = dg($sbom);
our $index = qq!{"schemaVersion":2,"mediaType":"$OCI_I","manifests":[!
    . qq!{"mediaType":"$OCI_M","digest":"$m1_d","size":! . length($m1)
    . qq!,"platform":{"architecture":"amd64","os":"linux"}}]}!;
our $index_d = dg($index);
our $bad_index = $index; $bad_index =~ s/\Q$m1_d\E/$missing/;
our $m512 = manifest(note => 'sha512');
our $m512_d = 'sha512:' . sha512_hex($m512);

# an object of n keys k0..k(n-1), the last one renamed when $dup is set
sub keys_object {
    my ($n, $dup) = @_;
    my @k = map { qq!"k$_":1! } 0 .. $n - 1;
    $k[-1] = '"k0":2' if $dup;
    return '{' . join(',', @k) . '}';
}

our $foreign = '{"schemaVersion":2,"mediaType":"' . $OCI_M . '","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' . $cfg_d . '","size":' . length($cfg) . '},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"' . $layer_d . '","size":11},{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:' . ('1' x 64) . '","size":5},{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:' . ('2' x 64) . '","size":5,"urls":["https://example.com/layer"]},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:' . ('3' x 64) . '","size":5,"urls":["https://example.com/other"]}]}';
our $foreign_d = dg($foreign);

our $many_keys = '{"mediaType":"application/vnd.example.keys+json","a":['
    . join(',', (keys_object(1024)) x 459) . ']}';

our $config = <<'_EOC_';
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t006:;
        oci_registry_manifest_max_size 4k;
    }
_EOC_

for my $k (@{ OciTest::Redis::command($ENV{TEST_NGINX_REDIS_PORT}, 'KEYS', 't006:*') }) {
    OciTest::Redis::command($ENV{TEST_NGINX_REDIS_PORT}, 'DEL', $k);
}

add_block_preprocessor(sub {
    my $block = shift;
    OciTest::Blocks::storage($block);
    $block->set_value("config", $::config) unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: push the config and layer blobs
--- request eval
[ "POST /v2/lib/app/blobs/uploads/?digest=$::cfg_d\n$::cfg",
  "POST /v2/lib/app/blobs/uploads/?digest=$::layer_d\n$::layer" ]
--- error_code eval
[201, 201]



=== TEST 2: PUT by tag stores the manifest: 201, Location, digest
--- request eval
"PUT /v2/lib/app/manifests/v1\n$::m1"
--- more_headers eval
"Content-Type: $::OCI_M"
--- error_code: 201
--- response_headers eval
"Location: /v2/lib/app/manifests/$::m1_d
Docker-Content-Digest: $::m1_d
!OCI-Subject"
--- no_error_log
[error]



=== TEST 3: GET by tag and by digest return the exact bytes and type
--- request eval
[ "GET /v2/lib/app/manifests/v1", "GET /v2/lib/app/manifests/$::m1_d" ]
--- error_code eval
[200, 200]
--- response_headers eval
[ "Content-Type: $::OCI_M\nDocker-Content-Digest: $::m1_d\nETag: \"$::m1_d\"",
  "Content-Type: $::OCI_M\nDocker-Content-Digest: $::m1_d" ]
--- response_body eval
[ $::m1, $::m1 ]



=== TEST 4: HEAD has the length and digest, no body
--- request
HEAD /v2/lib/app/manifests/v1
--- error_code: 200
--- response_headers eval
"Content-Length: " . length($::m1) . "
Docker-Content-Digest: $::m1_d
Content-Type: $::OCI_M"
--- response_body chomp



=== TEST 5: content negotiation: listed type or wildcard, else 404
--- request eval
[ "GET /v2/lib/app/manifests/v1", "GET /v2/lib/app/manifests/v1",
  "GET /v2/lib/app/manifests/v1" ]
--- more_headers eval
[ "Accept: $::DOCKER_M, $::OCI_M;q=0.5",
  "Accept: */*",
  "Accept: $::DOCKER_M" ]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
[ qr/^\{"schemaVersion"/, qr/^\{"schemaVersion"/,
  qr/"code":"MANIFEST_UNKNOWN"/ ]



=== TEST 6: unknown tags and digests are MANIFEST_UNKNOWN
--- request eval
[ "GET /v2/lib/app/manifests/nope", "GET /v2/lib/app/manifests/$::missing",
  "HEAD /v2/lib/app/manifests/nope" ]
--- error_code eval
[404, 404, 404]
--- response_body_like eval
[ qr/"code":"MANIFEST_UNKNOWN"/, qr/"code":"MANIFEST_UNKNOWN"/, qr/^$/ ]



=== TEST 7: PUT by digest must match the bytes
--- request eval
"PUT /v2/lib/app/manifests/$::missing\n$::m1"
--- more_headers eval
"Content-Type: $::OCI_M"
--- error_code: 400
--- response_body_like chomp
"code":"DIGEST_INVALID"



=== TEST 8: a manifest referencing a missing blob is refused, nothing stored
--- request eval
[ "PUT /v2/lib/app/manifests/broken\n" . main::manifest(layer => $::missing),
  "GET /v2/lib/app/manifests/broken" ]
--- more_headers eval
[ "Content-Type: $::OCI_M", "" ]
--- error_code eval
[400, 404]
--- response_body_like eval
[ qr/"code":"MANIFEST_BLOB_UNKNOWN","message":"[^"]+","detail":"$::missing"/,
  qr/"code":"MANIFEST_UNKNOWN"/ ]



=== TEST 9: invalid manifests are MANIFEST_INVALID with the reason
--- request eval
[ "PUT /v2/lib/app/manifests/bad\n{not json",
  "PUT /v2/lib/app/manifests/bad\n" . ('[' x 100) . (']' x 100),
  "PUT /v2/lib/app/manifests/bad\n" . '{"schemaVersion":2,"schemaVersion":2,"mediaType":"' . $::OCI_M . '"}',
  "PUT /v2/lib/app/manifests/bad\n" . '{"schemaVersion":2,"mediaType":"' . $::OCI_M . '","layers":[]}',
  "PUT /v2/lib/app/manifests/bad\n" . $::m1,
  "PUT /v2/lib/app/manifests/bad\n" . '{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}',
  "PUT /v2/lib/app/manifests/bad\n" . '"just a string"' ]
--- more_headers eval
[ "Content-Type: $::OCI_M", "Content-Type: $::OCI_M", "Content-Type: $::OCI_M",
  "Content-Type: $::OCI_M", "Content-Type: $::DOCKER_M", "", "Content-Type: $::OCI_M" ]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[ qr/"code":"MANIFEST_INVALID".*"detail":"manifest is not valid JSON"/,
  qr/"detail":"manifest is nested too deeply"/,
  qr/"detail":"manifest has duplicate keys"/,
  qr/"detail":"manifest without config"/,
  qr/"detail":"mediaType does not match Content-Type"/,
  qr/"detail":"Docker schema 1 manifests are not supported"/,
  qr/"detail":"manifest is not a JSON object"/ ]



=== TEST 10: manifests over oci_registry_manifest_max_size are 413
--- request eval
"PUT /v2/lib/app/manifests/big\n" . ('{"a":"' . ('x' x 5000) . '"}')
--- more_headers eval
"Content-Type: $::OCI_M"
--- error_code: 413
--- response_body_like chomp
"code":"MANIFEST_INVALID"



=== TEST 11: Docker schema 2 and an OCI index over a pushed manifest
--- request eval
[ "PUT /v2/lib/app/manifests/docker\n$::docker_m",
  "PUT /v2/lib/app/manifests/multi\n$::bad_index",
  "PUT /v2/lib/app/manifests/multi\n$::index",
  "GET /v2/lib/app/manifests/multi",
  "GET /v2/lib/app/manifests/docker" ]
--- more_headers eval
[ "Content-Type: $::DOCKER_M", "Content-Type: $::OCI_I",
  "Content-Type: $::OCI_I", "", "" ]
--- error_code eval
[201, 400, 201, 200, 200]
--- response_headers eval
[ "Docker-Content-Digest: $::docker_d", "Content-Type: application/json",
  "Docker-Content-Digest: $::index_d", "Content-Type: $::OCI_I",
  "Content-Type: $::DOCKER_M" ]
--- response_body_like eval
[ qr/^$/, qr/"code":"MANIFEST_BLOB_UNKNOWN"/, qr/^$/,
  qr/^\Q$::index\E$/, qr/^\Q$::docker_m\E$/ ]



=== TEST 12: PUT by digest with ?tag= tags it and answers one OCI-Tag each
--- request eval
"PUT /v2/lib/app/manifests/$::sig_d?tag=sig-a&tag=sig-b\n$::sig"
--- more_headers eval
"Content-Type: $::OCI_M"
--- error_code: 201
--- raw_response_headers_like eval
qr/OCI-Subject: \Q$::m1_d\E\r\n.*OCI-Tag: sig-a\r\nOCI-Tag: sig-b\r\n/s



=== TEST 13: referrers list the manifest with artifactType and annotations
--- request eval
[ "PUT /v2/lib/app/manifests/$::sbom_d\n$::sbom",
  "GET /v2/lib/app/referrers/$::m1_d" ]
--- more_headers eval
[ "Content-Type: $::OCI_M", "" ]
--- error_code eval
[201, 200]
--- response_headers eval
[ "OCI-Subject: $::m1_d",
  "Content-Type: $::OCI_I\n!OCI-Filters-Applied" ]
--- response_body eval
[ "",
  qq!{"schemaVersion":2,"mediaType":"$::OCI_I","manifests":[!
  . CORE::join(',', sort { $a cmp $b }
    qq!{"mediaType":"$::OCI_M","digest":"$::sig_d","size":! . length($::sig)
      . qq!,"artifactType":"application/vnd.example.sig","annotations":{"org.example.note":"signed"}}!,
    qq!{"mediaType":"$::OCI_M","digest":"$::sbom_d","size":! . length($::sbom)
      . qq!,"artifactType":"application/spdx+json"}!)
  . ']}' ]



=== TEST 14: the artifactType filter, and an empty index for unknown subjects
--- request eval
[ "GET /v2/lib/app/referrers/$::m1_d?artifactType=application%2Fspdx%2Bjson",
  "GET /v2/lib/app/referrers/$::missing" ]
--- error_code eval
[200, 200]
--- response_headers eval
[ "OCI-Filters-Applied: artifactType", "!OCI-Filters-Applied" ]
--- response_body eval
[ qq!{"schemaVersion":2,"mediaType":"$::OCI_I","manifests":[{"mediaType":"$::OCI_M","digest":"$::sbom_d","size":! . length($::sbom) . qq!,"artifactType":"application/spdx+json"}]}!,
  qq!{"schemaVersion":2,"mediaType":"$::OCI_I","manifests":[]}! ]



=== TEST 15: tags/list and the catalog see the pushes
--- request eval
[ "GET /v2/lib/app/tags/list", "GET /v2/_catalog" ]
--- error_code eval
[200, 200]
--- response_body eval
[ '{"name":"lib/app","tags":["docker","multi","sig-a","sig-b","v1"]}',
  qr/^\{"repositories":\[.*"lib\/app".*\]\}$/ ]



=== TEST 16: sha512 manifest digests
--- request eval
[ "PUT /v2/lib/app/manifests/$::m512_d\n$::m512",
  "GET /v2/lib/app/manifests/$::m512_d" ]
--- more_headers eval
[ "Content-Type: $::OCI_M", "" ]
--- error_code eval
[201, 200]
--- response_headers eval
[ "Docker-Content-Digest: $::m512_d", "Docker-Content-Digest: $::m512_d" ]



=== TEST 17: DELETE by tag only untags
--- request eval
[ "DELETE /v2/lib/app/manifests/sig-a",
  "GET /v2/lib/app/manifests/sig-a",
  "GET /v2/lib/app/manifests/$::sig_d",
  "DELETE /v2/lib/app/manifests/sig-a" ]
--- error_code eval
[202, 404, 200, 404]



=== TEST 18: DELETE by digest takes its tags and its referrer entry with it
--- request eval
[ "DELETE /v2/lib/app/manifests/$::sig_d",
  "GET /v2/lib/app/manifests/sig-b",
  "GET /v2/lib/app/manifests/$::sig_d",
  "GET /v2/lib/app/tags/list",
  "GET /v2/lib/app/referrers/$::m1_d?artifactType=application%2Fvnd.example.sig" ]
--- error_code eval
[202, 404, 404, 200, 200]
--- response_body_like eval
[ qr/^$/, qr/MANIFEST_UNKNOWN/, qr/MANIFEST_UNKNOWN/,
  qr/^\{"name":"lib\/app","tags":\["docker","multi","v1"\]\}$/,
  qr/"manifests":\[\]/ ]



=== TEST 19: manifest types a browser renders are refused, JSON types kept
A manifest is served with its own media type, on the origin of the token
endpoint: only JSON-shaped application types can be pushed.
--- request eval
[ "PUT /v2/lib/xss/manifests/html\n" . '{"mediaType":"text/html","x":"<script>alert(1)</script>"}',
  "PUT /v2/lib/xss/manifests/html2\n" . '{"x":"<script>alert(1)</script>"}',
  "PUT /v2/lib/xss/manifests/svg\n" . '{"mediaType":"image/svg+xml"}',
  "PUT /v2/lib/xss/manifests/xhtml\n" . '{"mediaType":"application/xhtml+xml"}',
  "PUT /v2/lib/xss/manifests/json\n" . '{"mediaType":"application/vnd.example.thing+json","x":"<b>"}' ]
--- more_headers eval
[ "Content-Type: text/html", "Content-Type: text/html", "", "", "" ]
--- error_code eval
[400, 400, 400, 400, 201]
--- response_body_like eval
[ qr/"code":"MANIFEST_INVALID".*"detail":"a manifest's media type must be application\/json or application\/\*\+json"/,
  qr/"code":"MANIFEST_INVALID"/,
  qr/"code":"MANIFEST_INVALID"/,
  qr/"code":"MANIFEST_INVALID"/,
  qr/^$/ ]



=== TEST 20: every answer tells browsers not to sniff a type
--- request eval
[ "GET /v2/lib/xss/manifests/json", "GET /v2/lib/xss/manifests/html",
  "GET /v2/", "HEAD /v2/lib/xss/manifests/json" ]
--- error_code eval
[200, 404, 200, 200]
--- response_headers eval
[ "X-Content-Type-Options: nosniff\nContent-Type: application/vnd.example.thing+json",
  "X-Content-Type-Options: nosniff", "X-Content-Type-Options: nosniff",
  "X-Content-Type-Options: nosniff" ]



=== TEST 21: a renderable manifest stored before that rule is served sandboxed
--- init
my $p = $ENV{TEST_NGINX_REDIS_PORT};
my $d = 'sha256:' . ('f' x 64);
OciTest::Redis::command($p, 'HSET', "t006:{lib/old}:m:$d", 'type', 'text/html',
                        'body', '<script>alert(1)</script>', 'size', 25);
OciTest::Redis::command($p, 'HSET', 't006:{lib/old}:tagmap', 'page', $d);
--- request
GET /v2/lib/old/manifests/page
--- error_code: 200
--- response_headers
Content-Type: text/html
Content-Security-Policy: sandbox
Content-Disposition: attachment
X-Content-Type-Options: nosniff



=== TEST 22: duplicate keys are found far apart, and the keys of a manifest are bounded
Sorted, not compared pairwise: 459 objects of 1024 keys (4 MiB) cost the
event loop 0.87 s when every pair was compared; now the manifest is
refused for its 470,016 keys.
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t006:;
        oci_registry_manifest_max_size 8m;
    }
--- request eval
[ "PUT /v2/lib/keys/manifests/dup\n" . '{"mediaType":"application/vnd.example.keys+json","a":' . ::keys_object(1024, 1) . '}',
  "PUT /v2/lib/keys/manifests/wide\n" . '{"mediaType":"application/vnd.example.keys+json","a":' . ::keys_object(1025) . '}',
  "PUT /v2/lib/keys/manifests/many\n" . $::many_keys,
  "PUT /v2/lib/keys/manifests/fine\n" . '{"mediaType":"application/vnd.example.keys+json","a":' . ::keys_object(1024) . '}' ]
--- error_code eval
[400, 400, 400, 201]
--- response_body_like eval
[ qr/"detail":"manifest has duplicate keys"/,
  qr/"detail":"manifest has too many keys"/,
  qr/"detail":"manifest has too many keys"/,
  qr/^$/ ]
--- timeout: 10



=== TEST 23: non-distributable layers need not be in the repository
By media type (application/vnd.oci.image.layer.nondistributable.*) or by
"urls" (Docker's foreign layers): their bytes come from elsewhere.  The
config and every other layer still must be there.
--- request eval
[ "PUT /v2/lib/app/manifests/foreign\n" . $::foreign,
  "PUT /v2/lib/app/manifests/foreign2\n" . '{"schemaVersion":2,"mediaType":"' . $::OCI_M . '","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' . $::cfg_d . '","size":' . length($::cfg) . '},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:' . ('4' x 64) . '","size":5}]}' ]
--- more_headers eval
[ "Content-Type: $::OCI_M", "Content-Type: $::OCI_M" ]
--- error_code eval
[201, 400]
--- response_body_like eval
[ qr/^$/, qr/"code":"MANIFEST_BLOB_UNKNOWN".*"detail":"sha256:4444/ ]



=== TEST 24: If-None-Match with a manifest's ETag: 304 from nginx's not-modified filter
--- request eval
[ "GET /v2/lib/app/manifests/foreign", "GET /v2/lib/app/manifests/foreign" ]
--- more_headers eval
[ "If-None-Match: \"sha256:" . ("0" x 64) . "\"", "If-None-Match: \"" . $::foreign_d . "\"" ]
--- error_code eval
[200, 304]
