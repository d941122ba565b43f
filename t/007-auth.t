# vi:ft=
# Token auth as a Test::Nginx user would write it: the auth_request
# wiring, the challenge and its OCI body, anonymous pull, and the
# configuration errors of the auth directives.  Tokens signed with real
# keys are in t/flow/auth.t (they need a signer).

use FindBin;
use lib "$FindBin::Bin/lib";
BEGIN {
    if ($ENV{OCI_TEST_FALLBACK}) { unshift @INC, "$FindBin::Bin/lib/fallback" }
    else { push @INC, "$FindBin::Bin/lib/fallback" }
}
use Test::Nginx::Socket 'no_plan';
use OciTest::Blocks;

our $ec_pub = <<'_EOK_';
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/QOwE6l1HBQ2DTLQHSnxQxEQ8bmf
hXEEPRBK7Z8AmtZeX0cMZfx6yToy+xolf90RSeoVwBiyzlCFNSdMrfNSIg==
-----END PUBLIC KEY-----
_EOK_

our $p384_pub = <<'_EOK_';
-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAENKkBPGL0jFmcMIOWAZoMLzgL3nvsl4WW
XxWBlo1AeARHyqbsl8mUqTDQYzPxxyAplRWH6Ba1xpGrR/R+Zfpu6WnOIF8QlxQE
hHLBpo8ABG77bUmdIZaH7MSioYI4reIS
-----END PUBLIC KEY-----
_EOK_

our $rsa1024_pub = <<'_EOK_';
-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCaX+RT1Wb7wCJuioBN26hVLChe
qQW/DiF1fqBSYAnjDSOuR0zPdzRRL/NDT+/v18gfqqR6Q2v6anXVc2RKZK6QpBy2
93H2nd0zKZZIcIE70bX/JvWrJKaD/8EKZWNjgJZPc3nliql2ctAR8fPPjSfXOfWO
Bi4XGg4mF/XP4C1NKwIDAQAB
-----END PUBLIC KEY-----
_EOK_

our $config = <<'_EOC_';
    oci_registry_auth_realm https://auth.example/token;
    oci_registry_auth_service registry.example;
    oci_registry_auth_issuer issuer.example;

    location /v2/ {
        auth_request /_oci_auth;
        error_page 401 403 @oci_denied;
        oci_registry;
        oci_registry_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
        oci_registry_key_prefix t007:;
    }

    location = /_oci_auth {
        internal;
        oci_registry_auth_verify;
        oci_registry_auth_key ../html/ec.pub;
        oci_registry_auth_anonymous_pull public/* library/*;
    }

    location @oci_denied {
        oci_registry_auth_error;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    OciTest::Blocks::storage($block);
    if (!defined $block->config) {
        $block->set_value("config", $::config);
        $block->set_value("user_files", ">>> ec.pub\n$::ec_pub");
    }
});

run_tests();

__DATA__

=== TEST 1: GET /v2/ without a token: the challenge docker login starts from
--- request
GET /v2/
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example"
Content-Type: application/json
--- response_body chomp
{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[]}]}



=== TEST 2: a push is challenged for pull and push on its repository
--- request
POST /v2/team/app/blobs/uploads/
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push"
--- response_body chomp
{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"team/app","Action":"pull"},{"Type":"repository","Name":"team/app","Action":"push"}]}]}



=== TEST 3: HEAD gets the challenge without a body
--- request
HEAD /v2/team/app/manifests/v1
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull"
--- response_body chomp



=== TEST 4: a token that is not a JWT: invalid_token
--- request
GET /v2/team/app/tags/list
--- more_headers
Authorization: Bearer not.a-jwt.at-all
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull",error="invalid_token"
--- error_log
oci auth: token refused



=== TEST 5: anonymous pull of a public repository needs no token
--- request
GET /v2/library/busybox/tags/list
--- error_code: 404
--- response_body chomp
{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":"library/busybox"}]}



=== TEST 6: but pushing to it does
--- request
POST /v2/public/img/blobs/uploads/
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="repository:public/img:pull,push"



=== TEST 7: the catalog is registry:catalog:*
--- request
GET /v2/_catalog
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="registry:catalog:*"



=== TEST 8: the verifier without a key
--- config
    location = /_oci_auth {
        oci_registry_auth_verify;
        oci_registry_auth_realm https://auth.example/token;
        oci_registry_auth_service registry.example;
        oci_registry_auth_issuer issuer.example;
    }
--- must_die
--- error_log
oci_registry_auth_verify needs oci_registry_auth_realm, _service, _issuer and _key or _jwks



=== TEST 9: an EC key on another curve than P-256
--- config
    location = /_oci_auth {
        oci_registry_auth_verify;
        oci_registry_auth_key ../html/p384.pub;
    }
--- user_files eval
">>> p384.pub\n$::p384_pub"
--- must_die
--- error_log
EC keys must be on P-256 (ES256)



=== TEST 10: an RSA key shorter than 2048 bits
--- config
    location = /_oci_auth {
        oci_registry_auth_verify;
        oci_registry_auth_key ../html/rsa.pub;
    }
--- user_files eval
">>> rsa.pub\n$::rsa1024_pub"
--- must_die
--- error_log
RSA keys must have at least 2048 bits



=== TEST 11: a JWKS whose alg does not match the key type
--- config
    location = /_oci_auth {
        oci_registry_auth_verify;
        oci_registry_auth_jwks ../html/jwks.json;
    }
--- user_files
>>> jwks.json
{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","alg":"HS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}
--- must_die
--- error_log
key "k1" of



=== TEST 12: a policy statement that is not one
--- config
    location = /token {
        oci_registry_auth_token;
        oci_registry_auth_policy ../html/policy.conf;
    }
--- user_files
>>> policy.conf
# comment
allow user:demo demo/* pull
allow everyone * pull
--- must_die
--- error_log
invalid statement in line 3 of



=== TEST 13: the token endpoint without a signing key
--- config
    location = /token {
        oci_registry_auth_token;
        oci_registry_auth_policy ../html/policy.conf;
        oci_registry_auth_service registry.example;
        oci_registry_auth_issuer issuer.example;
    }
--- user_files
>>> policy.conf
allow anonymous public/* pull
--- must_die
--- error_log
oci_registry_auth_token needs oci_registry_auth_signing_key, _policy, _service, _issuer and _user



=== TEST 14: the OCI body of a push challenge for a 255-byte name is whole
The error body lists the name once per action; it was sized once per
scope, so a long name overran its buffer (before any login).
--- request eval
"POST /v2/" . ("a" x 255) . "/blobs/uploads/"
--- error_code: 401
--- response_headers eval
"Content-Length: 689"
--- response_body eval
'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"' . ("a" x 255) . '","Action":"pull"},{"Type":"repository","Name":"' . ("a" x 255) . '","Action":"push"}]}]}'



=== TEST 15: a mount from another long-named repository: four actions listed
--- request eval
"POST /v2/" . ("b" x 250) . "/blobs/uploads/?mount=sha256:" . ("0" x 64) . "&from=" . ("c" x 250)
--- error_code: 401
--- response_body eval
'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"' . ("b" x 250) . '","Action":"pull"},{"Type":"repository","Name":"' . ("b" x 250) . '","Action":"push"},{"Type":"repository","Name":"' . ("c" x 250) . '","Action":"pull"}]}]}'



=== TEST 16: the lifecycle endpoints need delete, whatever the method
--- request
GET /v2/team/app/_lifecycle/policy
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:delete"



=== TEST 17: a preview needs delete too (it shows what a policy deletes)
--- request
POST /v2/team/app/_lifecycle/preview
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:delete"
