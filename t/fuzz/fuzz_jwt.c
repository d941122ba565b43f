
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * What a client puts in "Authorization: Bearer": the JWS splitter and
 * header parser, the claims parser (reached here without a signature,
 * which the verifier never allows, so it is fuzzed on its own), the
 * access check, and the scope and glob parsers of the token endpoint.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_auth.h"
#include "ngx_shim.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                   *err;
    u_char                 *buf;
    size_t                  half;
    ngx_str_t               a, b;
    ngx_pool_t             *pool;
    ngx_uint_t              bits;
    ngx_http_oci_jwt_t      jwt;
    ngx_http_oci_access_t   acc;

    /* a heap copy of exactly "size" bytes: ASan catches any overread */
    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    pool = fuzz_pool_create();

    if (ngx_http_oci_jwt_split(pool, buf, size, &jwt, &err) == NGX_OK) {
        if (jwt.alg == 0 || jwt.signature.len == 0
            || jwt.signed_part.data != buf
            || jwt.signed_part.len >= size)
        {
            abort();
        }

        if (ngx_http_oci_jwt_claims(pool, &jwt, &err) == NGX_OK) {
            a.data = (u_char *) "repository";
            a.len = 10;
            b.data = (u_char *) "a/b";
            b.len = 3;
            bits = ngx_http_oci_jwt_granted(&jwt, &a, &b);

            if ((bits & NGX_HTTP_OCI_ACT_ANY)
                && (bits & NGX_HTTP_OCI_ACT_MASK) != NGX_HTTP_OCI_ACT_MASK)
            {
                abort();
            }
        }
    }

    if (ngx_http_oci_scope_parse(buf, size, &acc) == NGX_OK) {
        if (acc.type.len == 0 || acc.name.len == 0
            || acc.name.data + acc.name.len > buf + size)
        {
            abort();
        }
    }

    /* the first half as a glob over the second */
    half = size / 2;
    a.data = buf;
    a.len = half;
    b.data = buf + half;
    b.len = size - half;
    (void) ngx_http_oci_glob_match(&a, &b);

    fuzz_pool_destroy(pool);
    free(buf);

    return 0;
}
