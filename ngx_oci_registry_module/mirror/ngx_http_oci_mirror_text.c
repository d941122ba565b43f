
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_mirror_text.h"
#include "ngx_http_oci_json.h"


/* <scheme> key="value", key=value, ... */

ngx_int_t
ngx_http_oci_challenge_parse(ngx_str_t *text, ngx_http_oci_challenge_t *c)
{
    u_char     *p, *last, *k;
    ngx_str_t   key, value, *dst;

    p = text->data;
    last = p + text->len;

    k = p;
    while (p < last && *p != ' ') {
        p++;
    }

    c->scheme.data = k;
    c->scheme.len = p - k;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == ',')) {
            p++;
        }

        if (p == last) {
            break;
        }

        key.data = p;
        while (p < last && *p != '=') {
            p++;
        }

        if (p == last) {
            return NGX_ERROR;
        }

        key.len = p - key.data;
        p++;

        if (p < last && *p == '"') {
            value.data = ++p;
            while (p < last && *p != '"') {
                if (*p == '\\') {
                    /* escapes are not in any registry's challenge */
                    return NGX_ERROR;
                }
                p++;
            }

            if (p == last) {
                return NGX_ERROR;
            }

            value.len = p - value.data;
            p++;

        } else {
            value.data = p;
            while (p < last && *p != ',' && *p != ' ') {
                p++;
            }

            value.len = p - value.data;
        }

        dst = NULL;

        if (key.len == 5 && ngx_strncasecmp(key.data, (u_char *) "realm", 5)
                            == 0)
        {
            dst = &c->realm;

        } else if (key.len == 7
                   && ngx_strncasecmp(key.data, (u_char *) "service", 7)
                      == 0)
        {
            dst = &c->service;

        } else if (key.len == 5
                   && ngx_strncasecmp(key.data, (u_char *) "scope", 5) == 0)
        {
            dst = &c->scope;
        }

        if (dst) {
            *dst = value;
        }
    }

    return NGX_OK;
}


/*
 * {"token": ..., "expires_in": s} (or "access_token"); a token is sent
 * in a header, so only visible ASCII is taken
 */

ngx_int_t
ngx_http_oci_token_parse(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *token, ngx_int_t *ttl)
{
    u_char    *text;
    size_t     i;
    yajl_val   root, v, e;

    if (len == 0 || ngx_http_oci_json_depth_ok(p, len) != NGX_OK) {
        return NGX_ERROR;
    }

    text = ngx_pnalloc(pool, len + 1);
    if (text == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(text, p, len);
    text[len] = '\0';

    if (ngx_http_oci_json_parse(pool, text, &root) != NGX_OK
        || !YAJL_IS_OBJECT(root))
    {
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "token");
    if (v == NULL || !YAJL_IS_STRING(v)) {
        v = ngx_http_oci_json_get(root, "access_token");
    }

    if (v == NULL || !YAJL_IS_STRING(v)) {
        return NGX_ERROR;
    }

    token->data = (u_char *) YAJL_GET_STRING(v);
    token->len = ngx_strlen(token->data);

    if (token->len == 0 || token->len > NGX_HTTP_OCI_TOKEN_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < token->len; i++) {
        if (token->data[i] <= 0x20 || token->data[i] >= 0x7f) {
            return NGX_ERROR;
        }
    }

    /* the token spec's default life is 60 s; kept a little less */

    *ttl = 60;

    e = ngx_http_oci_json_get(root, "expires_in");
    if (e && YAJL_IS_INTEGER(e) && YAJL_GET_INTEGER(e) > 0
        && YAJL_GET_INTEGER(e) < 86400 * 365)
    {
        *ttl = (ngx_int_t) YAJL_GET_INTEGER(e);
    }

    *ttl = (*ttl > 20) ? *ttl - 10 : (*ttl > 1 ? *ttl / 2 : 1);

    return NGX_OK;
}
