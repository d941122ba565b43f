# vi:ft=
# Directive parsing: bad values must fail `nginx -t` with a clear [emerg].

use FindBin;
use lib "$FindBin::Bin/lib";
BEGIN {
    if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/lib/fallback" }
    else { push @INC, "$FindBin::Bin/lib/fallback" }
}
use Test::Nginx::Socket 'no_plan';
use OciTest::Blocks;

add_block_preprocessor(sub { OciTest::Blocks::storage(shift) });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: oci_registry without a Redis address
--- config
    location /v2/ {
        oci_registry;
    }
--- must_die
--- error_log
"oci_registry" needs "oci_registry_redis" to be set



=== TEST 2: unknown parameter of oci_registry_redis
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT dbx=1;
    }
--- must_die
--- error_log
invalid parameter "dbx=1" of "oci_registry_redis"



=== TEST 3: non-numeric db
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=one;
    }
--- must_die
--- error_log
invalid parameter "db=one" of "oci_registry_redis"



=== TEST 4: zero timeout
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=0;
    }
--- must_die
--- error_log
invalid parameter "timeout=0" of "oci_registry_redis"



=== TEST 5: bad port in the Redis address
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:99999;
    }
--- must_die
--- error_log
invalid port in redis address "127.0.0.1:99999"



=== TEST 6: oci_registry twice in a location
--- config
    location /v2/ {
        oci_registry;
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- must_die
--- error_log
"oci_registry" directive is duplicate



=== TEST 7: oci_registry_redis twice in a location
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- must_die
--- error_log
"oci_registry_redis" directive is duplicate



=== TEST 8: key prefix with a brace would break Redis Cluster hash tags
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix "a{b";
    }
--- must_die
--- error_log
"oci_registry_key_prefix" directive has an invalid character



=== TEST 9: oci_registry takes no arguments
--- config
    location /v2/ {
        oci_registry on;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- must_die
--- error_log
invalid number of arguments in "oci_registry" directive



=== TEST 10: Redis settings inherited from the http level, all parameters
--- http_config
    oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=0 connect_timeout=500ms timeout=3s;
    oci_registry_key_prefix test:;
--- config
    location /v2/ {
        oci_registry;
    }
--- request
GET /v2/
--- error_code: 200
--- response_body chomp
{}
--- no_error_log
[error]



=== TEST 11: Redis over a unix socket path is accepted
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis unix:/nonexistent/redis.sock;
    }
--- request
GET /v2/
--- error_code: 200



=== TEST 12: oci_registry_thread_pool twice
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_thread_pool default;
        oci_registry_thread_pool default;
    }
--- must_die
--- error_log
"oci_registry_thread_pool" directive is duplicate



=== TEST 13: a thread pool that is not declared
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_thread_pool nosuchpool;
    }
--- must_die
--- error_log
unknown thread pool "nosuchpool"
