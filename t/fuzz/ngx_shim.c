
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * The few nginx core functions the fuzzed parsers call, for a harness
 * linked without nginx (Debian's nginx-dev ships headers only).  The pool
 * is a list of malloc()ed blocks so that AddressSanitizer sees every
 * allocation's real bounds; fuzz_pool_destroy() runs the cleanups and
 * frees everything after each input.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <stdarg.h>
#include <stdio.h>
#include <ctype.h>
#include <strings.h>

#include "ngx_shim.h"


ngx_pool_t *
fuzz_pool_create(void)
{
    return calloc(1, sizeof(ngx_pool_t));
}


void
fuzz_pool_destroy(ngx_pool_t *pool)
{
    ngx_pool_large_t    *l, *ln;
    ngx_pool_cleanup_t  *c, *cn;

    for (c = pool->cleanup; c; c = cn) {
        cn = c->next;
        if (c->handler) {
            c->handler(c->data);
        }
        free(c);
    }

    for (l = pool->large; l; l = ln) {
        ln = l->next;
        free(l->alloc);
        free(l);
    }

    free(pool);
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    ngx_pool_large_t  *l;

    l = malloc(sizeof(ngx_pool_large_t));
    if (l == NULL) {
        return NULL;
    }

    l->alloc = malloc(size ? size : 1);
    if (l->alloc == NULL) {
        free(l);
        return NULL;
    }

    l->next = pool->large;
    pool->large = l;

    return l->alloc;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);
    if (p) {
        memset(p, 0, size);
    }

    return p;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = calloc(1, sizeof(ngx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    if (size) {
        c->data = ngx_palloc(p, size);
    }

    c->next = p->cleanup;
    p->cleanup = c;

    return c;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *new;

    if (a->nelts == a->nalloc) {
        new = ngx_palloc(a->pool, 2 * a->size * (a->nalloc ? a->nalloc : 1));
        if (new == NULL) {
            return NULL;
        }

        memcpy(new, a->elts, a->size * a->nelts);
        a->elts = new;
        a->nalloc = 2 * (a->nalloc ? a->nalloc : 1);
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


u_char *
ngx_pstrdup(ngx_pool_t *pool, ngx_str_t *src)
{
    u_char  *dst;

    dst = ngx_pnalloc(pool, src->len);
    if (dst) {
        memcpy(dst, src->data, src->len);
    }

    return dst;
}


u_char *
ngx_strstrn(u_char *s1, char *s2, size_t n)
{
    size_t  len;

    len = n + 1;

    for ( /* void */ ; *s1; s1++) {
        if (strncmp((char *) s1, s2, len) == 0) {
            return s1;
        }
    }

    return NULL;
}


off_t
ngx_atoof(u_char *line, size_t n)
{
    off_t  value, cutoff, cutlim;

    if (n == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_OFF_T_VALUE / 10;
    cutlim = NGX_MAX_OFF_T_VALUE % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


/* the conversions our parsers use: %uz %ui %i %O %d %s %V %*s */

u_char *
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    size_t      len;
    va_list     args;
    ngx_str_t  *v;

    va_start(args, fmt);

    while (*fmt) {
        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        fmt++;

        if (strncmp(fmt, "uz", 2) == 0) {
            buf += sprintf((char *) buf, "%zu", va_arg(args, size_t));
            fmt += 2;

        } else if (strncmp(fmt, "ui", 2) == 0) {
            buf += sprintf((char *) buf, "%lu",
                           (unsigned long) va_arg(args, ngx_uint_t));
            fmt += 2;

        } else if (*fmt == 'i') {
            buf += sprintf((char *) buf, "%ld", (long) va_arg(args, ngx_int_t));
            fmt++;

        } else if (*fmt == 'O') {
            buf += sprintf((char *) buf, "%lld",
                           (long long) va_arg(args, off_t));
            fmt++;

        } else if (*fmt == 'd') {
            buf += sprintf((char *) buf, "%d", va_arg(args, int));
            fmt++;

        } else if (*fmt == 's') {
            buf = (u_char *) stpcpy((char *) buf, va_arg(args, char *));
            fmt++;

        } else if (*fmt == 'V') {
            v = va_arg(args, ngx_str_t *);
            memcpy(buf, v->data, v->len);
            buf += v->len;
            fmt++;

        } else if (strncmp(fmt, "*s", 2) == 0) {
            len = va_arg(args, size_t);
            memcpy(buf, va_arg(args, u_char *), len);
            buf += len;
            fmt += 2;

        } else {
            abort();
        }
    }

    va_end(args);

    return buf;
}


/*
 * base64url decoding with the semantics of nginx's: the input ends at a
 * '=', a byte outside the alphabet is an error, so is a length of 4n+1.
 */

ngx_int_t
ngx_decode_base64url(ngx_str_t *dst, ngx_str_t *src)
{
    int       v;
    size_t    len, i;
    u_char    c, *d;
    uint32_t  acc;
    int       bits;

    for (len = 0; len < src->len && src->data[len] != '='; len++) {
        c = src->data[len];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    d = dst->data;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        c = src->data[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '-') {
            v = 62;
        } else {
            v = 63;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
        }
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


/* percent-decoding as nginx's type 0: %XX only, a bad escape is kept */

void
ngx_unescape_uri(u_char **dst, u_char **src, size_t size, ngx_uint_t type)
{
    u_char  *d, *s, c, h, l;

    d = *dst;
    s = *src;

    while (size--) {
        c = *s++;

        if (c == '%' && size >= 2 && isxdigit(s[0]) && isxdigit(s[1])) {
            h = (u_char) (isdigit(s[0]) ? s[0] - '0' : (s[0] | 0x20) - 'a' + 10);
            l = (u_char) (isdigit(s[1]) ? s[1] - '0' : (s[1] | 0x20) - 'a' + 10);
            *d++ = (u_char) (h << 4 | l);
            s += 2;
            size -= 2;
            continue;
        }

        *d++ = c;
    }

    *dst = d;
    *src = s;
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    return strncasecmp((char *) s1, (char *) s2, n);
}
