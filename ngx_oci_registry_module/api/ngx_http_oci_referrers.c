
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_referrers.h"
#include "ngx_http_oci_manifest_parse.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis.h"


/*
 * GET /v2/<name>/referrers/<digest>[?artifactType=] (end-12): an image
 * index of the manifests whose subject is <digest>, built from the
 * descriptors stored at push time.  Never 404: no referrers is an empty
 * index.  A page costs Redis O(log N + n): the filter has an index of its
 * own (see the REFERRERS script).
 */


/*
 * A referrers page holds at most this many bytes of descriptors (but at
 * least one descriptor): the rest follows through Link
 */
#define NGX_HTTP_OCI_REFERRERS_PAGE_BYTES  "1048576"


typedef struct {
    ngx_str_t                   filter;      /* artifactType, or empty */
    ngx_str_t                   last;        /* the previous page's end */
    ngx_int_t                   n;
} ngx_http_oci_referrers_t;


static void ngx_http_oci_referrers_found(ngx_http_request_t *r,
    redisReply *reply);


/*
 * GET /v2/<name>/referrers/<digest>[?artifactType=]: an image index of the
 * manifests whose subject is <digest>, built from the descriptors stored
 * at push time.  Never 404: no referrers is an empty index.
 */

ngx_int_t
ngx_http_oci_referrers(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                  filter, value;
    ngx_http_oci_args_t        a;
    ngx_http_oci_digest_t      d;
    ngx_http_oci_referrers_t  *rf;

    rf = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_referrers_t));

    if (ngx_http_discard_request_body(r) != NGX_OK || rf == NULL
        || ngx_http_oci_args_init(&a, r->pool, 6) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = rf;
    rf->n = NGX_HTTP_OCI_PAGE_MAX;

    if (ngx_http_oci_arg(r, "artifactType", &filter) == NGX_OK
        && filter.len)
    {
        if (filter.len > 1024) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                           NULL);
        }

        rf->filter = filter;
    }

    if (ngx_http_oci_arg(r, "n", &value) == NGX_OK) {
        rf->n = (value.len == 0 || value.len > 18)
                ? NGX_ERROR : ngx_atoi(value.data, value.len);

        if (rf->n == NGX_ERROR || rf->n == 0) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                   NGX_HTTP_OCI_ERR_PAGINATION_NUMBER_INVALID,
                                   &value);
        }

        rf->n = ngx_min(rf->n, NGX_HTTP_OCI_PAGE_MAX);
    }

    if (ngx_http_oci_arg(r, "last", &value) == NGX_OK) {
        if (ngx_http_oci_digest_parse(value.data, value.len, &d) != NGX_OK) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &value);
        }

        rf->last = value;
    }

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_args_str(&a, &ctx->route.digest.text);
    ngx_http_oci_args_str(&a, &rf->filter);
    ngx_http_oci_args_str(&a, &rf->last);
    ngx_http_oci_args_number(&a, rf->n);
    ngx_http_oci_args_lit(&a, NGX_HTTP_OCI_REFERRERS_PAGE_BYTES);

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_referrers_found,
                                   NGX_HTTP_OCI_SCRIPT_REFERRERS, 1, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_referrers_found(ngx_http_request_t *r, redisReply *reply)
{
    u_char                    *body, *p, *q;
    size_t                     len, i;
    ngx_str_t                  applied, type, link;
    redisReply                *e;
    ngx_http_oci_ctx_t        *ctx;
    ngx_http_oci_referrers_t  *rf;

    static u_char  head[] = "{\"schemaVersion\":2,\"mediaType\":\""
                            NGX_HTTP_OCI_MT_OCI_INDEX "\",\"manifests\":[";

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    rf = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (reply->elements == 0 || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    len = sizeof(head) - 1 + sizeof("]}") - 1;

    for (i = 1; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            ngx_http_oci_unavailable(r);
            return;
        }

        len += e->len + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, head, sizeof(head) - 1);

    for (i = 1; i < reply->elements; i++) {
        if (i > 1) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, reply->element[i]->str, reply->element[i]->len);
    }

    p = ngx_cpymem(p, "]}", 2);

    if (rf->filter.len) {
        ngx_str_set(&applied, "artifactType");

        if (ngx_http_oci_add_header(r, "OCI-Filters-Applied", &applied)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    e = reply->element[0];

    if (e->len) {
        /* the filter was percent-decoded: send it encoded again */

        link.len = sizeof("</v2//referrers/?n=&last=&artifactType=>; "
                          "rel=\"next\"") - 1
                   + ctx->route.name.len + ctx->route.digest.text.len
                   + NGX_INT_T_LEN + e->len
                   + 3 * rf->filter.len;
        link.data = ngx_pnalloc(r->pool, link.len);
        if (link.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        q = ngx_sprintf(link.data, "</v2/%V/referrers/%V?n=%i&last=%*s",
                        &ctx->route.name, &ctx->route.digest.text,
                        rf->n, (size_t) e->len, e->str);

        if (rf->filter.len) {
            q = ngx_cpymem(q, "&artifactType=", 14);
            q = (u_char *) ngx_escape_uri(q, rf->filter.data,
                                          rf->filter.len,
                                          NGX_ESCAPE_URI_COMPONENT);
        }

        q = ngx_cpymem(q, ">; rel=\"next\"", 13);
        link.len = q - link.data;

        if (ngx_http_oci_add_header(r, "Link", &link) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_str_set(&type, NGX_HTTP_OCI_MT_OCI_INDEX);

    ngx_http_finalize_request(r, ngx_http_oci_send_typed(r, NGX_HTTP_OK,
                                                         &type, body,
                                                         p - body));
}
