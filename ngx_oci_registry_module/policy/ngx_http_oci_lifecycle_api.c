
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_lifecycle.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_body.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_args.h"
#include "ngx_http_oci_redis_keys.h"


/*
 * /v2/<name>/_lifecycle/policy (GET, PUT, DELETE: the repository's
 * policy, ECR's JSON, kept as sent in P{<name>}:lifecycle) and
 * /v2/<name>/_lifecycle/preview (POST: what the policy in the body, or
 * the one in force, expires now or ?at=<unix time>), in ECR's preview
 * shape; /v2/<name>/_lifecycle/run reads the same way and goes on in
 * ngx_http_oci_lifecycle_run.c.
 */


#define NGX_HTTP_OCI_LC_PAGE  1000



static void ngx_http_oci_lc_policy_got(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_lc_policy_body(ngx_http_request_t *r);
static void ngx_http_oci_lc_policy_set(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_lc_policy_deleted(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_lc_read(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_client_body_handler_pt done);
static void ngx_http_oci_lc_preview_body(ngx_http_request_t *r);
static void ngx_http_oci_lc_start(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, u_char *text, size_t len);
static ngx_int_t ngx_http_oci_lc_parsed(ngx_http_request_t *r, u_char *text,
    size_t len, ngx_http_oci_lc_policy_t *policy);
static ngx_int_t ngx_http_oci_lc_page(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_lc_paged(ngx_http_request_t *r, redisReply *reply);
static ngx_int_t ngx_http_oci_lc_image(ngx_pool_t *pool,
    ngx_array_t *images, redisReply *e);
static ngx_int_t ngx_http_oci_lc_copy(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *src);
static void ngx_http_oci_lc_results(ngx_http_oci_text_t *t, void *data);


ngx_int_t
ngx_http_oci_lifecycle(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t               at;
    ngx_str_t               value;
    ngx_http_oci_args_t     a;
    ngx_http_oci_lc_ctx_t  *lc;

    lc = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_lc_ctx_t));
    if (lc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = lc;
    lc->at = ngx_time();

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_LIFECYCLE_RUN) {
        if (!ctx->conf->delete) {
            return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                           NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                           &r->method_name);
        }

        lc->run = 1;

        return ngx_http_oci_lc_read(r, ctx, ngx_http_oci_lc_run_body);
    }

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_LIFECYCLE_PREVIEW) {

        if (ngx_http_oci_arg(r, "at", &value) == NGX_OK) {
            at = ngx_atoi(value.data, value.len);
            if (at == NGX_ERROR) {
                return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                               NGX_HTTP_OCI_ERR_POLICY_INVALID,
                                               &value);
            }

            lc->at = (time_t) at;
        }

        return ngx_http_oci_lc_read(r, ctx, ngx_http_oci_lc_preview_body);
    }

    switch (r->method) {

    case NGX_HTTP_PUT:

        /* a policy deletes: not where the operator turned deletes off */

        if (!ctx->conf->delete) {
            return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                           NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                           &r->method_name);
        }

        return ngx_http_oci_lc_read(r, ctx, ngx_http_oci_lc_policy_body);

    case NGX_HTTP_DELETE:

        if (ngx_http_oci_args_init(&a, r->pool, 2) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_oci_args_lit(&a, "DEL");
        ngx_http_oci_args_key(&a, &ctx->base, "lifecycle", NULL);

        return ngx_http_oci_suspend(r,
                   ngx_http_oci_redis_write(r, ctx->conf->redis,
                                            ngx_http_oci_lc_policy_deleted,
                                            &a));

    default: /* GET, HEAD */
        return ngx_http_oci_suspend(r,
                   ngx_http_oci_lc_policy_get(r, ctx,
                                              ngx_http_oci_lc_policy_got));
    }
}


ngx_int_t
ngx_http_oci_lc_policy_get(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_redis_handler_pt handler)
{
    ngx_http_oci_args_t  a;

    if (ngx_http_oci_args_init(&a, r->pool, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oci_args_lit(&a, "GET");
    ngx_http_oci_args_key(&a, &ctx->base, "lifecycle", NULL);

    return ngx_http_oci_redis_command(r, ctx->conf->redis, handler, &a);
}


static void
ngx_http_oci_lc_policy_got(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t                      source;
    ngx_http_oci_ctx_t            *ctx;
    ngx_http_oci_lc_configured_t  *lc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    /* the policy in force: the repository's, else the operator's */

    if (reply->type == REDIS_REPLY_STRING) {
        ngx_str_set(&source, "repository");

        if (ngx_http_oci_add_header(r, "OCI-Lifecycle-Policy-Source",
                                    &source)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_http_oci_send_json(r, NGX_HTTP_OK, (u_char *) reply->str,
                                   reply->len));
        return;
    }

    lc = ngx_http_oci_lc_configured(ctx->conf, &ctx->route.name);

    if (lc == NULL) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_POLICY_UNKNOWN,
                                    &ctx->route.name);
        return;
    }

    ngx_str_set(&source, "configuration");

    if (ngx_http_oci_add_header(r, "OCI-Lifecycle-Policy-Source", &source)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_OK, lc->text.data, lc->text.len));
}


/* a policy's text into memory, at most what ECR takes */

static ngx_int_t
ngx_http_oci_lc_read(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_client_body_handler_pt done)
{
    u_char  *mem;

    if (r->headers_in.content_length_n > NGX_HTTP_OCI_LC_TEXT_MAX) {
        return ngx_http_oci_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_OCI_ERR_POLICY_INVALID,
                                       NULL);
    }

    mem = ngx_pnalloc(r->pool, NGX_HTTP_OCI_LC_TEXT_MAX);
    if (mem == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_body_to_memory(ctx, mem, NGX_HTTP_OCI_LC_TEXT_MAX);

    return ngx_http_oci_body_read(r, done);
}


static void
ngx_http_oci_lc_policy_body(ngx_http_request_t *r)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_args_t     a;
    ngx_http_oci_lc_ctx_t  *lc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    lc = ctx->data;

    ctx->body.mode = NGX_HTTP_OCI_BODY_NONE;

    if (ctx->body.status) {
        ngx_http_oci_finalize_error(r, ctx->body.status,
                                    NGX_HTTP_OCI_ERR_POLICY_INVALID, NULL);
        return;
    }

    if (ngx_http_oci_lc_parsed(r, ctx->body.mem, ctx->body.mem_len,
                               &lc->policy)
        != NGX_OK)
    {
        return;
    }

    if (ngx_http_oci_args_init(&a, r->pool, 3) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_oci_args_lit(&a, "SET");
    ngx_http_oci_args_key(&a, &ctx->base, "lifecycle", NULL);
    ngx_http_oci_args_add(&a, ctx->body.mem, ctx->body.mem_len);

    if (ngx_http_oci_redis_write(r, ctx->conf->redis,
                                 ngx_http_oci_lc_policy_set, &a)
        != NGX_OK)
    {
        ngx_http_oci_unavailable(r);
    }

    /* the body reading's reference is the command's */
}


static void
ngx_http_oci_lc_policy_set(ngx_http_request_t *r, redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_CREATED, NULL, 0));
}


static void
ngx_http_oci_lc_policy_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_POLICY_UNKNOWN,
                                    &ctx->route.name);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_NO_CONTENT, NULL, 0));
}


/* a policy in the body, or, without one, the repository's */

static void
ngx_http_oci_lc_preview_body(ngx_http_request_t *r)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ctx->body.mode = NGX_HTTP_OCI_BODY_NONE;

    if (ctx->body.status) {
        ngx_http_oci_finalize_error(r, ctx->body.status,
                                    NGX_HTTP_OCI_ERR_POLICY_INVALID, NULL);
        return;
    }

    if (ctx->body.mem_len == 0) {
        if (ngx_http_oci_lc_policy_get(r, ctx,
                                       ngx_http_oci_lc_preview_policy)
            != NGX_OK)
        {
            ngx_http_oci_unavailable(r);
        }

        return;
    }

    ngx_http_oci_lc_start(r, ctx, ctx->body.mem, ctx->body.mem_len);
}




void
ngx_http_oci_lc_preview_policy(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t            *ctx;
    ngx_http_oci_lc_configured_t  *lc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_STRING) {
        lc = ngx_http_oci_lc_configured(ctx->conf, &ctx->route.name);

        if (lc == NULL) {
            ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                        NGX_HTTP_OCI_ERR_POLICY_UNKNOWN,
                                        &ctx->route.name);
            return;
        }

        ngx_http_oci_lc_start(r, ctx, lc->text.data, lc->text.len);
        return;
    }

    /* the reply is freed when this returns: the policy points into a copy */

    ngx_http_oci_lc_start(r, ctx, (u_char *) reply->str, reply->len);
}


/* the policy's text parsed, and the first page of images asked for */

static void
ngx_http_oci_lc_start(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    u_char *text, size_t len)
{
    ngx_http_oci_lc_ctx_t  *lc;

    lc = ctx->data;

    if (ngx_http_oci_lc_parsed(r, text, len, &lc->policy) != NGX_OK) {
        return;
    }

    if (ngx_http_oci_lc_page(r, ctx) != NGX_OK) {
        ngx_http_oci_unavailable(r);
    }
}


/* NGX_OK, or the request has been answered (400 with the reason) */

static ngx_int_t
ngx_http_oci_lc_parsed(ngx_http_request_t *r, u_char *text, size_t len,
    ngx_http_oci_lc_policy_t *policy)
{
    ngx_int_t  rc;
    ngx_str_t  err;

    rc = ngx_http_oci_lc_parse(r->pool, text, len, policy, &err);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_OCI_ERR_POLICY_INVALID, &err);

    } else {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_oci_lc_page(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_http_oci_args_t     a;
    ngx_http_oci_lc_ctx_t  *lc;

    lc = ctx->data;

    if (lc->images.elts == NULL
        && ngx_array_init(&lc->images, r->pool, 64,
                          sizeof(ngx_http_oci_lc_image_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_oci_args_init(&a, r->pool, 3) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_args_number(&a, (off_t) lc->next);
    ngx_http_oci_args_number(&a, NGX_HTTP_OCI_LC_PAGE);

    return ngx_http_oci_redis_script(r, ctx->conf->redis,
                                     ngx_http_oci_lc_paged,
                                     NGX_HTTP_OCI_SCRIPT_LIFECYCLE_IMAGES, 1,
                                     &a);
}


static void
ngx_http_oci_lc_paged(ngx_http_request_t *r, redisReply *reply)
{
    ngx_int_t               rc;
    ngx_str_t               body;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_lc_ctx_t  *lc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    lc = ctx->data;

    rc = ngx_http_oci_lc_page_add(r->pool, &lc->images, &lc->next, reply);

    switch (rc) {

    case NGX_ABORT:
        ngx_http_oci_unavailable(r);
        return;

    case NGX_ERROR:
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;

    case NGX_DECLINED:
        ngx_str_set(&body, "more than 100000 manifests");
        ngx_http_oci_finalize_error(r, NGX_HTTP_FORBIDDEN,
                                    NGX_HTTP_OCI_ERR_DENIED, &body);
        return;

    case NGX_AGAIN:
        if (ngx_http_oci_lc_page(r, ctx) != NGX_OK) {
            ngx_http_oci_unavailable(r);
        }

        return;

    default: /* NGX_OK: the last page */
        break;
    }

    if (ngx_http_oci_lc_evaluate(r->pool, &lc->policy, lc->images.elts,
                                 lc->images.nelts, lc->at)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (lc->run) {
        /* oldest first, as ECR expires */
        lc->todo = lc->images.nelts;
        ngx_http_oci_lc_run_next(r, ctx);
        return;
    }

    ngx_http_oci_lc_answer(r, lc);
}


void
ngx_http_oci_lc_answer(ngx_http_request_t *r, ngx_http_oci_lc_ctx_t *lc)
{
    ngx_str_t  body;

    if (ngx_http_oci_text_build(r->pool, ngx_http_oci_lc_results, lc, &body)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_oci_send_json(r, NGX_HTTP_OK, body.data, body.len));
}






/*
 * A page of LIFECYCLE_IMAGES, {total, entry ...}, into the images:
 * NGX_AGAIN when more pages follow (*next is where), NGX_OK after the
 * last, NGX_DECLINED past NGX_HTTP_OCI_LC_IMAGES_MAX, NGX_ABORT for a
 * reply that is no page, NGX_ERROR without memory
 */

ngx_int_t
ngx_http_oci_lc_page_add(ngx_pool_t *pool, ngx_array_t *images,
    ngx_uint_t *next, redisReply *reply)
{
    size_t  i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return NGX_ABORT;
    }

    for (i = 1; i < reply->elements; i++) {
        if (ngx_http_oci_lc_image(pool, images, reply->element[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    *next += reply->elements - 1;

    if (reply->elements == 1
        || *next >= (ngx_uint_t) reply->element[0]->integer)
    {
        return NGX_OK;
    }

    return (*next >= NGX_HTTP_OCI_LC_IMAGES_MAX) ? NGX_DECLINED : NGX_AGAIN;
}


/*
 * {digest, pushed, flags, tag ...}: copied, the reply is freed after the
 * handler.  A referrer is no image of its own: it goes with its subject.
 */

static ngx_int_t
ngx_http_oci_lc_image(ngx_pool_t *pool, ngx_array_t *images, redisReply *e)
{
    size_t                    i;
    ngx_int_t                 pushed;
    ngx_http_oci_lc_image_t  *image;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3) {
        return NGX_ERROR;
    }

    for (i = 0; i < e->elements; i++) {
        if (e->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }
    }

    if (ngx_strlchr((u_char *) e->element[2]->str,
                    (u_char *) e->element[2]->str + e->element[2]->len, 's')
        != NULL)
    {
        return NGX_OK;
    }

    pushed = ngx_atoi((u_char *) e->element[1]->str, e->element[1]->len);
    if (pushed == NGX_ERROR) {
        return NGX_ERROR;
    }

    image = ngx_array_push(images);
    if (image == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(image, sizeof(ngx_http_oci_lc_image_t));

    image->pushed = (time_t) pushed;
    image->child = ngx_strlchr((u_char *) e->element[2]->str,
                               (u_char *) e->element[2]->str
                               + e->element[2]->len, 'c')
                   != NULL;

    if (ngx_http_oci_lc_copy(pool, &image->digest, e->element[0])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    image->ntags = e->elements - 3;

    if (image->ntags == 0) {
        return NGX_OK;
    }

    image->tags = ngx_palloc(pool, image->ntags * sizeof(ngx_str_t));
    if (image->tags == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < image->ntags; i++) {
        if (ngx_http_oci_lc_copy(pool, &image->tags[i], e->element[3 + i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_lc_copy(ngx_pool_t *pool, ngx_str_t *dst, redisReply *src)
{
    dst->data = ngx_pnalloc(pool, src->len ? src->len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->str, src->len);
    dst->len = src->len;

    return NGX_OK;
}


/*
 * ECR's preview: {"previewResults":[{"imageDigest", "imageTags",
 * "imagePushedAt", "action":{"type":"EXPIRE"}, "appliedRulePriority"}],
 * "summary":{"expiringImageTotalCount"}}, oldest first.  A run answers
 * the same for what it expired, with "expiredImages" and a summary of
 * what it expired, found changed, and left for the next run.
 */

static void
ngx_http_oci_lc_results(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_lc_ctx_t  *lc = data;

    ngx_uint_t                i, j, n;
    ngx_http_oci_lc_image_t  *images, *im;

    images = lc->images.elts;
    n = 0;

    if (lc->run) {
        ngx_http_oci_text_lit(t, "{\"expiredImages\":[");

    } else {
        ngx_http_oci_text_lit(t, "{\"previewResults\":[");
    }

    for (i = lc->images.nelts; i > 0; i--) {
        im = &images[i - 1];

        if (im->expire < 0 || (lc->run && !im->expired)) {
            continue;
        }

        if (n++) {
            ngx_http_oci_text_lit(t, ",");
        }

        ngx_http_oci_text_lit(t, "{\"imageDigest\":\"");
        ngx_http_oci_text_json(t, im->digest.data, im->digest.len);
        ngx_http_oci_text_lit(t, "\",\"imageTags\":[");

        for (j = 0; j < im->ntags; j++) {
            if (j) {
                ngx_http_oci_text_lit(t, ",");
            }

            ngx_http_oci_text_lit(t, "\"");
            ngx_http_oci_text_json(t, im->tags[j].data, im->tags[j].len);
            ngx_http_oci_text_lit(t, "\"");
        }

        ngx_http_oci_text_lit(t, "],\"imagePushedAt\":");
        ngx_http_oci_text_number(t, (off_t) im->pushed);
        ngx_http_oci_text_lit(t, ",\"action\":{\"type\":\"EXPIRE\"},"
                                 "\"appliedRulePriority\":");
        ngx_http_oci_text_number(t,
                                 (off_t) lc->policy.rules[im->expire].priority);
        ngx_http_oci_text_lit(t, "}");
    }

    if (!lc->run) {
        ngx_http_oci_text_lit(t,
                              "],\"summary\":{\"expiringImageTotalCount\":");
        ngx_http_oci_text_number(t, (off_t) n);
        ngx_http_oci_text_lit(t, "}}");
        return;
    }

    ngx_http_oci_text_lit(t, "],\"summary\":{\"expiredImageTotalCount\":");
    ngx_http_oci_text_number(t, (off_t) n);
    ngx_http_oci_text_lit(t, ",\"expiredReferrerTotalCount\":");
    ngx_http_oci_text_number(t, (off_t) lc->referrers);
    ngx_http_oci_text_lit(t, ",\"changedImageTotalCount\":");
    ngx_http_oci_text_number(t, (off_t) lc->changed);
    ngx_http_oci_text_lit(t, ",\"remainingImageTotalCount\":");
    ngx_http_oci_text_number(t, (off_t) lc->remaining);
    ngx_http_oci_text_lit(t, "}}");
}
