
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_gc.h"
#include "ngx_http_oci_uploads.h"


/*
 * Garbage collection on a Redis Cluster.  A blob's record is in the
 * global slot and its links are in each repository's, so no script can
 * change both; the order of the steps keeps the record naming every
 * repository that links the blob (ngx_http_oci_scripts_gc.h):
 *
 *   a link      BLOB_HOLD counts it in the record first; when the link
 *               script's reply says no new link came of it (there was
 *               one already, the upload was gone or locked), BLOB_LETGO
 *               takes it back
 *   an unlink   the repository's script writes "letgo <digest>" to its
 *               outbox with it (a DELETE of a blob, the collector's
 *               GC_REPO), and the outbox's forward applies it to the
 *               record once (redis/ngx_http_oci_redis_outbox.c), now or
 *               after a crash, by the next forward or the sweep
 *
 * A hold whose link never came (a crash between the two, a reply that
 * never came) leaves the count too high: a file kept, never a linked one
 * collected.  The collector's repository work is GC_REPO, in the
 * repository's slot, between two GC_STEPs in the global slot.
 */


static void ngx_http_oci_gc_held(ngx_http_request_t *r, redisReply *reply);
static void ngx_http_oci_gc_letgo(ngx_http_oci_loc_conf_t *conf,
    ngx_log_t *log, ngx_str_t *base, ngx_str_t *digest);
static void ngx_http_oci_gc_let(void *data, redisReply *reply);
static ngx_int_t ngx_http_oci_gc_copy(ngx_pool_t *pool, ngx_str_t *to,
    redisReply *from);
static void ngx_http_oci_gc_repo_done(void *data, redisReply *reply);
static void ngx_http_oci_gc_repo_waited(void *data, redisReply *reply);
static void ngx_http_oci_gc_repo_forward(ngx_http_oci_gc_t *s);
static void ngx_http_oci_gc_repo_forwarded(void *data);


ngx_int_t
ngx_http_oci_gc_hold(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    ngx_http_oci_upload_link_pt link)
{
    ngx_http_oci_ctx_t   *ctx;
    ngx_http_oci_args_t   a;

    ctx = up->ctx;
    up->link = link;

    if (ngx_http_oci_args_init(&a, r->pool, 3) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oci_args_key(&a, &ctx->conf->global, "blob:", &up->digest);
    ngx_http_oci_gc_key(&a, ctx->conf, "repos");
    ngx_http_oci_args_str(&a, &ctx->base);

    return ngx_http_oci_redis_script(r, ctx->conf->redis,
                                     ngx_http_oci_gc_held,
                                     NGX_HTTP_OCI_SCRIPT_BLOB_HOLD, 2, &a);
}


static void
ngx_http_oci_gc_held(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
        return;
    }

    up->held = 1;

    if (up->link(r, up) != NGX_OK) {
        /* the link was not sent: the hold goes again */
        ngx_http_oci_gc_settle(r, up, NULL);
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
    }
}


/*
 * The link script's reply (NULL: it was not sent).  A new link keeps the
 * hold; an error or no answer may have linked, so it keeps it too.
 */

void
ngx_http_oci_gc_settle(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    redisReply *reply)
{
    ngx_http_oci_reply_e  code;

    if (!up->held) {
        return;
    }

    up->held = 0;

    if (reply != NULL) {
        code = ngx_http_oci_script_reply(reply);

        if (code == NGX_HTTP_OCI_R_NONE
            || ((code == NGX_HTTP_OCI_R_LINKED
                 || code == NGX_HTTP_OCI_R_LINKED_FRESH)
                && reply->type != REDIS_REPLY_ARRAY))
        {
            return;
        }
    }

    ngx_http_oci_gc_letgo(up->ctx->conf, ngx_cycle->log, &up->ctx->base,
                          &up->digest);
}


/*
 * The hold goes: BLOB_LETGO.  Not a kept command: sent again after a lost
 * reply it could count one twice.  Its arguments have a pool of their
 * own, which outlives the request: a redirect or NOSCRIPT sends them
 * again.
 */

static void
ngx_http_oci_gc_letgo(ngx_http_oci_loc_conf_t *conf, ngx_log_t *log,
    ngx_str_t *base, ngx_str_t *digest)
{
    ngx_pool_t           *pool;
    ngx_http_oci_args_t   a;

    if (conf->redis->cluster == NULL) {
        return;
    }

    pool = ngx_create_pool(512, log);
    if (pool == NULL) {
        return;
    }

    if (ngx_http_oci_args_init(&a, pool, 4) == NGX_OK) {
        ngx_http_oci_args_key(&a, &conf->global, "blob:", digest);
        ngx_http_oci_gc_key(&a, conf, "orphans");
        ngx_http_oci_args_copy(&a, base->data, base->len);
        ngx_http_oci_args_copy(&a, digest->data, digest->len);

        if (ngx_http_oci_redis_call_script(conf->redis, ngx_http_oci_gc_let,
                                           pool,
                                           NGX_HTTP_OCI_SCRIPT_BLOB_LETGO, 2,
                                           &a)
            == NGX_OK)
        {
            return;
        }
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "oci registry: the record of blob %V kept a link of "
                  "\"%V\": redis unavailable", digest, base);

    ngx_destroy_pool(pool);
}


static void
ngx_http_oci_gc_let(void *data, redisReply *reply)
{
    ngx_pool_t  *pool = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, pool->log, 0,
                      "oci registry: a blob record kept a link: %*s",
                      reply ? (size_t) reply->len : 0,
                      reply ? reply->str : "");
    }

    ngx_destroy_pool(pool);
}


/*
 * GC_STEP's {"REPO", base, work, offset or cursor, dry}: GC_REPO in the
 * repository's slot, whose reply goes back with the next GC_STEP
 */

ngx_int_t
ngx_http_oci_gc_repo(ngx_http_oci_gc_t *s, redisReply *reply)
{
    ngx_uint_t           i;
    ngx_http_oci_args_t  a;

    if (reply->elements != 5) {
        return NGX_ERROR;
    }

    for (i = 1; i < 5; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }
    }

    /* kept for the next GC_STEP: the reply is gone by then */

    if (ngx_http_oci_gc_copy(s->pool, &s->repo, reply->element[1])
           != NGX_OK
        || ngx_http_oci_gc_copy(s->pool, &s->work, reply->element[2])
           != NGX_OK
        || ngx_http_oci_args_init(&a, s->pool, 7) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &s->repo);
    ngx_http_oci_args_str(&a, &s->work);
    /* copies: a redirect or NOSCRIPT sends them again, later */
    ngx_http_oci_args_copy(&a, (u_char *) reply->element[3]->str,
                           reply->element[3]->len);
    ngx_http_oci_args_copy(&a, (u_char *) reply->element[4]->str,
                           reply->element[4]->len);
    ngx_http_oci_args_number(&a, (off_t) s->conf->gc_grace);
    ngx_http_oci_args_number(&a, NGX_HTTP_OCI_GC_BATCH);
    ngx_http_oci_args_add(&a, (u_char *) (s->conf->gc_referrers ? "1" : "0"),
                          1);

    return ngx_http_oci_redis_call_script(s->conf->redis,
                                          ngx_http_oci_gc_repo_done, s,
                                          NGX_HTTP_OCI_SCRIPT_GC_REPO, 1,
                                          &a);
}


static ngx_int_t
ngx_http_oci_gc_copy(ngx_pool_t *pool, ngx_str_t *to, redisReply *from)
{
    to->len = from->len;
    to->data = ngx_pnalloc(pool, from->len + 1);

    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, from->str, from->len);

    return NGX_OK;
}


static void
ngx_http_oci_gc_repo_done(void *data, redisReply *reply)
{
    ngx_http_oci_gc_t  *s = data;

    ngx_uint_t   i;
    redisReply  *e;

    if (reply == NULL) {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 5
        || reply->elements % 2 == 0)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "oci registry: garbage collection of \"%V\": %*s",
                      &s->repo,
                      reply->type == REDIS_REPLY_ERROR ? (size_t) reply->len
                                                       : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_INTEGER) {
            ngx_http_oci_gc_end(s, s->tick);
            return;
        }
    }

    s->repo_done = 1;

    /*
     * Kept for the next GC_STEP, which comes after the forward; with
     * "wait" the unlinks reach the replicas before their records let go
     * of them: a failover that lost them would leave links that no record
     * names, whose files a pass could collect
     */

    s->held = ngx_http_oci_redis_copy(s->pool, reply);
    if (s->held == NULL) {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    if (!s->conf->redis->wait) {
        ngx_http_oci_gc_repo_forward(s);
        return;
    }

    if (ngx_http_oci_redis_call_wait(s->conf->redis, &s->repo,
                                     ngx_http_oci_gc_repo_waited, s)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
    }
}


/*
 * The repository's outbox goes to the global slot before the next
 * GC_STEP: its "letgo" entries (these unlinks', and any a killed
 * collector left there) let go of their records, so that the orphans
 * phase of this pass finds what they emptied
 */

static void
ngx_http_oci_gc_repo_forward(ngx_http_oci_gc_t *s)
{
    if (ngx_http_oci_redis_outbox_then(s->conf->redis, s->repo.data,
                                       s->repo.len,
                                       ngx_http_oci_gc_repo_forwarded, s)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
    }
}


static void
ngx_http_oci_gc_repo_forwarded(void *data)
{
    ngx_http_oci_gc_t  *s = data;

    ngx_http_oci_gc_step(s, s->held);
}


static void
ngx_http_oci_gc_repo_waited(void *data, redisReply *reply)
{
    ngx_http_oci_gc_t  *s = data;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER
        || reply->integer < (long long) s->conf->redis->wait)
    {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "oci registry: garbage collection of \"%V\": the "
                      "replicas did not confirm its unlinks; the next "
                      "forward of its outbox lets their records go",
                      &s->repo);
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    ngx_http_oci_gc_repo_forward(s);
}
