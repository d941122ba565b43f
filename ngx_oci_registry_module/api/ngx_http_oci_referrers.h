
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REFERRERS_H_INCLUDED_
#define _NGX_HTTP_OCI_REFERRERS_H_INCLUDED_


#include "ngx_http_oci_common.h"


ngx_int_t ngx_http_oci_referrers(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


#endif /* _NGX_HTTP_OCI_REFERRERS_H_INCLUDED_ */
