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



=== TEST 14: sentinels without the master's name
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis sentinel=127.0.0.1:26379;
    }
--- must_die
--- error_log
"oci_registry_redis" directive needs "master=" with "sentinel="



=== TEST 15: an address and sentinels
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                           sentinel=127.0.0.1:26379 master=m;
    }
--- must_die
--- error_log
"oci_registry_redis" directive takes either an address or sentinels, not both



=== TEST 16: a master's name without sentinels
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT master=m;
    }
--- must_die
--- error_log
"oci_registry_redis" directive takes "master=" and "sentinel_password=" only with "sentinel="



=== TEST 17: a WAIT that would outlast the command timeout
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT wait=1
                           wait_timeout=2s timeout=2s;
    }
--- must_die
--- error_log
"oci_registry_redis" directive needs "wait_timeout=" shorter than "timeout="



=== TEST 18: a sentinel on a unix socket
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis sentinel=unix:/tmp/sentinel.sock master=m;
    }
--- must_die
--- error_log
"oci_registry_redis" directive has a sentinel on a unix socket



=== TEST 19: too many replicas to wait for
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT wait=65;
    }
--- must_die
--- error_log
invalid parameter "wait=65" of "oci_registry_redis"



=== TEST 20: no sentinel answers: 503 with the OCI body, no crash
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis sentinel=127.0.0.1:1 master=m;
    }
--- request
GET /v2/library/app/tags/list
--- error_code: 503
--- response_body_like: "code":"UNAVAILABLE"
--- error_log
sentinel 127.0.0.1:1
--- no_error_log
[alert]
[crit]



=== TEST 21: a mirror URL that is not http:// or https://
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror hub ftp://registry.example;
    }
--- must_die
--- error_log
mirror URL "ftp://registry.example" is not http:// or https://



=== TEST 22: two mirrors with one prefix
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror hub http://127.0.0.1:1;
        oci_registry_mirror hub http://127.0.0.1:2;
    }
--- must_die
--- error_log
duplicate mirror prefix "hub"



=== TEST 23: two default mirrors
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror a http://127.0.0.1:1 default;
        oci_registry_mirror b http://127.0.0.1:2 default;
    }
--- must_die
--- error_log
only one mirror can be the default



=== TEST 24: an unknown mirror parameter, a bad TTL, a bad prefix
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror hub http://127.0.0.1:1 ttl=soon;
    }
--- must_die
--- error_log
invalid mirror parameter "ttl=soon"



=== TEST 25: a mirror prefix that is not a repository name
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror Hub http://127.0.0.1:1;
    }
--- must_die
--- error_log
mirror prefix "Hub" is not a repository name



=== TEST 26: the default mirror (?ns= names no mirror: no OCI-Namespace), its upstream down: 502 with the OCI body
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror hub http://127.0.0.1:1 default;
    }
    location = /_oci_mirror {
        internal;
        proxy_pass $oci_mirror_url;
        proxy_pass_request_headers off;
        proxy_buffering off;
    }
--- request
GET /v2/library/app/manifests/v1?ns=docker.io
--- error_code: 502
--- response_headers
OCI-Namespace:
--- response_body_like: "code":"UNAVAILABLE"
--- error_log
mirror "hub": /v2/library/app/manifests/v1 answered 502
--- no_error_log
[alert]
[crit]



=== TEST 27: a read-only mirror refuses an upload: 405 UNSUPPORTED
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_mirror hub http://127.0.0.1:1;
    }
--- request
POST /v2/hub/library/app/blobs/uploads/
--- error_code: 405
--- response_body_like: "code":"UNSUPPORTED"



=== TEST 28: a Redis Cluster has database 0 only
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis cluster=127.0.0.1:$TEST_NGINX_REDIS_PORT db=2;
    }
--- must_die
--- error_log
takes no "db=" with "cluster=": a cluster has database 0 only



=== TEST 29: cluster nodes and a plain address together
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT
                           cluster=127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- must_die
--- error_log
takes an address, sentinels or cluster nodes, one of them
