# vi:ft=
# Garbage collection's endpoints: their answers, methods and arguments,
# and its directives.  What a pass collects, under pushes and after a
# kill -9, is in t/flow/gc.t and t/flow/gc-online.t.

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
        oci_registry_key_prefix t010:;
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

=== TEST 1: the collector's state
--- request
GET /v2/_gc
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"running":(null|\{.*\}),"last":(null|\{.*\}),"requested":(null|"run"|"dry")\}$



=== TEST 2: a dry run asked for
--- request
POST /v2/_gc/run?dry=1
--- error_code: 202
--- response_body: {"requested":"dry"}



=== TEST 3: a pass asked for
--- request
POST /v2/_gc/run?dry=false
--- error_code: 202
--- response_body: {"requested":"run"}



=== TEST 4: dry is a flag
--- request
POST /v2/_gc/run?dry=maybe
--- error_code: 400
--- response_body_like: "code":"UNSUPPORTED".*"detail":"maybe"



=== TEST 5: a pass is asked for with POST only
--- request
GET /v2/_gc/run
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like: "code":"UNSUPPORTED"



=== TEST 6: the state is read only
--- request
DELETE /v2/_gc
--- error_code: 405
--- response_body_like: "code":"UNSUPPORTED"



=== TEST 7: usage of a repository that does not exist
--- request
GET /v2/gc/none/_gc/usage
--- error_code: 404
--- response_body_like: "code":"NAME_UNKNOWN".*"detail":"gc/none"



=== TEST 8: usage is read only
--- request
POST /v2/gc/none/_gc/usage
--- error_code: 405
--- response_body_like: "code":"UNSUPPORTED"



=== TEST 9: Redis away: 503 with the OCI body
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:1;
    }
--- request
GET /v2/_gc
--- error_code: 503
--- response_body_like: "code":"UNAVAILABLE"
--- no_error_log
[alert]
[crit]



=== TEST 10: a grace period that is no time
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_gc_grace soon;
    }
--- must_die
--- error_log
"oci_registry_gc_grace" directive invalid value



=== TEST 11: an interval that is no time
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_gc_interval often;
    }
--- must_die
--- error_log
"oci_registry_gc_interval" directive invalid value



=== TEST 12: referrers on or off
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_gc_referrers maybe;
    }
--- must_die
--- error_log
invalid value "maybe" in "oci_registry_gc_referrers" directive
