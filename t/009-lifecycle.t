# vi:ft=
# Lifecycle policies: what ECR refuses, we refuse, saying which rule and
# field (nothing reaches Redis); the endpoints' methods, and a policy
# where deletes are off.  ECR's worked examples, the repository's policy
# and ?at= are in t/flow/lifecycle.t.

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
        oci_registry_key_prefix t009:;
    }

    location /v2/ro/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t009:;
        oci_registry_delete off;
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

=== TEST 1: preview: not JSON
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . 'rules: 1'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*not a JSON policy



=== TEST 2: preview: no rules
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules: an array of 1 to 50 rules



=== TEST 3: preview: two rules with one priority
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rulePriority: two rules have the same priority



=== TEST 4: preview: "any" before another rule
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*a rule with tagStatus any must have the highest rulePriority



=== TEST 5: preview: tagged without a list
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection: tagStatus tagged needs tagPrefixList or tagPatternList



=== TEST 6: preview: untagged with a list
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection: tagPrefixList and tagPatternList are only for tagStatus tagged



=== TEST 7: preview: both lists
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection: tagPrefixList or tagPatternList, not both



=== TEST 8: preview: five wildcards
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.tagPatternList: at most 4 wildcards in a pattern



=== TEST 9: preview: countUnit with a count
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1,"countUnit":"days"},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.countUnit: only with sinceImagePushed



=== TEST 10: preview: sinceImagePushed without countUnit
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":3},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.countUnit: \\"days\\" is required with sinceImagePushed



=== TEST 11: preview: a storage class is refused, not ignored
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","storageClass":"archive","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.storageClass: storage classes are not supported



=== TEST 12: preview: transition is refused
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.action: transition to the archive is not supported, only expire



=== TEST 13: preview: sinceImagePulled only transitions, as in ECR
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePulled","countUnit":"days","countNumber":3},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.countType: sinceImagePulled only transitions images



=== TEST 14: preview: an unknown member
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"},"enabled":true}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]: unknown member \\"enabled\\" of rule



=== TEST 15: preview: two untagged rules
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*only one rule may select untagged images



=== TEST 16: preview: countNumber 0
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.countNumber: a positive integer is required



=== TEST 17: preview: a tag character no tag has
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v 1"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*rules\[0\]\.selection\.tagPrefixList: an entry has a character no tag has



=== TEST 18: preview: a member twice
--- request eval
"POST /v2/lc/app/_lifecycle/preview\n" . '{"rules":[],"rules":[]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID".*a JSON object has the same member twice



=== TEST 19: preview: ?at= must be a unix time
--- request eval
"POST /v2/lc/app/_lifecycle/preview?at=tomorrow\n" . '{"rules":[]}'
--- error_code: 400
--- response_body_like: "code":"POLICY_INVALID"



=== TEST 20: preview is a POST
--- request
GET /v2/lc/app/_lifecycle/preview
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 21: the policy answers GET, HEAD, PUT and DELETE
--- request
POST /v2/lc/app/_lifecycle/policy
--- error_code: 405
--- response_headers
Allow: GET, HEAD, PUT, DELETE



=== TEST 22: no other lifecycle endpoint
--- request
POST /v2/lc/app/_lifecycle/jump
--- error_code: 404
--- response_body_like: "code":"NOT_FOUND"



=== TEST 23: with deletes off, no policy may be set
--- request eval
"PUT /v2/ro/app/_lifecycle/policy\n" . '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
--- error_code: 405
--- response_body_like: "code":"UNSUPPORTED"



=== TEST 24: a policy over ECR's 30720 bytes
--- request eval
"PUT /v2/lc/app/_lifecycle/policy\n" . ('{"rules":[' . (' ' x 30720) . ']}')
--- error_code: 413
--- response_body_like: "code":"POLICY_INVALID"



=== TEST 25: with deletes off, no run either
--- request
POST /v2/ro/app/_lifecycle/run
--- error_code: 405
--- response_body_like: "code":"UNSUPPORTED"



=== TEST 26: a run is a POST
--- request
GET /v2/lc/app/_lifecycle/run
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 27: the operator's policy is in force where the glob matches
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t009:;
        oci_registry_lifecycle_policy ci/* ../html/keep.json;
        oci_registry_lifecycle_policy * ../html/all.json;
    }
--- user_files
>>> keep.json
{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}
>>> all.json
{"rules":[{"rulePriority":9,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500},"action":{"type":"expire"}}]}
--- request
GET /v2/ci/app/_lifecycle/policy
--- error_code: 200
--- response_headers
OCI-Lifecycle-Policy-Source: configuration
--- response_body
{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}



=== TEST 28: the first matching directive counts
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t009:;
        oci_registry_lifecycle_policy ci/* ../html/keep.json;
        oci_registry_lifecycle_policy * ../html/all.json;
    }
--- user_files
>>> keep.json
{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}
>>> all.json
{"rules":[{"rulePriority":9,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500},"action":{"type":"expire"}}]}
--- request
GET /v2/team/ci/app/_lifecycle/policy
--- error_code: 200
--- response_body_like: "rulePriority":9



=== TEST 29: no glob matches: no policy
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t009:;
        oci_registry_lifecycle_policy ci/* ../html/keep.json;
    }
--- user_files
>>> keep.json
{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}
--- request
GET /v2/cix/app/_lifecycle/policy
--- error_code: 404
--- response_body_like: "code":"POLICY_UNKNOWN"



=== TEST 30: a policy file ECR would refuse fails the start, saying why
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_lifecycle_policy * ../html/bad.json;
    }
--- user_files
>>> bad.json
{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}
--- must_die
--- error_log
bad.json": rules[0].selection: tagStatus tagged needs tagPrefixList or tagPatternList



=== TEST 31: a policy file that is not there
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_lifecycle_policy * ../html/none.json;
    }
--- must_die
--- error_log
none.json" failed



=== TEST 32: a glob with a character no name has
--- config
    location /v2/ {
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_lifecycle_policy Team/* ../html/none.json;
    }
--- must_die
--- error_log
invalid repository glob "Team/*"
