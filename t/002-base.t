# vi:ft=
# GET /v2/: the API version check every client starts with.

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

add_block_preprocessor(sub {
    my $block = shift;
    OciTest::Blocks::storage($block);
    $block->set_value("config", $::config) unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: GET /v2/ answers 200 {} with the API version header
--- request
GET /v2/
--- error_code: 200
--- response_headers
Docker-Distribution-API-Version: registry/2.0
Content-Type: application/json
Content-Length: 2
--- response_body chomp
{}
--- no_error_log
[error]



=== TEST 2: /v2 without the trailing slash is the same endpoint
--- config
    location /v2 {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- request
GET /v2
--- error_code: 200
--- response_body chomp
{}



=== TEST 3: HEAD /v2/ has the headers and no body
--- request
HEAD /v2/
--- error_code: 200
--- response_headers
Docker-Distribution-API-Version: registry/2.0
Content-Length: 2
--- response_body chomp



=== TEST 4: POST /v2/ is not allowed, with Allow and the OCI error body
--- request
POST /v2/
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_body chomp
{"errors":[{"code":"UNSUPPORTED","message":"the operation is unsupported","detail":"POST"}]}



=== TEST 5: GET /v2/ does not need Redis
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:1;
    }
--- request
GET /v2/
--- error_code: 200
--- response_body chomp
{}
