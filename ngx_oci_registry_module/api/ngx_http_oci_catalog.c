
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_tags.h"
#include "ngx_http_oci_redis_keys.h"


/*
 * GET /v2/_catalog[?n=&last=]: the repositories that have manifests, a
 * sorted set kept by the manifest script, paged as tags are
 */

ngx_int_t
ngx_http_oci_catalog(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_str_t  key;

    if (ngx_http_oci_key_catalog(r->pool, &ctx->conf->global, &key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_list(r, ctx, &key);
}
