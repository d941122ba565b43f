
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_mirror.h"
#include "ngx_http_oci_blobs.h"
#include "ngx_http_oci_digest.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_scripts_mirror.h"


/*
 * A blob the mirrored repository does not have.  One process of all
 * nodes fetches it (a lease in Redis, renewed while the bytes come, taken
 * over at once from a holder that died on this host); the others wait
 * and then send the committed file.  The fetch streams the bytes to the
 * client as they come, hashed and written to an upload file; the last
 * byte waits until the digest matched, then the blob is committed and
 * linked as a pushed one is.  Bytes that are not the digest, or fewer
 * than announced, are never stored: the client's answer is cut short.
 * HEAD and Range requests of such a blob are passed to the upstream.
 */


#define NGX_HTTP_OCI_LEASE_MS        30000
#define NGX_HTTP_OCI_LEASE_RENEW     10000
#define NGX_HTTP_OCI_LEASE_POLL      100


typedef struct {
    ngx_http_request_t         *r;
    ngx_http_oci_ctx_t         *ctx;
    ngx_http_oci_upload_t      *up;          /* its token is the holder */
    ngx_str_t                   key;         /* the lease */
    ngx_str_t                   stale;       /* a dead holder */
    ngx_event_t                 timer;       /* a poll, or the renewal */
    unsigned                    leased:1;
} ngx_http_oci_mirror_lease_t;


static ngx_int_t ngx_http_oci_mirror_lease(ngx_http_request_t *r,
    ngx_http_oci_mirror_lease_t *ls);
static void ngx_http_oci_mirror_leased(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_mirror_poll(ngx_event_t *ev);
static void ngx_http_oci_mirror_renew(ngx_event_t *ev);
static void ngx_http_oci_mirror_lease_cleanup(void *data);
static ngx_int_t ngx_http_oci_mirror_fetch_blob(ngx_http_request_t *r,
    ngx_http_oci_mirror_lease_t *ls);
static void ngx_http_oci_mirror_streamed(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
static ngx_int_t ngx_http_oci_mirror_last_byte(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f, ngx_uint_t last);
static void ngx_http_oci_mirror_stored(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_mirror_headed(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);


static ngx_str_t  ngx_http_oci_mirror_renew_script =
    ngx_string(NGX_HTTP_OCI_LUA_MIRROR_RENEW);
static ngx_str_t  ngx_http_oci_mirror_release_script =
    ngx_string(NGX_HTTP_OCI_LUA_MIRROR_RELEASE);


ngx_int_t
ngx_http_oci_mirror_blob(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_table_elt_t              *range;
    ngx_pool_cleanup_t           *cln;
    ngx_http_oci_fetch_t         *f;
    ngx_http_oci_mirror_lease_t  *ls;

    range = r->headers_in.range;

    if (r->method == NGX_HTTP_HEAD || range) {

        f = ngx_http_oci_fetch_create(r, ctx,
                                      r->method == NGX_HTTP_HEAD
                                      ? NGX_HTTP_OCI_FETCH_COLLECT
                                      : NGX_HTTP_OCI_FETCH_STREAM,
                                      "blobs", &ctx->digest);
        if (f == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (r->method == NGX_HTTP_HEAD) {
            f->method = NGX_HTTP_HEAD;
            f->mem_max = 0;
            f->done = ngx_http_oci_mirror_headed;

        } else {
            /* one range of a blob not here yet: passed on, not kept */

            if (range->value.len < sizeof("bytes=") - 1
                || ngx_strncasecmp(range->value.data, (u_char *) "bytes=",
                                   sizeof("bytes=") - 1) != 0
                || range->value.len > 128)
            {
                return ngx_http_oci_send_error(r,
                                         NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                         NGX_HTTP_OCI_ERR_RANGE_INVALID,
                                         &range->value);
            }

            f->range = range->value;
            f->done = ngx_http_oci_mirror_streamed;
        }

        return ngx_http_oci_fetch_start(r, f);
    }

    ls = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_mirror_lease_t));
    if (ls == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ls->r = r;
    ls->ctx = ctx;

    ls->up = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_upload_t));
    if (ls->up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ls->up->ctx = ctx;
    ls->up->fd = NGX_INVALID_FILE;

    if (ngx_http_oci_upload_token(r, ls->up) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ls->key.len = ctx->base.len + sizeof("mirror:fetch:") - 1
                  + ctx->digest.len;
    ls->key.data = ngx_pnalloc(r->pool, ls->key.len);
    if (ls->key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(ls->key.data, "%Vmirror:fetch:%V", &ctx->base,
                &ctx->digest);

    ls->stale.data = ngx_pnalloc(r->pool, NGX_HTTP_OCI_HOLDER_MAX);
    if (ls->stale.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ls->timer.data = ls;
    ls->timer.log = r->connection->log;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_oci_mirror_lease_cleanup;
    cln->data = ls;

    ctx->data = ls;

    return ngx_http_oci_mirror_lease(r, ls);
}


static ngx_int_t
ngx_http_oci_mirror_lease(ngx_http_request_t *r,
    ngx_http_oci_mirror_lease_t *ls)
{
    ngx_int_t            rc;
    ngx_http_oci_args_t  a;

    if (ngx_http_oci_args_init(&a, r->pool, 6) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_str(&a, &ls->ctx->base);
    ngx_http_oci_args_str(&a, &ls->key);
    ngx_http_oci_args_str(&a, &ls->ctx->digest);
    ngx_http_oci_args_str(&a, &ls->up->token);
    ngx_http_oci_args_number(&a, NGX_HTTP_OCI_LEASE_MS);
    ngx_http_oci_args_str(&a, &ls->stale);

    rc = ngx_http_oci_redis_script(r, ls->ctx->conf->redis,
                                   ngx_http_oci_mirror_leased,
                                   NGX_HTTP_OCI_SCRIPT_MIRROR_LEASE, 2, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_mirror_leased(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t           *ctx;
    ngx_http_oci_main_conf_t     *omcf;
    ngx_http_oci_mirror_lease_t  *ls;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    ls = ctx->data;

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_LINKED:
        /* fetched meanwhile, by us or by another process */
        ngx_http_oci_mirror_count(r, hits[1], 1);
        ngx_http_finalize_request(r, ngx_http_oci_blob_send(r, ctx));
        return;

    case NGX_HTTP_OCI_R_LEASED:
        ls->leased = 1;
        ls->stale.len = 0;
        ngx_http_finalize_request(r, ngx_http_oci_mirror_fetch_blob(r, ls));
        return;

    case NGX_HTTP_OCI_R_LOCKED:
        break;

    default:
        ngx_http_oci_unavailable(r);
        return;
    }

    /* a holder that died on this host is taken over at once */

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_lease_dead(&omcf->identity, reply, &ls->stale)
        != NGX_OK)
    {
        ls->stale.len = 0;
    }

    /* the request waits for the timer, with the reference it holds */

    ls->timer.handler = ngx_http_oci_mirror_poll;
    ngx_add_timer(&ls->timer, ls->stale.len ? 1 : NGX_HTTP_OCI_LEASE_POLL);
}


static void
ngx_http_oci_mirror_poll(ngx_event_t *ev)
{
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_oci_mirror_lease_t  *ls;

    ls = ev->data;
    r = ls->r;
    c = r->connection;

    rc = ngx_http_oci_mirror_lease(r, ls);

    /* the lease's reply (or its failure) answers; our reference goes */
    ngx_http_finalize_request(r, rc);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_oci_mirror_renew(ngx_event_t *ev)
{
    ngx_http_oci_args_t           a;
    ngx_http_oci_mirror_lease_t  *ls;
    const char                   *argv[6];
    size_t                        lens[6];
    u_char                        ms[NGX_INT_T_LEN];

    ls = ev->data;

    ngx_http_oci_args_init_fixed(&a, argv, lens, 6);
    ngx_http_oci_args_lit(&a, "EVAL");
    ngx_http_oci_args_str(&a, &ngx_http_oci_mirror_renew_script);
    ngx_http_oci_args_lit(&a, "1");
    ngx_http_oci_args_str(&a, &ls->key);
    ngx_http_oci_args_str(&a, &ls->up->token);
    ngx_http_oci_args_add(&a, ms, ngx_sprintf(ms, "%d", NGX_HTTP_OCI_LEASE_MS)
                                  - ms);

    ngx_http_oci_redis_fire(ls->ctx->conf->redis, &a);

    ngx_add_timer(ev, NGX_HTTP_OCI_LEASE_RENEW);
}


static void
ngx_http_oci_mirror_lease_cleanup(void *data)
{
    ngx_http_oci_mirror_lease_t  *ls = data;

    ngx_http_oci_args_t   a;
    const char           *argv[5];
    size_t                lens[5];

    if (ls->timer.timer_set) {
        ngx_del_timer(&ls->timer);
    }

    if (!ls->leased) {
        return;
    }

    ngx_http_oci_args_init_fixed(&a, argv, lens, 5);
    ngx_http_oci_args_lit(&a, "EVAL");
    ngx_http_oci_args_str(&a, &ngx_http_oci_mirror_release_script);
    ngx_http_oci_args_lit(&a, "1");
    ngx_http_oci_args_str(&a, &ls->key);
    ngx_http_oci_args_str(&a, &ls->up->token);

    ngx_http_oci_redis_fire(ls->ctx->conf->redis, &a);
}


/* ours to fetch: an upload file, a hash, then the subrequest */

static ngx_int_t
ngx_http_oci_mirror_fetch_blob(ngx_http_request_t *r,
    ngx_http_oci_mirror_lease_t *ls)
{
    ngx_int_t               rc;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_fetch_t   *f;
    ngx_http_oci_upload_t  *up;

    ctx = ls->ctx;
    up = ls->up;

    up->mode = NGX_HTTP_OCI_UPLOAD_MIRROR;
    up->digest = ctx->digest;
    up->expected = ctx->route.digest;
    up->alg = ngx_http_oci_hash_alg(&up->expected.algorithm);
    up->range_end = -1;
    up->done = ngx_http_oci_mirror_stored;

    up->hash = ngx_http_oci_hash_create(r->pool, up->alg);
    if (up->hash == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_upload_id(r->pool, &up->id) != NGX_OK
        || ngx_http_oci_upload_path(r->pool, &ctx->conf->storage, &up->id,
                                    &up->path)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_oci_upload_file(r, up);
    if (rc != NGX_OK) {
        return ngx_http_oci_send_error(r, rc, NGX_HTTP_OCI_ERR_UNKNOWN,
                                       NULL);
    }

    f = ngx_http_oci_fetch_create(r, ctx, NGX_HTTP_OCI_FETCH_STREAM, "blobs",
                                  &ctx->digest);
    if (f == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->up = up;
    f->done = ngx_http_oci_mirror_streamed;

    ls->timer.handler = ngx_http_oci_mirror_renew;
    ngx_add_timer(&ls->timer, NGX_HTTP_OCI_LEASE_RENEW);

    /* the commit (upload_commit.c) finds the upload here */
    ctx->data = up;

    return ngx_http_oci_fetch_start(r, f);
}


static void
ngx_http_oci_mirror_streamed(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    size_t                  n;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;
    u_char                  digest[NGX_HTTP_OCI_DIGEST_MAX];

    ctx = f->ctx;
    up = f->up;

    if (!f->streaming) {
        ngx_http_oci_fetch_failed(r, f, NGX_HTTP_OCI_ERR_BLOB_UNKNOWN);
        return;
    }

    if (f->received != f->length || f->rc == NGX_ERROR
        || r->connection->error)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: mirror \"%V\": blob %V ended after %O "
                      "of %O bytes: not stored", &f->mr->mirror->prefix,
                      &ctx->digest, f->received, f->length);
        if (f->up) {
            ngx_http_oci_mirror_count(r, rejected, 1);
        }
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (f->up == NULL) {
        ngx_http_finalize_request(r, ngx_http_send_special(r,
                                                           NGX_HTTP_LAST));
        return;
    }

    if (f->failed) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    n = ngx_http_oci_hash_final(up->hash, digest);

    if (n != ctx->digest.len
        || ngx_strncmp(digest, ctx->digest.data, n) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oci registry: mirror \"%V\" sent bytes for %V that "
                      "are %*s: not stored", &f->mr->mirror->prefix,
                      &ctx->digest, n, digest);
        ngx_http_oci_mirror_count(r, rejected, 1);
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    /*
     * The bytes are the digest: the client has them all now, and the
     * answer ends once they are committed and linked as a push's are
     * (ngx_http_oci_mirror_stored()); a failure there leaves the blob
     * uncached, not the client's copy wrong
     */

    if (ngx_http_oci_mirror_last_byte(r, f, 0) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    up->offset = 0;
    ctx->body.received = f->received;

    ngx_http_oci_upload_finish(r, up);
}


/* the held byte, flushed; or (last) the end of the answer */

static ngx_int_t
ngx_http_oci_mirror_last_byte(ngx_http_request_t *r, ngx_http_oci_fetch_t *f,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (last) {
        b->last_buf = 1;
        b->last_in_chain = 1;

    } else {
        b->pos = &f->held;
        b->last = b->pos + 1;
        b->memory = 1;
        b->flush = 1;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* committed and linked: the answer ends */

static void
ngx_http_oci_mirror_stored(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    ngx_http_oci_fetch_t  *f;

    f = ngx_http_get_module_ctx(r, ngx_http_oci_mirror_module);

    ngx_http_oci_mirror_count(r, bytes, f->received);

    ngx_http_finalize_request(r, ngx_http_oci_mirror_last_byte(r, f, 1));
}


static void
ngx_http_oci_mirror_headed(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    if (f->status != NGX_HTTP_OK || f->length < 0) {
        ngx_http_oci_fetch_failed(r, f, NGX_HTTP_OCI_ERR_BLOB_UNKNOWN);
        return;
    }

    r->header_only = 1;

    if (ngx_http_oci_blob_headers(r, NGX_HTTP_OK, &f->ctx->digest, f->length)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_send_header(r));
}
