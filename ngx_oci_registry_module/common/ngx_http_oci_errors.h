
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_ERRORS_H_INCLUDED_
#define _NGX_HTTP_OCI_ERRORS_H_INCLUDED_


#include "ngx_http_oci_common.h"


/* the OCI error body: pure, fuzzed by t/fuzz/fuzz_errors.c */
ngx_int_t ngx_http_oci_error_body(ngx_pool_t *pool, ngx_http_oci_err_e err,
    ngx_str_t *detail, ngx_str_t *out);


#endif /* _NGX_HTTP_OCI_ERRORS_H_INCLUDED_ */
