
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_gc.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_args.h"
#include "ngx_http_oci_json.h"


/*
 * GET /v2/_gc: the collector's pass in progress, the last one's report
 * and a pending request; POST /v2/_gc/run[?dry=1]: a pass as soon as the
 * collector is free (202); GET /v2/<name>/_gc/usage: what a repository
 * holds and what of it no manifest references.
 */


typedef struct {
    char                       *field;       /* in the pass's hash */
    char                       *name;        /* in the JSON */
    ngx_uint_t                  type;        /* 0 number, 1 string, 2 flag */
} ngx_http_oci_gc_field_t;


static ngx_http_oci_gc_field_t  ngx_http_oci_gc_fields[] = {
    { "id", "id", 0 },
    { "phase", "phase", 1 },
    { "trigger", "trigger", 1 },
    { "dry", "dryRun", 2 },
    { "started", "started", 0 },
    { "finished", "finished", 0 },
    { "next", "next", 0 },
    { "repositories", "repositories", 0 },
    { "unlinked", "unlinkedBlobs", 0 },
    { "unlinkedBytes", "unlinkedBytes", 0 },
    { "files", "removedFiles", 0 },
    { "bytes", "removedBytes", 0 },
    { "referrers", "deletedReferrers", 0 },
    { NULL, NULL, 0 }
};


static void ngx_http_oci_gc_status_got(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_gc_status_text(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_gc_object(ngx_http_oci_text_t *t, redisReply *h);
static void ngx_http_oci_gc_requested(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_gc_usage_got(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_gc_usage_text(ngx_http_oci_text_t *t, void *data);


ngx_int_t
ngx_http_oci_gc(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_str_t            value;
    ngx_http_oci_args_t  a;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_args_init(&a, r->pool, 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ctx->route.type) {

    case NGX_HTTP_OCI_ROUTE_GC_RUN:
        ctx->data = "run";

        if (ngx_http_oci_arg(r, "dry", &value) == NGX_OK) {
            if ((value.len == 1 && value.data[0] == '1')
                || (value.len == 4 && ngx_strncmp(value.data, "true", 4)
                                      == 0))
            {
                ctx->data = "dry";

            } else if (!(value.len == 1 && value.data[0] == '0')
                       && !(value.len == 5
                            && ngx_strncmp(value.data, "false", 5) == 0))
            {
                return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                               NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                               &value);
            }
        }

        ngx_http_oci_args_lit(&a, "SET");
        ngx_http_oci_gc_key(&a, ctx->conf, "request");
        ngx_http_oci_args_add(&a, ctx->data, 3);

        return ngx_http_oci_suspend(r,
                   ngx_http_oci_redis_write(r, ctx->conf->redis,
                                            ngx_http_oci_gc_requested, &a));

    case NGX_HTTP_OCI_ROUTE_GC_USAGE:
        ngx_http_oci_args_str(&a, &ctx->base);

        return ngx_http_oci_suspend(r,
                   ngx_http_oci_redis_script(r, ctx->conf->redis,
                                             ngx_http_oci_gc_usage_got,
                                             NGX_HTTP_OCI_SCRIPT_GC_USAGE, 1,
                                             &a));

    default: /* NGX_HTTP_OCI_ROUTE_GC */
        ngx_http_oci_gc_key(&a, ctx->conf, "pass");
        ngx_http_oci_gc_key(&a, ctx->conf, "last");
        ngx_http_oci_gc_key(&a, ctx->conf, "request");

        return ngx_http_oci_suspend(r,
                   ngx_http_oci_redis_script(r, ctx->conf->redis,
                                             ngx_http_oci_gc_status_got,
                                             NGX_HTTP_OCI_SCRIPT_GC_STATUS,
                                             3, &a));
    }
}


static void
ngx_http_oci_gc_requested(ngx_http_request_t *r, redisReply *reply)
{
    u_char              *p;
    ngx_http_oci_ctx_t  *ctx;
    u_char               body[64];

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_STATUS) {
        ngx_http_oci_unavailable(r);
        return;
    }

    p = ngx_sprintf(body, "{\"requested\":\"%s\"}", (char *) ctx->data);

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_ACCEPTED, body, p - body));
}


static void
ngx_http_oci_gc_status_got(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t  body;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (ngx_http_oci_text_build(r->pool, ngx_http_oci_gc_status_text, reply,
                                &body)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_OK, body.data, body.len));
}


static void
ngx_http_oci_gc_status_text(ngx_http_oci_text_t *t, void *data)
{
    redisReply  *reply = data;

    redisReply  *q;

    ngx_http_oci_text_lit(t, "{\"running\":");
    ngx_http_oci_gc_object(t, reply->element[0]);
    ngx_http_oci_text_lit(t, ",\"last\":");
    ngx_http_oci_gc_object(t, reply->element[1]);
    ngx_http_oci_text_lit(t, ",\"requested\":");

    q = reply->element[2];

    if (q->type == REDIS_REPLY_STRING && q->len == 3
        && (ngx_strncmp(q->str, "run", 3) == 0
            || ngx_strncmp(q->str, "dry", 3) == 0))
    {
        ngx_http_oci_text_lit(t, "\"");
        ngx_http_oci_text_add(t, (u_char *) q->str, 3);
        ngx_http_oci_text_lit(t, "\"}");
        return;
    }

    ngx_http_oci_text_lit(t, "null}");
}


/* a pass's hash as JSON: the fields we name, numbers checked; or null */

static void
ngx_http_oci_gc_object(ngx_http_oci_text_t *t, redisReply *h)
{
    size_t                    k;
    ngx_uint_t                i, n;
    redisReply               *f, *v;
    ngx_http_oci_gc_field_t  *gf;

    if (h->elements == 0) {
        ngx_http_oci_text_lit(t, "null");
        return;
    }

    ngx_http_oci_text_lit(t, "{");
    n = 0;

    for (gf = ngx_http_oci_gc_fields; gf->field; gf++) {

        for (i = 0; i + 1 < h->elements; i += 2) {
            f = h->element[i];
            v = h->element[i + 1];

            if (f->type != REDIS_REPLY_STRING
                || v->type != REDIS_REPLY_STRING
                || f->len != ngx_strlen(gf->field)
                || ngx_strncmp(f->str, gf->field, f->len) != 0)
            {
                continue;
            }

            if (gf->type == 0) {
                for (k = 0; k < v->len; k++) {
                    if (v->str[k] < '0' || v->str[k] > '9') {
                        break;
                    }
                }

                if (v->len == 0 || k < v->len) {
                    break;
                }
            }

            if (n++) {
                ngx_http_oci_text_lit(t, ",");
            }

            ngx_http_oci_text_lit(t, "\"");
            ngx_http_oci_text_add(t, (u_char *) gf->name,
                                  ngx_strlen(gf->name));
            ngx_http_oci_text_lit(t, "\":");

            if (gf->type == 2) {
                if (v->len == 1 && v->str[0] == '1') {
                    ngx_http_oci_text_lit(t, "true");

                } else {
                    ngx_http_oci_text_lit(t, "false");
                }

            } else if (gf->type == 1) {
                ngx_http_oci_text_lit(t, "\"");
                ngx_http_oci_text_json(t, (u_char *) v->str, v->len);
                ngx_http_oci_text_lit(t, "\"");

            } else {
                ngx_http_oci_text_add(t, (u_char *) v->str, v->len);
            }

            break;
        }
    }

    ngx_http_oci_text_lit(t, "}");
}


static void
ngx_http_oci_gc_usage_got(ngx_http_request_t *r, redisReply *reply)
{
    ngx_uint_t           i;
    ngx_str_t            body;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
        ngx_http_oci_unavailable(r);
        return;
    }

    for (i = 0; i < 6; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            ngx_http_oci_unavailable(r);
            return;
        }
    }

    if (reply->element[0]->integer == 0 && reply->element[4]->integer == 0
        && reply->element[5]->integer == 0)
    {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_NAME_UNKNOWN,
                                    &ctx->route.name);
        return;
    }

    ctx->data = reply;

    if (ngx_http_oci_text_build(r->pool, ngx_http_oci_gc_usage_text, ctx,
                                &body)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_OK, body.data, body.len));
}


static void
ngx_http_oci_gc_usage_text(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_ctx_t  *ctx = data;

    redisReply  *reply;

    reply = ctx->data;

    ngx_http_oci_text_lit(t, "{\"repository\":\"");
    ngx_http_oci_text_json(t, ctx->route.name.data, ctx->route.name.len);
    ngx_http_oci_text_lit(t, "\",\"blobs\":");
    ngx_http_oci_text_number(t, (off_t) reply->element[0]->integer);
    ngx_http_oci_text_lit(t, ",\"blobBytes\":");
    ngx_http_oci_text_number(t, (off_t) reply->element[1]->integer);
    ngx_http_oci_text_lit(t, ",\"unreferencedBlobs\":");
    ngx_http_oci_text_number(t, (off_t) reply->element[2]->integer);
    ngx_http_oci_text_lit(t, ",\"reclaimableBytes\":");
    ngx_http_oci_text_number(t, (off_t) reply->element[3]->integer);
    ngx_http_oci_text_lit(t, ",\"manifests\":");
    ngx_http_oci_text_number(t, (off_t) reply->element[4]->integer);
    ngx_http_oci_text_lit(t, ",\"tags\":");
    ngx_http_oci_text_number(t, (off_t) reply->element[5]->integer);
    ngx_http_oci_text_lit(t, "}");
}
