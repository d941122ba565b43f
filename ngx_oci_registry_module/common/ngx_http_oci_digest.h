
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_DIGEST_H_INCLUDED_
#define _NGX_HTTP_OCI_DIGEST_H_INCLUDED_


#include "ngx_http_oci_common.h"


#define NGX_HTTP_OCI_SHA256     1
#define NGX_HTTP_OCI_SHA512     2

/* "sha512:" + 128 hex digits */
#define NGX_HTTP_OCI_DIGEST_MAX  (sizeof("sha512:") - 1 + 128)

/* an exported hash state: a tag, then the raw context */
#define NGX_HTTP_OCI_HASH_STATE_MAX  512


ngx_uint_t ngx_http_oci_hash_alg(ngx_str_t *name);
ngx_http_oci_hash_t *ngx_http_oci_hash_create(ngx_pool_t *pool,
    ngx_uint_t alg);
void ngx_http_oci_hash_update(ngx_http_oci_hash_t *h, u_char *p, size_t len);
size_t ngx_http_oci_hash_export(ngx_http_oci_hash_t *h, u_char *buf);
ngx_int_t ngx_http_oci_hash_import(ngx_http_oci_hash_t *h, u_char *buf,
    size_t len);
size_t ngx_http_oci_hash_final(ngx_http_oci_hash_t *h, u_char *digest);
size_t ngx_http_oci_digest_buf(ngx_uint_t alg, u_char *p, size_t len,
    u_char *digest);
ngx_int_t ngx_http_oci_digest_fd(ngx_fd_t fd, ngx_uint_t alg, off_t size,
    u_char *hex);


#endif /* _NGX_HTTP_OCI_DIGEST_H_INCLUDED_ */
