
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_router.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis_keys.h"
#include "ngx_http_oci_blobs.h"
#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_manifests.h"
#include "ngx_http_oci_referrers.h"
#include "ngx_http_oci_tags.h"
#include "ngx_http_oci_lifecycle.h"
#include "ngx_http_oci_gc.h"
#include "ngx_http_oci_mirror.h"


/*
 * The router: the content handler of an oci_registry location.  It parses
 * the path (r->uri is already percent-decoded and has "." and ".."
 * resolved by nginx; the grammars admit only the spec's character sets),
 * checks the method, and hands the request to its endpoint.  Nothing
 * else: every endpoint lives in a file of its own.
 */


static ngx_int_t ngx_http_oci_route_error(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_err_e err);
static ngx_int_t ngx_http_oci_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);
static ngx_int_t ngx_http_oci_base(ngx_http_request_t *r);


static ngx_str_t  ngx_http_oci_method_names[] = {
    ngx_string("GET"), ngx_string("HEAD"), ngx_string("POST"),
    ngx_string("PUT"), ngx_string("PATCH"), ngx_string("DELETE")
};

static ngx_uint_t  ngx_http_oci_method_bits[] = {
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST,
    NGX_HTTP_PUT, NGX_HTTP_PATCH, NGX_HTTP_DELETE
};


ngx_int_t
ngx_http_oci_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_uint_t                methods;
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_err_e        err;
    ngx_http_oci_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_registry_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = olcf;

    ngx_http_set_ctx(r, ctx, ngx_http_oci_registry_module);

    rc = ngx_http_oci_route_parse(&r->uri, &ctx->route, &err);

    /* the type is known even when a name or reference is bad */
    ctx->routed = (rc != NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_OCI_ERR_NOT_FOUND, &r->uri);
    }

    if (rc != NGX_OK) {
        return ngx_http_oci_route_error(r, ctx, err);
    }

    methods = ngx_http_oci_route_methods(ctx->route.type);

    if (!(r->method & methods)) {
        return ngx_http_oci_not_allowed(r, methods);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oci route:%d name:\"%V\" ref:\"%V\"",
                   (int) ctx->route.type, &ctx->route.name,
                   &ctx->route.reference);

    /* a mirrored repository's local name, and its read-only rule */

    rc = ngx_http_oci_mirror_select(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ctx->route.name.len
        && (ngx_http_oci_key_base(r->pool, &olcf->key_prefix,
                                  &ctx->route.name, &ctx->base)
            != NGX_OK
            || ngx_http_oci_key_outbox(r->pool, olcf, &ctx->base,
                                       &ctx->outbox)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_DELETE && !olcf->delete) {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                       &r->method_name);
    }

    switch (ctx->route.type) {

    case NGX_HTTP_OCI_ROUTE_BASE:
        return ngx_http_oci_base(r);

    case NGX_HTTP_OCI_ROUTE_TAGS:
        return ngx_http_oci_tags(r, ctx);

    case NGX_HTTP_OCI_ROUTE_CATALOG:
        return ngx_http_oci_catalog(r, ctx);

    case NGX_HTTP_OCI_ROUTE_BLOB:
        return ngx_http_oci_blobs(r, ctx);

    case NGX_HTTP_OCI_ROUTE_UPLOAD_START:
    case NGX_HTTP_OCI_ROUTE_UPLOAD:
        return ngx_http_oci_uploads(r, ctx);

    case NGX_HTTP_OCI_ROUTE_MANIFEST:
        return ngx_http_oci_manifests(r, ctx);

    case NGX_HTTP_OCI_ROUTE_REFERRERS:
        return ngx_http_oci_referrers(r, ctx);

    case NGX_HTTP_OCI_ROUTE_GC:
    case NGX_HTTP_OCI_ROUTE_GC_RUN:
    case NGX_HTTP_OCI_ROUTE_GC_USAGE:
        return ngx_http_oci_gc(r, ctx);

    default: /* NGX_HTTP_OCI_ROUTE_LIFECYCLE_* */
        return ngx_http_oci_lifecycle(r, ctx);
    }
}


/*
 * A malformed name, reference or digest: 400, an upload id 404.  A
 * manifest reference that is neither a tag nor a digest names no
 * manifest: GET and HEAD get 404 MANIFEST_UNKNOWN, as for any manifest
 * that is not there (the spec's conformance tests, distribution); a PUT
 * to it stays 400.
 */

static ngx_int_t
ngx_http_oci_route_error(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_err_e err)
{
    ngx_uint_t  status;

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_MANIFEST
        && err != NGX_HTTP_OCI_ERR_NAME_INVALID
        && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                       &ctx->route.reference);
    }

    status = (err == NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN)
             ? NGX_HTTP_NOT_FOUND : NGX_HTTP_BAD_REQUEST;

    return ngx_http_oci_send_error(r, status, err, &r->uri);
}


static ngx_int_t
ngx_http_oci_not_allowed(ngx_http_request_t *r, ngx_uint_t methods)
{
    u_char      *p;
    ngx_str_t    allow;
    ngx_uint_t   i;

    allow.data = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, "
                                             "DELETE"));
    if (allow.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = allow.data;

    for (i = 0; i < sizeof(ngx_http_oci_method_bits) / sizeof(ngx_uint_t);
         i++)
    {
        if (!(methods & ngx_http_oci_method_bits[i])) {
            continue;
        }

        if (p != allow.data) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, ngx_http_oci_method_names[i].data,
                       ngx_http_oci_method_names[i].len);
    }

    allow.len = p - allow.data;

    if (ngx_http_oci_add_header(r, "Allow", &allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                   &r->method_name);
}


/* GET /v2/ (end-1): the API version check docker login starts with */

static ngx_int_t
ngx_http_oci_base(ngx_http_request_t *r)
{
    static u_char  body[] = "{}";

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_send_json(r, NGX_HTTP_OK, body, sizeof(body) - 1);
}
