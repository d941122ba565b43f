
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_lifecycle.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_args.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_redis_keys.h"


/*
 * POST /v2/<name>/_lifecycle/run: the policy in force, evaluated by the
 * same code as the preview, and what it expires deleted, oldest first,
 * each image with its referrers in one script that first checks the
 * image is as it was evaluated (a push may have moved a tag since).
 */


static void ngx_http_oci_lc_run_done(ngx_http_request_t *r,
    redisReply *reply);


/* a run takes the policy in force, never one of the request's */

void
ngx_http_oci_lc_run_body(ngx_http_request_t *r)
{
    ngx_str_t            detail;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ctx->body.mode = NGX_HTTP_OCI_BODY_NONE;

    if (ctx->body.status || ctx->body.mem_len) {
        ngx_str_set(&detail, "a run takes no body: it runs the policy in "
                             "force (a preview takes one)");
        ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_OCI_ERR_POLICY_INVALID,
                                    &detail);
        return;
    }

    if (ngx_http_oci_lc_policy_get(r, ctx, ngx_http_oci_lc_preview_policy)
        != NGX_OK)
    {
        ngx_http_oci_unavailable(r);
    }
}


/*
 * The next image the policy expires, one script at a time, at most
 * NGX_HTTP_OCI_LC_RUN_MAX in one run: the rest are counted as remaining
 * for the next run
 */

void
ngx_http_oci_lc_run_next(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_http_oci_args_t       a;
    ngx_http_oci_event_t      ev;
    ngx_http_oci_lc_ctx_t    *lc;
    ngx_http_oci_lc_image_t  *im;

    lc = ctx->data;
    im = NULL;

    while (lc->todo > 0) {
        im = &((ngx_http_oci_lc_image_t *) lc->images.elts)[--lc->todo];

        if (im->expire < 0) {
            im = NULL;
            continue;
        }

        if (lc->expired + lc->changed < NGX_HTTP_OCI_LC_RUN_MAX) {
            break;
        }

        lc->remaining++;
        im = NULL;
    }

    if (im == NULL) {
        ngx_http_oci_lc_counted(0, 1, lc->expired, lc->referrers);
        ngx_http_oci_lc_answer(r, lc);
        return;
    }

    if (ngx_http_oci_lc_expire_args(r->pool, &a, &ctx->base, ctx->conf, im)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = "delete";
    ev.kind = "manifests";
    ev.size = -1;

    ngx_http_oci_event_args(r, ctx, &a, &ev);

    if (ngx_http_oci_redis_script(r, ctx->conf->redis,
                                  ngx_http_oci_lc_run_done,
                                  NGX_HTTP_OCI_SCRIPT_LIFECYCLE_EXPIRE,
                                  1 + ngx_http_oci_event_nkeys(ctx->conf),
                                  &a)
        != NGX_OK)
    {
        ngx_http_oci_unavailable(r);
    }
}


static void
ngx_http_oci_lc_run_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_lc_ctx_t    *lc;
    ngx_http_oci_lc_image_t  *im;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    lc = ctx->data;
    im = &((ngx_http_oci_lc_image_t *) lc->images.elts)[lc->todo];

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_DELETED:
        im->expired = 1;
        lc->expired++;

        if (reply->elements == 2
            && reply->element[1]->type == REDIS_REPLY_INTEGER)
        {
            lc->referrers += (ngx_uint_t) reply->element[1]->integer;
        }

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "oci registry: lifecycle expired %V@%V (%ui tags) "
                      "by rule %ui, with %L referrers", &ctx->route.name,
                      &im->digest, im->ntags,
                      lc->policy.rules[im->expire].priority,
                      (int64_t) (reply->elements == 2
                                 ? reply->element[1]->integer : 0));
        break;

    case NGX_HTTP_OCI_R_STATE:
    case NGX_HTTP_OCI_R_UNKNOWN:

        /* moved or gone since the evaluation: the next run decides */
        lc->changed++;
        break;

    default:
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: lifecycle script failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_oci_lc_run_next(r, ctx);
}


/*
 * LIFECYCLE_EXPIRE's keys and arguments for an image, up to the event's
 * (which the caller adds: a request's, or the schedule's)
 */

ngx_int_t
ngx_http_oci_lc_expire_args(ngx_pool_t *pool, ngx_http_oci_args_t *a,
    ngx_str_t *base, ngx_http_oci_loc_conf_t *conf,
    ngx_http_oci_lc_image_t *im)
{
    ngx_str_t   outbox;
    ngx_uint_t  i;

    if (ngx_http_oci_key_outbox(pool, conf, base, &outbox) != NGX_OK
        || ngx_http_oci_args_init(a, pool,
                                  3 + im->ntags + NGX_HTTP_OCI_EVENT_ARGS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(a, base);
    ngx_http_oci_event_keys(a, conf, &outbox);
    ngx_http_oci_args_str(a, &im->digest);
    ngx_http_oci_args_number(a, (off_t) im->ntags);

    for (i = 0; i < im->ntags; i++) {
        ngx_http_oci_args_str(a, &im->tags[i]);
    }

    return NGX_OK;
}
