
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_blobs.h"
#include "ngx_http_oci_body.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_digest.h"


/*
 * A closing PUT that carries a small blob whole (docker's and
 * containerd's POST-then-PUT) is read into memory before the upload is
 * looked up.  If its bytes match the digest they are the blob, whatever
 * the upload holds: the blob is committed from a spare file, and one
 * script then checks that the upload is at offset 0 and unlocked, links
 * the blob and ends the upload.  That saves the lock's round trip.  If
 * they do not match (the last chunk of a longer upload, or a wrong
 * digest), or no spare is at hand, the PUT goes the usual way with the
 * body replayed from memory.
 */


#if (NGX_THREADS)

/* a closing PUT up to this size is read whole before the upload is looked up */
#define NGX_HTTP_OCI_EAGER_MAX     65536


static void ngx_http_oci_upload_eager_done(ngx_http_request_t *r);
static void ngx_http_oci_upload_eager_closed(ngx_http_request_t *r,
    redisReply *reply);


/* NGX_DECLINED: not such a PUT */

ngx_int_t
ngx_http_oci_upload_eager(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    off_t                   len;
    u_char                 *mem;
    ngx_http_oci_spares_t  *sp;

    len = r->headers_in.content_length_n;
    sp = up->ctx->conf->spares;

    if (len <= 0 || len > NGX_HTTP_OCI_EAGER_MAX
        || sp == NULL || sp->n == 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_oci_upload_range(r, up) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                       NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
    }

    if (up->range_end >= 0) {
        return NGX_DECLINED;
    }

    mem = ngx_pnalloc(r->pool, (size_t) len);
    if (mem == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->mode = NGX_HTTP_OCI_UPLOAD_EAGER;

    ngx_http_oci_body_to_memory(up->ctx, mem, (size_t) len);

    return ngx_http_oci_body_read(r, ngx_http_oci_upload_eager_done);
}


static void
ngx_http_oci_upload_eager_done(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_hash_t    *hash;
    ngx_http_oci_upload_t  *up;
    u_char                  digest[NGX_HTTP_OCI_DIGEST_MAX];

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    ctx->body.mode = NGX_HTTP_OCI_BODY_NONE;

    if (ctx->body.status) {
        ngx_http_oci_upload_fail(r, up, ctx->body.status,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    /* hashed with the digest's own algorithm, whatever the upload's */

    up->alg = ngx_http_oci_hash_alg(&up->expected.algorithm);

    hash = ngx_http_oci_hash_create(r->pool, up->alg);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (hash == NULL || cln == NULL) {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    ngx_http_oci_hash_update(hash, ctx->body.mem, ctx->body.mem_len);

    if (ngx_http_oci_hash_final(hash, digest) != up->digest.len
        || ngx_strncmp(digest, up->digest.data, up->digest.len) != 0
        || ngx_http_oci_upload_spare(r, up, cln) != NGX_OK)
    {
        /* not the whole blob, or no spare: the usual way */

        up->mode = NGX_HTTP_OCI_UPLOAD_CLOSE;

        if (ngx_http_oci_upload_token(r, up) != NGX_OK) {
            ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
            return;
        }

        if (ngx_http_oci_upload_lock(r, up) != NGX_OK) {
            ngx_http_oci_unavailable(r);
        }

        return;
    }

    /* at offset 0, hashed already: the sink only writes */

    ngx_http_oci_sink_init(&up->sink, up->fd, up->path.data, 0, -1,
                           NULL);

    if (ngx_http_oci_sink_write(&up->sink, ctx->body.mem, ctx->body.mem_len)
        != NGX_OK)
    {
        ngx_http_oci_upload_fail(r, up,
                                 ngx_http_oci_errno_status(r->connection->log,
                                                           up->sink.err,
                                                           "writing upload",
                                                           up->path.data),
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    ngx_http_oci_upload_finish(r, up);
}


/* the blob is committed: link it and end the upload, if it is at 0 */

ngx_int_t
ngx_http_oci_upload_eager_close(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    ngx_http_oci_ctx_t    *ctx;
    ngx_http_oci_args_t    a;
    ngx_http_oci_event_t   ev;

    ctx = up->ctx;

    /* on a cluster the blob's record counts the link first */

    if (ctx->conf->redis->cluster != NULL && !up->held) {
        return ngx_http_oci_gc_hold(r, up, ngx_http_oci_upload_eager_close);
    }

    if (ngx_http_oci_args_init(&a, r->pool, 7 + NGX_HTTP_OCI_BLOB_KEYS
                                            + NGX_HTTP_OCI_EVENT_ARGS)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_blob_keys(&a, ctx->conf, &ctx->outbox, &up->digest);
    ngx_http_oci_event_keys(&a, ctx->conf, &ctx->outbox);
    ngx_http_oci_args_str(&a, &up->digest);
    ngx_http_oci_args_number(&a, ctx->body.received);
    ngx_http_oci_args_str(&a, &up->id);
    ngx_http_oci_args_str(&a, &up->stale);
    ngx_http_oci_args_flag(&a, up->fresh);
    ngx_http_oci_args_str(&a, &ctx->conf->fresh_text);

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = "push";
    ev.kind = "blobs";
    ngx_str_set(&ev.media_type, "application/octet-stream");
    ev.size = ctx->body.received;

    ngx_http_oci_event_args(r, ctx, &a, &ev);

    return ngx_http_oci_redis_script(r, ctx->conf->redis,
                                     ngx_http_oci_upload_eager_closed,
                                     NGX_HTTP_OCI_SCRIPT_BLOB_CLOSE,
                                     1 + NGX_HTTP_OCI_BLOB_KEYS
                                     + ngx_http_oci_event_nkeys(ctx->conf),
                                     &a);
}


static void
ngx_http_oci_upload_eager_closed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;
    ngx_http_oci_reply_e    code;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    ngx_http_oci_gc_settle(r, up, reply);

    /* unknown (the blob stays: verified bytes, whoever pushes them) */

    if (ngx_http_oci_upload_held(r, up, reply,
                                 ngx_http_oci_upload_eager_close)
        == NGX_DONE)
    {
        return;
    }

    code = ngx_http_oci_script_reply(reply);

    if (code == NGX_HTTP_OCI_R_LINKED || code == NGX_HTTP_OCI_R_HAD_BYTES) {
        /*
         * The upload is over: a file an earlier chunk left goes too.  Not
         * for a signed id nobody wrote to (LINKED_FRESH): no system call
         * for nothing on the common path.
         */

        if (ngx_delete_file(up->path.data) == NGX_FILE_ERROR
            && ngx_errno != NGX_ENOENT)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          "oci registry: unlink \"%V\" failed", &up->path);
        }
    }

    switch (code) {

    case NGX_HTTP_OCI_R_LINKED:
    case NGX_HTTP_OCI_R_LINKED_FRESH:
        ngx_http_oci_blob_created(r, up);
        return;

    case NGX_HTTP_OCI_R_HAD_BYTES:
        /* bytes before this body: it is not the blob of this digest */
        ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                    &up->digest);
        return;

    default:
        ngx_http_oci_unavailable(r);
        return;
    }
}

#endif /* NGX_THREADS */
