
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_ROUTER_H_INCLUDED_
#define _NGX_HTTP_OCI_ROUTER_H_INCLUDED_


#include "ngx_http_oci_common.h"


/* the content handler of an oci_registry location */
ngx_int_t ngx_http_oci_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_OCI_ROUTER_H_INCLUDED_ */
