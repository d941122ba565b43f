
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * What an upstream registry sends a mirror: its WWW-Authenticate
 * challenge (whose realm gets our credentials) and its token endpoint's
 * JSON (whose token goes into a header).  The first byte picks which.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_mirror_text.h"
#include "ngx_shim.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                     i;
    u_char                    *buf;
    ngx_int_t                  ttl;
    ngx_str_t                  text, token;
    ngx_pool_t                *pool;
    ngx_http_oci_challenge_t   c;

    if (size == 0) {
        return 0;
    }

    /* a heap copy of exactly the bytes: ASan catches any overread */
    buf = malloc(size - 1 ? size - 1 : 1);
    memcpy(buf, data + 1, size - 1);

    pool = fuzz_pool_create();

    if (data[0] & 1) {
        text.data = buf;
        text.len = size - 1;
        ngx_memzero(&c, sizeof(ngx_http_oci_challenge_t));

        if (ngx_http_oci_challenge_parse(&text, &c) == NGX_OK) {
            /* every part lies inside the header's bytes */
            ngx_str_t  *parts[] = { &c.scheme, &c.realm, &c.service,
                                    &c.scope };

            for (i = 0; i < 4; i++) {
                if (parts[i]->len
                    && (parts[i]->data < buf
                        || parts[i]->data + parts[i]->len > buf + size - 1))
                {
                    abort();
                }
            }
        }

    } else if (ngx_http_oci_token_parse(pool, buf, size - 1, &token, &ttl)
               == NGX_OK)
    {
        if (token.len == 0 || token.len > NGX_HTTP_OCI_TOKEN_MAX
            || ttl < 1)
        {
            abort();
        }

        for (i = 0; i < token.len; i++) {
            if (token.data[i] <= 0x20 || token.data[i] >= 0x7f) {
                abort();
            }
        }
    }

    fuzz_pool_destroy(pool);
    free(buf);

    return 0;
}
