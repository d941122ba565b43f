
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_BODY_H_INCLUDED_
#define _NGX_HTTP_OCI_BODY_H_INCLUDED_


#include "ngx_http_oci_common.h"


ngx_int_t ngx_http_oci_body_init(ngx_conf_t *cf);
void ngx_http_oci_body_to_sink(ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_sink_t *sink);
void ngx_http_oci_body_to_memory(ngx_http_oci_ctx_t *ctx, u_char *mem,
    size_t max);
ngx_int_t ngx_http_oci_body_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt done);
void ngx_http_oci_body_replay(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


#endif /* _NGX_HTTP_OCI_BODY_H_INCLUDED_ */
