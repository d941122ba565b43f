# vi:ft=
# GET /v2/<name>/tags/list: lexical order, n/last pagination with Link.
# The tags are seeded straight into the Redis schema documented in
# docs/architecture.md (a sorted set per repository).

use FindBin;
use lib "$FindBin::Bin/lib";
BEGIN {
    if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/lib/fallback" }
    else { push @INC, "$FindBin::Bin/lib/fallback" }
}
use Test::Nginx::Socket 'no_plan';
use OciTest::Blocks;
use OciTest::Redis;

our $config = <<'_EOC_';
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t004:;
    }
_EOC_

my $port = $ENV{TEST_NGINX_REDIS_PORT} or die "TEST_NGINX_REDIS_PORT unset";
my $key = 't004:{lib/app}:tags';

OciTest::Redis::command($port, 'DEL', $key);
OciTest::Redis::command($port, 'ZADD', $key,
                        map { (0, $_) } qw(v1.10 v1.2 latest V2 1.0 v1.9));

add_block_preprocessor(sub {
    my $block = shift;
    OciTest::Blocks::storage($block);
    $block->set_value("config", $::config) unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: all tags in byte order, no Link when nothing follows
--- request
GET /v2/lib/app/tags/list
--- error_code: 200
--- response_headers
Content-Type: application/json
!Link
--- response_body chomp
{"name":"lib/app","tags":["1.0","V2","latest","v1.10","v1.2","v1.9"]}



=== TEST 2: n limits the page and Link points at the next one
--- request
GET /v2/lib/app/tags/list?n=2
--- error_code: 200
--- response_headers
Link: </v2/lib/app/tags/list?n=2&last=V2>; rel="next"
--- response_body chomp
{"name":"lib/app","tags":["1.0","V2"]}



=== TEST 3: following Link pages through every tag exactly once
--- request eval
[ "GET /v2/lib/app/tags/list?n=2&last=V2",
  "GET /v2/lib/app/tags/list?n=2&last=v1.10",
  "GET /v2/lib/app/tags/list?n=2&last=v1.9" ]
--- error_code eval
[200, 200, 200]
--- response_body eval
[ qq!{"name":"lib/app","tags":["latest","v1.10"]}!,
  qq!{"name":"lib/app","tags":["v1.2","v1.9"]}!,
  qq!{"name":"lib/app","tags":[]}! ]
--- raw_response_headers_like eval
[ qr/Link: <\/v2\/lib\/app\/tags\/list\?n=2&last=v1\.10>; rel="next"/,
  qr/^(?!.*Link:)/s,
  qr/^(?!.*Link:)/s ]



=== TEST 4: n=0 is an empty list without Link
--- request
GET /v2/lib/app/tags/list?n=0
--- error_code: 200
--- response_headers
!Link
--- response_body chomp
{"name":"lib/app","tags":[]}



=== TEST 5: huge, negative and non-numeric n are rejected
--- request eval
[ "GET /v2/lib/app/tags/list?n=99999999999999999999",
  "GET /v2/lib/app/tags/list?n=-1",
  "GET /v2/lib/app/tags/list?n=abc",
  "GET /v2/lib/app/tags/list?n=" ]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[ (qr/"code":"PAGINATION_NUMBER_INVALID"/) x 4 ]



=== TEST 6: a large n is served as a capped page, never an error
--- request
GET /v2/lib/app/tags/list?n=1000000000000
--- error_code: 200
--- response_body chomp
{"name":"lib/app","tags":["1.0","V2","latest","v1.10","v1.2","v1.9"]}



=== TEST 7: last must itself be a tag
--- request
GET /v2/lib/app/tags/list?last=a%20b
--- error_code: 400
--- response_body_like chomp
"code":"TAG_INVALID"



=== TEST 8: HEAD has the headers only
--- request
HEAD /v2/lib/app/tags/list?n=1
--- error_code: 200
--- response_headers
Link: </v2/lib/app/tags/list?n=1&last=1.0>; rel="next"
--- response_body chomp
