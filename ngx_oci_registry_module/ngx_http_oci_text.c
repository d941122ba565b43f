
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_text.h"


/*
 * Text built in two passes of one function: the first counts, the second
 * writes into exactly what the first counted.  A buffer sized in one loop
 * and filled in another drifts apart as soon as one of them changes (that
 * is how the 401 body once overran its buffer); here the same calls do
 * both.  The writing pass never goes past the counted length even if the
 * two passes were to disagree: it stops and the build fails instead.
 * Pure: no request, no I/O, so the builders can be fuzzed.
 */


ngx_int_t
ngx_http_oci_text_build(ngx_pool_t *pool, ngx_http_oci_text_pt fill,
    void *data, ngx_str_t *out)
{
    ngx_http_oci_text_t  t;

    ngx_memzero(&t, sizeof(ngx_http_oci_text_t));

    fill(&t, data);

    if (t.overflow) {
        return NGX_ERROR;
    }

    t.cap = t.len;
    t.len = 0;

    t.start = ngx_pnalloc(pool, t.cap ? t.cap : 1);
    if (t.start == NULL) {
        return NGX_ERROR;
    }

    t.pos = t.start;

    fill(&t, data);

    if (t.overflow || t.len != t.cap) {
        return NGX_ERROR;
    }

    out->data = t.start;
    out->len = t.len;

    return NGX_OK;
}


void
ngx_http_oci_text_add(ngx_http_oci_text_t *t, u_char *s, size_t len)
{
    if (t->start != NULL) {
        if (len > t->cap - t->len) {
            t->overflow = 1;
            return;
        }

        t->pos = ngx_cpymem(t->pos, s, len);
    }

    t->len += len;
}


/* the body of a JSON string: see ngx_http_oci_json_escape() */

void
ngx_http_oci_text_json(ngx_http_oci_text_t *t, u_char *s, size_t len)
{
    size_t  n;

    n = ngx_http_oci_json_escape_len(s, len);

    if (t->start != NULL) {
        if (n > t->cap - t->len) {
            t->overflow = 1;
            return;
        }

        t->pos = ngx_http_oci_json_escape(t->pos, s, len);
    }

    t->len += n;
}


void
ngx_http_oci_text_number(ngx_http_oci_text_t *t, off_t n)
{
    u_char  buf[NGX_OFF_T_LEN + 1];

    ngx_http_oci_text_add(t, buf, ngx_sprintf(buf, "%O", n) - buf);
}


/*
 * Escapes into the body of a JSON string.  Bytes outside printable ASCII
 * become \u00XX: client input need not be valid UTF-8, the output must be.
 */

size_t
ngx_http_oci_json_escape_len(u_char *src, size_t len)
{
    size_t  n;

    for (n = 0; len; len--, src++) {
        if (*src == '"' || *src == '\\') {
            n += 2;

        } else if (*src < 0x20 || *src >= 0x7f) {
            n += sizeof("\\u00XX") - 1;

        } else {
            n++;
        }
    }

    return n;
}


u_char *
ngx_http_oci_json_escape(u_char *dst, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    for ( /* void */ ; len; len--, src++) {
        if (*src == '"' || *src == '\\') {
            *dst++ = '\\';
            *dst++ = *src;

        } else if (*src < 0x20 || *src >= 0x7f) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];

        } else {
            *dst++ = *src;
        }
    }

    return dst;
}
