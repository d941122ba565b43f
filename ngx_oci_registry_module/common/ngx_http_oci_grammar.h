
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_GRAMMAR_H_INCLUDED_
#define _NGX_HTTP_OCI_GRAMMAR_H_INCLUDED_


#include "ngx_http_oci_common.h"


/*
 * Everything a client puts in a request line: pure parsers, no request,
 * no I/O, no allocation (fuzzed by t/fuzz/fuzz_route.c).
 */

ngx_int_t ngx_http_oci_route_parse(ngx_str_t *uri, ngx_http_oci_route_t *rt,
    ngx_http_oci_err_e *err);
ngx_uint_t ngx_http_oci_route_methods(ngx_http_oci_route_e type);
ngx_int_t ngx_http_oci_name_valid(u_char *p, size_t len);
ngx_int_t ngx_http_oci_tag_valid(u_char *p, size_t len);
ngx_int_t ngx_http_oci_digest_parse(u_char *p, size_t len,
    ngx_http_oci_digest_t *d);
ngx_int_t ngx_http_oci_content_range_parse(u_char *p, size_t len,
    off_t *start, off_t *end);
ngx_int_t ngx_http_oci_arg_next(ngx_str_t *args, u_char **pos, char *name,
    ngx_str_t *value);


#endif /* _NGX_HTTP_OCI_GRAMMAR_H_INCLUDED_ */
