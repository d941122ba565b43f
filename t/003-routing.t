# vi:ft=
# Routing: names, tags, digests and upload ids are validated against the
# spec's grammar before anything touches Redis or the disk; every failure
# is the OCI error JSON with the spec's status.

use FindBin;
use lib "$FindBin::Bin/lib";
BEGIN {
    if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/lib/fallback" }
    else { push @INC, "$FindBin::Bin/lib/fallback" }
}
use Test::Nginx::Socket 'no_plan';
use OciTest::Blocks;

our $config = <<'_EOC_';
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
_EOC_

our $long_name = join('/', ('a' x 50) x 5) . 'b';    # 255 bytes
our $too_long = $long_name . 'c';                    # 256 bytes
our $d256 = 'sha256:' . ('a' x 64);

add_block_preprocessor(sub {
    my $block = shift;
    OciTest::Blocks::storage($block);
    $block->set_value("config", $::config) unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: valid multi-component names reach the repository (unknown: 404)
--- request eval
[ "GET /v2/routing-test/a/tags/list",
  "GET /v2/routing.test/x_y/z__w/tags/list",
  "GET /v2/r0uting---test/1/tags/list",
  "GET /v2/$::long_name/tags/list" ]
--- error_code eval
[404, 404, 404, 404]
--- response_body_like eval
[ qr/^\{"errors":\[\{"code":"NAME_UNKNOWN","message":"[^"]+","detail":"routing-test\/a"\}\]\}$/,
  qr/"code":"NAME_UNKNOWN"/,
  qr/"code":"NAME_UNKNOWN"/,
  qr/"code":"NAME_UNKNOWN"/ ]
--- no_error_log
[error]



=== TEST 2: names outside the grammar are NAME_INVALID
--- request eval
[ "GET /v2/Upper/tags/list",
  "GET /v2/a..b/tags/list",
  "GET /v2/a___b/tags/list",
  "GET /v2/-a/tags/list",
  "GET /v2/a-/tags/list",
  "GET /v2/a./tags/list",
  "GET /v2/a/.b/tags/list",
  "GET /v2/a%20b/tags/list",
  "GET /v2/$::too_long/tags/list" ]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[ (qr/^\{"errors":\[\{"code":"NAME_INVALID","message":"invalid repository name","detail":"[^"]*"\}\]\}$/) x 9 ]



=== TEST 3: error details escape client bytes into valid JSON
--- request
GET /v2/a%22b%5c%01%ff/tags/list
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"errors":[{"code":"NAME_INVALID","message":"invalid repository name","detail":"/v2/a\"b\\\u0001\u00ff/tags/list"}]}



=== TEST 4: paths that are no API endpoint are 404 with the OCI body
--- request eval
[ "GET /v2/foo",
  "GET /v2/foo/bar",
  "GET /v2/foo/tags",
  "GET /v2/foo/tags/other",
  "GET /v2/foo/unknown/x" ]
--- error_code eval
[404, 404, 404, 404, 404]
--- response_body_like eval
[ (qr/^\{"errors":\[\{"code":"NOT_FOUND","message":"no such API endpoint"/) x 5 ]



=== TEST 5: a manifest reference that is neither a tag nor a digest is unknown to GET and HEAD
As for any manifest that is not there (the spec's conformance tests and
distribution answer so); a PUT to one is still refused.
--- request eval
[ "GET /v2/foo/manifests/-bad",
  "GET /v2/foo/manifests/" . ("t" x 129),
  "GET /v2/foo/manifests/.INVALID_MANIFEST_NAME",
  "GET /v2/foo/manifests/sha256:abc",
  "GET /v2/foo/manifests/md5:" . ("a" x 32),
  "HEAD /v2/foo/manifests/sha256:" . ("A" x 64),
  "PUT /v2/foo/manifests/.INVALID_MANIFEST_NAME\n{}",
  "PUT /v2/foo/manifests/sha256:abc\n{}" ]
--- error_code eval
[404, 404, 404, 404, 404, 404, 400, 400]
--- response_body_like eval
[ qr/"code":"MANIFEST_UNKNOWN".*"detail":"-bad"/, qr/"code":"MANIFEST_UNKNOWN"/,
  qr/"code":"MANIFEST_UNKNOWN"/, qr/"code":"MANIFEST_UNKNOWN"/,
  qr/"code":"MANIFEST_UNKNOWN"/, qr/^$/,
  qr/"code":"TAG_INVALID"/, qr/"code":"DIGEST_INVALID"/ ]



=== TEST 6: bad blob and referrer digests
--- request eval
[ "GET /v2/foo/blobs/latest",
  "GET /v2/foo/blobs/sha256:" . ("a" x 63),
  "GET /v2/foo/blobs/sha512:" . ("a" x 64),
  "DELETE /v2/foo/blobs/sha1:" . ("a" x 40),
  "GET /v2/foo/referrers/notadigest" ]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body_like eval
[ (qr/"code":"DIGEST_INVALID"/) x 5 ]



=== TEST 7: upload ids that we never issue are unknown uploads, never paths
--- request eval
[ "GET /v2/foo/blobs/uploads/abc..",
  "PATCH /v2/foo/blobs/uploads/abc%2e%2e%5cetc",
  "PUT /v2/foo/blobs/uploads/0123456789abcdef0123456789abcdef0123",
  "DELETE /v2/foo/blobs/uploads/ABCDEF01-2345-6789-abcd-ef0123456789" ]
--- error_code eval
[404, 404, 404, 404]
--- response_body_like eval
[ (qr/"code":"BLOB_UPLOAD_UNKNOWN"/) x 4 ]



=== TEST 8: each endpoint answers 405 with its Allow list
--- request eval
[ "DELETE /v2/foo/tags/list",
  "POST /v2/foo/manifests/latest",
  "PUT /v2/foo/blobs/$::d256",
  "GET /v2/foo/blobs/uploads/",
  "POST /v2/foo/blobs/uploads/01234567-89ab-cdef-0123-456789abcdef",
  "PUT /v2/_catalog",
  "POST /v2/foo/referrers/$::d256" ]
--- error_code eval
[405, 405, 405, 405, 405, 405, 405]
--- response_headers eval
[ "Allow: GET, HEAD",
  "Allow: GET, HEAD, PUT, DELETE",
  "Allow: GET, HEAD, DELETE",
  "Allow: POST",
  "Allow: GET, PUT, PATCH, DELETE",
  "Allow: GET, HEAD",
  "Allow: GET, HEAD" ]
--- response_body_like eval
[ (qr/^\{"errors":\[\{"code":"UNSUPPORTED","message":"[^"]+","detail":"[A-Z]+"\}\]\}$/) x 7 ]



=== TEST 9: "." and ".." segments are resolved by nginx before routing
--- request eval
[ "GET /v2/foo/../routing-dots/tags/list",
  "GET /v2/foo/%2e%2e/routing-dots/tags/list" ]
--- error_code eval
[404, 404]
--- response_body_like eval
[ qr/"code":"NAME_UNKNOWN","message":"[^"]+","detail":"routing-dots"/,
  qr/"code":"NAME_UNKNOWN","message":"[^"]+","detail":"routing-dots"/ ]



=== TEST 10: a Content-Range whose length does not fit a signed 64-bit number
Checked before any arithmetic: 0-9223372036854775807 is 2^63 bytes.
--- request eval
[ "PATCH /v2/range/app/blobs/uploads/00000000-0000-4000-8000-000000000000\r\n\r\nabcde",
  "PATCH /v2/range/app/blobs/uploads/00000000-0000-4000-8000-000000000000\r\n\r\nabcde" ]
--- more_headers eval
[ "Content-Range: 0-9223372036854775807\r\nContent-Length: 5",
  "Content-Range: 9223372036854775807-9223372036854775807\r\nContent-Length: 5" ]
--- error_code eval
[416, 416]
--- response_body_like eval
[ qr/"code":"RANGE_INVALID"/, qr/"code":"RANGE_INVALID"/ ]
