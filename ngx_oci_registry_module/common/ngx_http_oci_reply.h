
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REPLY_H_INCLUDED_
#define _NGX_HTTP_OCI_REPLY_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_json.h"


ngx_int_t ngx_http_oci_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_oci_nosniff_header(ngx_http_request_t *r);
ngx_int_t ngx_http_oci_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len);
ngx_int_t ngx_http_oci_send_typed(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len);
ngx_int_t ngx_http_oci_send_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_oci_err_e err, ngx_str_t *detail);
void ngx_http_oci_finalize_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_oci_err_e err, ngx_str_t *detail);
ngx_int_t ngx_http_oci_suspend(ngx_http_request_t *r, ngx_int_t rc);
void ngx_http_oci_unavailable(ngx_http_request_t *r);
ngx_uint_t ngx_http_oci_errno_status(ngx_log_t *log, ngx_err_t err,
    char *what, u_char *name);
ngx_int_t ngx_http_oci_location(ngx_http_request_t *r, char *kind,
    ngx_str_t *ref);
ngx_int_t ngx_http_oci_created(ngx_http_request_t *r, char *kind,
    ngx_str_t *digest);
ngx_int_t ngx_http_oci_etag(ngx_http_request_t *r, ngx_str_t *digest);
ngx_int_t ngx_http_oci_set_str(ngx_http_request_t *r, ngx_str_t *dst,
    u_char *src, size_t len);
ngx_int_t ngx_http_oci_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);


#endif /* _NGX_HTTP_OCI_REPLY_H_INCLUDED_ */
