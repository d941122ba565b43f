
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_MANIFESTS_H_INCLUDED_
#define _NGX_HTTP_OCI_MANIFESTS_H_INCLUDED_


#include "ngx_http_oci_common.h"


ngx_int_t ngx_http_oci_manifests(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);

/* answers a GET or HEAD with a manifest (the mirror's, once fetched) */
ngx_int_t ngx_http_oci_manifest_answer(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_cached_t *m);


#endif /* _NGX_HTTP_OCI_MANIFESTS_H_INCLUDED_ */
