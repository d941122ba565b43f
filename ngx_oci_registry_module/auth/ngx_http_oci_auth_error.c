
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_auth.h"
#include "ngx_http_oci_reply.h"


/*
 * The OCI error body for the client's 401 or 403, from the named
 * location of the registry's error_page.  The request is still the
 * client's (a named location keeps the URI and method), so the detail
 * lists the actions it needed, as distribution does.
 */

ngx_int_t
ngx_http_oci_auth_error_handler(ngx_http_request_t *r)
{
    ngx_str_t                 body;
    ngx_uint_t                status;
    ngx_http_oci_auth_ctx_t   ctx;

    /*
     * "error_page 401 403 @x" keeps the status in err_status; with "= @x"
     * it is cleared, and only the challenge tells a 401 from a 403.
     */

    status = r->err_status;

    if (status != NGX_HTTP_UNAUTHORIZED && status != NGX_HTTP_FORBIDDEN) {
        status = r->headers_out.www_authenticate ? NGX_HTTP_UNAUTHORIZED
                                                 : NGX_HTTP_FORBIDDEN;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    ngx_memzero(&ctx, sizeof(ngx_http_oci_auth_ctx_t));

    if (ngx_http_oci_scope_needs(r->pool, r->method, &r->uri, &r->args,
                                 ctx.needs, &ctx.nneeds)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_auth_error_body(r->pool, status == NGX_HTTP_FORBIDDEN,
                                     ctx.needs, ctx.nneeds, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_send_json(r, status, body.data, body.len);
}
