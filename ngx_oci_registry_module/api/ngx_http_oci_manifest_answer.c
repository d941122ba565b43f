
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_manifests.h"
#include "ngx_http_oci_manifest_parse.h"
#include "ngx_http_oci_reply.h"


/*
 * The answer of a manifest GET or HEAD, from Redis or from a mirror's
 * upstream: content negotiation, the digest headers, the bytes.
 */


static ngx_int_t ngx_http_oci_manifest_sandbox(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_manifest_acceptable(ngx_http_request_t *r,
    u_char *type, size_t len);


ngx_int_t
ngx_http_oci_manifest_answer(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_cached_t *m)
{
    if (ngx_http_oci_manifest_acceptable(r, m->type.data, m->type.len)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                       &ctx->route.reference);
    }

    ctx->digest = m->digest;

    if (ngx_http_oci_media_type_json(&m->type) != NGX_OK
        && ngx_http_oci_manifest_sandbox(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* If-None-Match: nginx's not-modified filter answers 304 from it */

    if (ngx_http_oci_add_header(r, "Docker-Content-Digest", &ctx->digest)
        != NGX_OK
        || ngx_http_oci_etag(r, &ctx->digest) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* HEAD: the stored size, no body */

    return ngx_http_oci_send_typed(r, NGX_HTTP_OK, &m->type, m->body,
                                   m->size);
}


/*
 * A manifest stored before pushes were limited to JSON types may have a
 * type a browser renders: it is served, but as an inert download
 */

static ngx_int_t
ngx_http_oci_manifest_sandbox(ngx_http_request_t *r)
{
    static ngx_str_t  sandbox = ngx_string("sandbox");
    static ngx_str_t  attachment = ngx_string("attachment");

    if (ngx_http_oci_add_header(r, "Content-Security-Policy", &sandbox)
        != NGX_OK
        || ngx_http_oci_add_header(r, "Content-Disposition", &attachment)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Content negotiation: without Accept, or with a wildcard, anything goes;
 * otherwise the stored media type must be listed.  Parameters such as
 * ";q=0.5" are ignored.
 */

static ngx_int_t
ngx_http_oci_manifest_acceptable(ngx_http_request_t *r, u_char *type,
    size_t len)
{
    u_char           *p, *last, *end;
    ngx_uint_t        i, seen;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    seen = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) != 0)
        {
            continue;
        }

        seen = 1;
        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == ',')) {
                p++;
            }

            end = p;
            while (end < last && *end != ',' && *end != ';' && *end != ' ') {
                end++;
            }

            if ((size_t) (end - p) == len && ngx_strncmp(p, type, len) == 0)
            {
                return NGX_OK;
            }

            if (end - p == 3 && ngx_strncmp(p, "*/*", 3) == 0) {
                return NGX_OK;
            }

            while (end < last && *end != ',') {
                end++;
            }

            p = end;
        }
    }

    return seen ? NGX_DECLINED : NGX_OK;
}
