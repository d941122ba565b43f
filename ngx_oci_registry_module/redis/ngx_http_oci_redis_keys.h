
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REDIS_KEYS_H_INCLUDED_
#define _NGX_HTTP_OCI_REDIS_KEYS_H_INCLUDED_


#include "ngx_http_oci_common.h"


/*
 * The keys the C side names (the scripts derive the rest from a
 * repository's base); the schema is in docs/architecture.md
 */

ngx_int_t ngx_http_oci_key_base(ngx_pool_t *pool, ngx_str_t *prefix,
    ngx_str_t *name, ngx_str_t *base);
ngx_int_t ngx_http_oci_key_global(ngx_conf_t *cf,
    ngx_http_oci_loc_conf_t *conf);
ngx_int_t ngx_http_oci_key_outbox(ngx_pool_t *pool,
    ngx_http_oci_loc_conf_t *conf, ngx_str_t *base, ngx_str_t *outbox);
ngx_int_t ngx_http_oci_key_catalog(ngx_pool_t *pool, ngx_str_t *prefix,
    ngx_str_t *key);
size_t ngx_http_oci_key_lock(u_char *buf, ngx_str_t *base, ngx_str_t *id);


#endif /* _NGX_HTTP_OCI_REDIS_KEYS_H_INCLUDED_ */
