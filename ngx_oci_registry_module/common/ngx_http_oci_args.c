
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_args.h"


/*
 * Room for n arguments, and the head slots before them, in one
 * allocation from the pool (a script's arguments must live until its
 * reply: the request pool).
 */

ngx_int_t
ngx_http_oci_args_init(ngx_http_oci_args_t *a, ngx_pool_t *pool,
    ngx_uint_t n)
{
    u_char      *p;
    ngx_uint_t   total;

    total = n + NGX_HTTP_OCI_ARGS_HEAD;

    p = ngx_palloc(pool, total * (sizeof(char *) + sizeof(size_t)));
    if (p == NULL) {
        return NGX_ERROR;
    }

    a->pool = pool;
    a->argv = (const char **) p + NGX_HTTP_OCI_ARGS_HEAD;
    a->lens = (size_t *) (p + total * sizeof(char *))
              + NGX_HTTP_OCI_ARGS_HEAD;
    a->n = 0;
    a->nalloc = n;
    a->failed = 0;

    return NGX_OK;
}


/* over the caller's arrays (a command sent from where no pool is at hand) */

void
ngx_http_oci_args_init_fixed(ngx_http_oci_args_t *a, const char **argv,
    size_t *lens, ngx_uint_t n)
{
    a->pool = NULL;
    a->argv = argv;
    a->lens = lens;
    a->n = 0;
    a->nalloc = n;
    a->failed = 0;
}


void
ngx_http_oci_args_add(ngx_http_oci_args_t *a, u_char *p, size_t len)
{
    if (a->n == a->nalloc) {
        a->failed = 1;
        return;
    }

    a->argv[a->n] = len ? (const char *) p : "";
    a->lens[a->n] = len;
    a->n++;
}


/* an argument that must outlive its source (a reply) */

void
ngx_http_oci_args_copy(ngx_http_oci_args_t *a, u_char *p, size_t len)
{
    u_char  *c;

    c = a->pool ? ngx_pnalloc(a->pool, len + 1) : NULL;
    if (c == NULL) {
        a->failed = 1;
        return;
    }

    ngx_memcpy(c, p, len);
    ngx_http_oci_args_add(a, c, len);
}


void
ngx_http_oci_args_number(ngx_http_oci_args_t *a, off_t n)
{
    u_char  *p;

    p = a->pool ? ngx_pnalloc(a->pool, NGX_OFF_T_LEN) : NULL;
    if (p == NULL) {
        a->failed = 1;
        return;
    }

    ngx_http_oci_args_add(a, p, ngx_sprintf(p, "%O", n) - p);
}


/* "<base><suffix><more>", a key of the repository (more may be NULL) */

void
ngx_http_oci_args_key(ngx_http_oci_args_t *a, ngx_str_t *base, char *suffix,
    ngx_str_t *more)
{
    u_char  *p, *key;
    size_t   len;

    len = ngx_strlen(suffix);

    key = a->pool ? ngx_pnalloc(a->pool, base->len + len
                                         + (more ? more->len : 0))
                  : NULL;
    if (key == NULL) {
        a->failed = 1;
        return;
    }

    p = ngx_cpymem(key, base->data, base->len);
    p = ngx_cpymem(p, suffix, len);

    if (more) {
        p = ngx_cpymem(p, more->data, more->len);
    }

    ngx_http_oci_args_add(a, key, p - key);
}
