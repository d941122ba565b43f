# vi:ft=
# Metrics (oci_registry_metrics), liveness (oci_registry_live) and
# readiness (oci_registry_ready).  Exact counts across workers, Redis
# failures, reloads and a real Prometheus are in t/flow/metrics.t and
# t/flow/health.t; here, what one request shows.  Counts are matched
# with \d+ where an earlier block's requests may be in them (the real
# runner's TEST_NGINX_USE_HUP=1 keeps the counters over its reloads).

use FindBin;
use lib "$FindBin::Bin/lib";
BEGIN {
    if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/lib/fallback" }
    else { push @INC, "$FindBin::Bin/lib/fallback" }
}
use Test::Nginx::Socket 'no_plan';
use OciTest::Blocks;

our $config = <<'_EOC_';
    oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;

    location /v2/ {
        oci_registry;
        oci_registry_key_prefix t008:;
    }

    location = /metrics {
        oci_registry_metrics;
    }

    location = /healthz {
        oci_registry_live;
    }

    location = /readyz {
        oci_registry_ready;
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

=== TEST 1: the exposition: Prometheus text format 0.0.4, every family described
--- request
GET /metrics
--- error_code: 200
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
qr/\A# HELP oci_registry_http_requests_total .+\n# TYPE oci_registry_http_requests_total counter\n.*
^# TYPE oci_registry_http_request_duration_seconds histogram(?=\n).*
^# TYPE oci_registry_auth_decisions_total counter(?=\n).*
^oci_registry_auth_decisions_total\{decision="allowed"\} \d+(?=\n).*
^# TYPE oci_registry_workers gauge(?=\n).*
^oci_registry_uploads_in_flight 0(?=\n).*
^# TYPE oci_registry_redis_command_duration_seconds histogram(?=\n).*
^oci_registry_redis_errors_total\{redis="127.0.0.1:\d+",kind="timeout"\} \d+(?=\n).*
^oci_registry_redis_connections\{redis="127.0.0.1:\d+"\} \d+(?=\n).*
^oci_registry_repository_pulls_total\{repository="_other"\} \d+(?=\n).*
^oci_registry_repository_pushes_total\{repository="_other"\} \d+(?=\n).*
^# TYPE oci_registry_lifecycle_repositories_total counter(?=\n).*
^oci_registry_lifecycle_expired_images_total\{trigger="run"\} \d+(?=\n).*
^oci_registry_lifecycle_expired_referrers_total\{trigger="schedule"\} \d+(?=\n).*
^oci_registry_gc_passes_total\{dry="true"\} \d+(?=\n).*
^oci_registry_gc_deleted_referrers_total \d+(?=\n).*
^# TYPE oci_registry_mirror_fetches_total counter(?=\n).*
^oci_registry_mirror_fetches_total\{kind="tokens",result="failed"\} \d+(?=\n).*
^oci_registry_mirror_rejected_total \d+\n\z/sm
--- no_error_log
[error]



=== TEST 2: requests are counted by endpoint family, method and status class
--- request eval
[ "GET /v2/", "GET /v2/no/such/endpoint", "HEAD /v2/lib/app/manifests/absent",
  "GET /metrics" ]
--- error_code eval
[200, 404, 404, 200]
--- response_body_like eval
[ qr/^\{\}$/, qr/NOT_FOUND/, qr/^$/,
  qr/^oci_registry_http_requests_total\{family="base",method="GET",status="2xx"\} [1-9]\d*(?=\n).*
^oci_registry_http_requests_total\{family="manifests",method="HEAD",status="4xx"\} [1-9]\d*(?=\n).*
^oci_registry_http_requests_total\{family="unknown",method="GET",status="4xx"\} [1-9]\d*(?=\n).*
^oci_registry_http_request_duration_seconds_bucket\{family="base",le="0.001"\} \d+(?=\n).*
^oci_registry_http_request_duration_seconds_bucket\{family="base",le="\+Inf"\} [1-9]\d*(?=\n).*
^oci_registry_http_request_duration_seconds_count\{family="base"\} [1-9]\d*(?=\n).*
^oci_registry_http_received_bytes_total\{family="base"\} [1-9]\d*(?=\n).*
^oci_registry_http_sent_bytes_total\{family="manifests"\} [1-9]\d*(?=\n).*
^oci_registry_redis_command_duration_seconds_count\{redis="127.0.0.1:\d+"\} [1-9]\d*$/sm ]



=== TEST 3: the metrics location itself is not counted, and takes GET and HEAD only
--- request eval
[ "GET /metrics", "HEAD /metrics", "POST /metrics\nx", "GET /metrics" ]
--- error_code eval
[200, 200, 405, 200]
--- response_body_like eval
[ qr/oci_registry_workers/, qr/^$/, qr/405 Not Allowed/,
  qr/\A(?!.*family="unknown",method="(?:HEAD|POST)").*\z/s ]



=== TEST 4: liveness: 200 {"status":"live"}, never cached
--- request eval
[ "GET /healthz", "HEAD /healthz", "DELETE /healthz" ]
--- error_code eval
[200, 200, 405]
--- response_headers eval
[ "Cache-Control: no-store\nContent-Type: application/json", "Cache-Control: no-store", "" ]
--- response_body eval
[ '{"status":"live"}', '', qr/405 Not Allowed/ ]



=== TEST 5: readiness with Redis up and room on disk: 200, each check ok
--- request
GET /readyz
--- error_code: 200
--- response_headers
Cache-Control: no-store
Content-Type: application/json
--- response_body_like chomp
^\{"status":"ready","checks":\{"storage":\{"status":"ok","path":"[^"]+/_uploads","free_bytes":[1-9]\d*,"min_free_bytes":67108864\},"redis":\{"status":"ok","server":"127\.0\.0\.1:\d+","ms":\d+\}\}\}$
--- no_error_log
[error]



=== TEST 6: readiness without Redis: 503, the redis check says why
--- config
    location = /readyz {
        oci_registry_redis 127.0.0.1:1 connect_timeout=200ms;
        oci_registry_ready;
    }
--- request
GET /readyz
--- error_code: 503
--- response_body_like chomp
^\{"status":"unready","checks":\{"storage":\{"status":"ok",.*\},"redis":\{"status":"fail","server":"127\.0\.0\.1:1","ms":\d+,"error":"(?:not connected|no reply[^"]*)"\}\}\}$
--- error_log
oci registry: not ready



=== TEST 7: readiness with less free space than asked: 503, the storage check says why
--- config
    location = /readyz {
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_ready_min_free 1000000g;
        oci_registry_ready;
    }
--- request
GET /readyz
--- error_code: 503
--- response_body_like chomp
^\{"status":"unready","checks":\{"storage":\{"status":"fail","path":"[^"]+","free_bytes":\d+,"min_free_bytes":1073741824000000,"error":"free space below oci_registry_ready_min_free"\},"redis":\{"status":"ok",.*\}\}\}$



=== TEST 8: readiness needs a Redis server to ask
--- config
    location = /readyz {
        oci_registry_ready;
    }
--- must_die
--- error_log
"oci_registry_ready" needs "oci_registry_redis" to be set



=== TEST 9: one handler per location
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_metrics;
    }
--- must_die
--- error_log
"oci_registry_metrics" directive is duplicate, or the location has another handler



=== TEST 10: a cap on repository series of at least one
--- http_config
    oci_registry_metrics_repositories 0;
--- config
    location = /metrics {
        oci_registry_metrics;
    }
--- must_die
--- error_log
oci_registry_metrics_repositories must be 1 to 100000



=== TEST 11: an events endpoint's name goes into Redis keys and labels
--- config
    oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    oci_registry_events_endpoint Hooks! /_hooks;
--- must_die
--- error_log
"oci_registry_events_endpoint" directive has a name that is not [a-z0-9_-]



=== TEST 12: an events endpoint reads its server's Redis
--- config
    oci_registry_events_endpoint hooks /_hooks;
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    }
--- must_die
--- error_log
oci_registry_events_endpoint "hooks" needs "oci_registry_redis" in its server block



=== TEST 13: an events endpoint's parameters are checked
--- config
    oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    oci_registry_events_endpoint hooks /_hooks actions=push,jump;
--- must_die
--- error_log
invalid parameter "actions=push,jump" of "oci_registry_events_endpoint"



=== TEST 14: two endpoints of one name
--- config
    oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    oci_registry_events_endpoint hooks /_hooks;
    oci_registry_events_endpoint hooks /_other;
--- must_die
--- error_log
"oci_registry_events_endpoint" directive has a name another endpoint has
