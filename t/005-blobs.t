# vi:ft=
# Blobs: monolithic upload, GET/HEAD with the spec's headers, Range,
# repository links, DELETE.  Blocks build on each other (no_shuffle).

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

our $blob = 'hello blob world';
our $dg = 'sha256:' . sha256_hex($blob);
our $blob512 = 'sha512 bytes';
our $dg512 = 'sha512:' . sha512_hex($blob512);
our $empty = 'sha256:' . sha256_hex('');

our $config = <<'_EOC_';
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t005:;
    }
_EOC_

for my $k (@{ OciTest::Redis::command($ENV{TEST_NGINX_REDIS_PORT}, 'KEYS', 't005:*') }) {
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

=== TEST 1: monolithic upload with ?digest= answers 201 and the blob's Location
--- request eval
"POST /v2/lib/app/blobs/uploads/?digest=$::dg\n$::blob"
--- more_headers
Content-Type: application/octet-stream
--- error_code: 201
--- response_headers eval
"Location: /v2/lib/app/blobs/$::dg
Docker-Content-Digest: $::dg
Content-Length: 0"
--- no_error_log
[error]



=== TEST 2: GET returns the bytes with digest, type, length and ETag
--- request eval
"GET /v2/lib/app/blobs/$::dg"
--- error_code: 200
--- response_headers eval
"Content-Type: application/octet-stream
Content-Length: 16
Docker-Content-Digest: $::dg
ETag: \"$::dg\"
Accept-Ranges: bytes"
--- response_body eval
$::blob



=== TEST 3: HEAD has the same headers and no body
--- request eval
"HEAD /v2/lib/app/blobs/$::dg"
--- error_code: 200
--- response_headers eval
"Content-Length: 16
Docker-Content-Digest: $::dg"
--- response_body chomp



=== TEST 4: ranges: 206 for a satisfiable range, 416 otherwise
--- request eval
[ "GET /v2/lib/app/blobs/$::dg", "GET /v2/lib/app/blobs/$::dg" ]
--- more_headers eval
[ "Range: bytes=6-9", "Range: bytes=100-200" ]
--- error_code eval
[206, 416]
--- response_headers eval
[ "Content-Range: bytes 6-9/16", "Content-Range: bytes */16" ]
--- response_body_like eval
[ qr/^blob$/, qr/.*/s ]



=== TEST 5: a blob is served only from repositories it was pushed or mounted to
--- request eval
"GET /v2/lib/other/blobs/$::dg"
--- error_code: 404
--- response_body eval
qq!{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"$::dg"}]}!



=== TEST 6: a digest that does not match the bytes stores nothing
--- request eval
[ "POST /v2/lib/app/blobs/uploads/?digest=sha256:" . ("0" x 64) . "\nother bytes",
  "GET /v2/lib/app/blobs/sha256:" . ("0" x 64) ]
--- error_code eval
[400, 404]
--- response_body_like eval
[ qr/"code":"DIGEST_INVALID"/, qr/"code":"BLOB_UNKNOWN"/ ]



=== TEST 7: the digest in ?digest= may be percent-encoded, as skopeo sends it
--- request eval
my $enc = $::dg512; $enc =~ s/:/%3A/;
[ "POST /v2/lib/app/blobs/uploads/?digest=$enc\n$::blob512",
  "GET /v2/lib/app/blobs/$::dg512" ]
--- error_code eval
[201, 200]
--- response_body eval
[ "", $::blob512 ]



=== TEST 8: the empty blob
--- request eval
[ "POST /v2/lib/app/blobs/uploads/?digest=$::empty",
  "GET /v2/lib/app/blobs/$::empty" ]
--- more_headers eval
[ "Content-Length: 0", "" ]
--- error_code eval
[201, 200]
--- response_headers eval
[ "Docker-Content-Digest: $::empty", "Content-Length: 0" ]



=== TEST 9: unsupported digest algorithms are DIGEST_INVALID
--- request eval
[ "POST /v2/lib/app/blobs/uploads/?digest=md5:" . ("a" x 32) . "\nx",
  "POST /v2/lib/app/blobs/uploads/?digest-algorithm=md5" ]
--- error_code eval
[400, 400]
--- response_body_like eval
[ qr/"code":"DIGEST_INVALID"/, qr/"code":"DIGEST_INVALID"/ ]



=== TEST 10: POST without digest starts a session: 202, Location, Range, UUID
--- request
POST /v2/lib/app/blobs/uploads/
--- error_code: 202
--- response_headers_like
Location: /v2/lib/app/blobs/uploads/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}
Range: 0-0
Docker-Upload-UUID: [0-9a-f-]{36}



=== TEST 11: status and cancel of an upload we never issued: 404
--- request eval
[ "GET /v2/lib/app/blobs/uploads/01234567-89ab-4def-8123-456789abcdef",
  "DELETE /v2/lib/app/blobs/uploads/01234567-89ab-4def-8123-456789abcdef",
  "PATCH /v2/lib/app/blobs/uploads/01234567-89ab-4def-8123-456789abcdef\nabc" ]
--- error_code eval
[404, 404, 404]
--- response_body_like eval
[ (qr/"code":"BLOB_UPLOAD_UNKNOWN"/) x 3 ]



=== TEST 12: blob bytes are never sniffed into a type
--- request eval
"GET /v2/lib/app/blobs/$::dg"
--- error_code: 200
--- response_headers
X-Content-Type-Options: nosniff
Content-Type: application/octet-stream



=== TEST 13: DELETE unlinks the blob from the repository: 202, then 404
--- request eval
[ "DELETE /v2/lib/app/blobs/$::dg",
  "GET /v2/lib/app/blobs/$::dg",
  "DELETE /v2/lib/app/blobs/$::dg" ]
--- error_code eval
[202, 404, 404]
--- response_body_like eval
[ qr/^$/, qr/"code":"BLOB_UNKNOWN"/, qr/"code":"BLOB_UNKNOWN"/ ]



=== TEST 14: with oci_registry_delete off, DELETE is 405
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t005:;
        oci_registry_delete off;
    }
--- request eval
"DELETE /v2/lib/app/blobs/$::dg512"
--- error_code: 405
--- response_body_like chomp
"code":"UNSUPPORTED"

