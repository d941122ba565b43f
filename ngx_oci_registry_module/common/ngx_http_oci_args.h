
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_ARGS_H_INCLUDED_
#define _NGX_HTTP_OCI_ARGS_H_INCLUDED_


#include "ngx_http_oci_common.h"


/* slots before the arguments that a script call fills (EVALSHA sha n) */
#define NGX_HTTP_OCI_ARGS_HEAD       3


/*
 * The argument vector of a Redis command, strings and their lengths, in
 * the order they are added: no hand-counted indexes.  More arguments than
 * it was made for, or a failed allocation, mark it failed and the command
 * is not sent.
 */
typedef struct {
    ngx_pool_t                 *pool;        /* NULL: nothing to allocate */
    const char                **argv;        /* after the head slots */
    size_t                     *lens;
    ngx_uint_t                  n;
    ngx_uint_t                  nalloc;
    unsigned                    failed:1;
} ngx_http_oci_args_t;


#define ngx_http_oci_args_str(a, s)                                           \
    ngx_http_oci_args_add(a, (s)->data, (s)->len)

#define ngx_http_oci_args_lit(a, s)                                           \
    ngx_http_oci_args_add(a, (u_char *) s, sizeof(s) - 1)

/* a flag argument of the scripts: "1", or "" */
#define ngx_http_oci_args_flag(a, on)                                         \
    ngx_http_oci_args_add(a, (u_char *) ((on) ? "1" : ""), (on) ? 1 : 0)


ngx_int_t ngx_http_oci_args_init(ngx_http_oci_args_t *a, ngx_pool_t *pool,
    ngx_uint_t n);
void ngx_http_oci_args_init_fixed(ngx_http_oci_args_t *a, const char **argv,
    size_t *lens, ngx_uint_t n);
void ngx_http_oci_args_add(ngx_http_oci_args_t *a, u_char *p, size_t len);
void ngx_http_oci_args_copy(ngx_http_oci_args_t *a, u_char *p, size_t len);
void ngx_http_oci_args_number(ngx_http_oci_args_t *a, off_t n);
void ngx_http_oci_args_key(ngx_http_oci_args_t *a, ngx_str_t *base,
    char *suffix, ngx_str_t *more);


#endif /* _NGX_HTTP_OCI_ARGS_H_INCLUDED_ */
