
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_blobs.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_digest.h"


/*
 * An upload's file (a spare, or its named file in _uploads), its cleanup,
 * and the end of an upload: the commit that makes the verified bytes the
 * blob (in a thread pool: fsync() of a large file takes long), the
 * script that links it to the repository and ends the upload, or the
 * failure that drops it.
 */


static void ngx_http_oci_upload_cleanup(void *data);
static void ngx_http_oci_upload_rejected(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_upload_rejected_anyway(ngx_http_request_t *r);
#if (NGX_THREADS)
static void ngx_http_oci_commit_thread(void *data, ngx_log_t *log);
static void ngx_http_oci_commit_done(ngx_event_t *ev);
#endif
static void ngx_http_oci_upload_committed(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static ngx_int_t ngx_http_oci_upload_commit_failed(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static ngx_int_t ngx_http_oci_upload_link(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_linked(ngx_http_request_t *r,
    redisReply *reply);


/*
 * Opens the upload's file at the recorded offset, locked (a writer of an
 * earlier, timed-out request may still hold it), and registers the
 * cleanup that closes it, releases a lock still held and removes the
 * file of a monolithic upload that did not complete.  An upload that
 * ends in this request gets a spare instead: no name until it is done.
 */

ngx_int_t
ngx_http_oci_upload_file(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    off_t                limit;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    limit = (up->range_end >= 0) ? up->range_end - up->range_start + 1 : -1;

#if (NGX_THREADS)

    if (up->offset == 0
        && (up->mode == NGX_HTTP_OCI_UPLOAD_MONOLITHIC
            || up->mode == NGX_HTTP_OCI_UPLOAD_CLOSE
            || up->mode == NGX_HTTP_OCI_UPLOAD_MIRROR)
        && ngx_http_oci_upload_spare(r, up, cln) == NGX_OK)
    {
        ngx_http_oci_sink_init(&up->sink, up->fd, up->path.data, 0, limit,
                               up->hash);
        return NGX_OK;
    }

#endif

    up->fd = ngx_http_oci_upload_open(r->connection->log, &up->path,
                                      up->offset);
    if (up->fd == NGX_INVALID_FILE) {
        switch (ngx_errno) {
        case NGX_ENOENT:
            /* its bytes are gone (expired): the client must start over */
            return NGX_HTTP_NOT_FOUND;
        case NGX_EAGAIN:
            /* a writer of this node still holds the file */
            return NGX_HTTP_RANGE_NOT_SATISFIABLE;
        case NGX_ENOSPC:
            return NGX_HTTP_INSUFFICIENT_STORAGE;
        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    up->remove = (up->mode == NGX_HTTP_OCI_UPLOAD_MONOLITHIC
                  || up->mode == NGX_HTTP_OCI_UPLOAD_MIRROR);

    cln->handler = ngx_http_oci_upload_cleanup;
    cln->data = up;

    ngx_http_oci_sink_init(&up->sink, up->fd, up->path.data, up->offset,
                           limit, up->hash);

    return NGX_OK;
}


#if (NGX_THREADS)

/* oci_registry_thread_pool's, else that of "aio threads", else none */

ngx_thread_pool_t *
ngx_http_oci_thread_pool(ngx_http_request_t *r)
{
    ngx_http_oci_loc_conf_t   *olcf;
    ngx_http_core_loc_conf_t  *clcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_registry_module);

    if (olcf->thread_pool) {
        return olcf->thread_pool;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    return clcf->thread_pool;
}


/*
 * The upload's file is a spare (see ngx_http_oci_spare_take()); "cln",
 * registered by the caller, closes it.  NGX_DECLINED: none at hand.
 */

ngx_int_t
ngx_http_oci_upload_spare(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    ngx_pool_cleanup_t *cln)
{
    up->fd = ngx_http_oci_spare_take(up->ctx->conf->spares,
                                     ngx_http_oci_thread_pool(r),
                                     r->connection->log);

    if (up->fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    up->anonymous = 1;

    cln->handler = ngx_http_oci_upload_cleanup;
    cln->data = up;

    return NGX_OK;
}

#endif


/*
 * The upload's state is handed to the cleanup itself: an error_page
 * redirect clears the request's module context before the pool goes.
 */

static void
ngx_http_oci_upload_cleanup(void *data)
{
    ngx_http_oci_upload_t  *up = data;

    if (up->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(up->fd);
        up->fd = NGX_INVALID_FILE;
    }

    if (up->remove) {
        (void) ngx_delete_file(up->path.data);
    }

    /* the request died mid-chunk: the client can resume at once */

    ngx_http_oci_upload_release(up);
}


/*
 * The digest matched: make the blob visible, then link it to the repo.
 * fsync() of a large file can take long, so the commit runs in a thread
 * pool: oci_registry_thread_pool's, else that of "aio threads".
 */

void
ngx_http_oci_upload_finish(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
#if (NGX_THREADS)
    ngx_thread_pool_t      *tp;
    ngx_thread_task_t      *task;
#endif
    ngx_http_oci_commit_t  *c;

    if (ngx_http_oci_blob_path(r->pool, &up->ctx->conf->storage,
                               &up->expected, &up->blob_path)
        != NGX_OK)
    {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    c = &up->commit;

    c->fd = up->fd;
    c->upload = up->path.data;
    c->blob = up->blob_path.data;
    c->alg = ngx_http_oci_hash_alg(&up->expected.algorithm);
    c->hex = up->expected.hex.data;
    c->size = up->offset + up->ctx->body.received;
    c->durable = up->ctx->conf->durable ? 1 : 0;
    c->anonymous = up->anonymous;
    c->verify = up->verify;

    /*
     * a spare may have a name an interrupted earlier chunk left (not a
     * monolithic POST's, and an eager PUT removes it only once the upload
     * is ended: it may be a live writer's)
     */
    c->leftover = up->anonymous && up->mode == NGX_HTTP_OCI_UPLOAD_CLOSE;

#if (NGX_THREADS)

    tp = ngx_http_oci_thread_pool(r);

    if (tp != NULL) {
        task = ngx_thread_task_alloc(r->pool, 0);
        if (task == NULL) {
            ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
            return;
        }

        /* the task touches only up->commit, no request or pool */

        task->ctx = c;
        task->handler = ngx_http_oci_commit_thread;
        task->event.handler = ngx_http_oci_commit_done;
        task->event.data = r;
        task->event.log = r->connection->log;

        if (ngx_thread_task_post(tp, task) == NGX_OK) {
            /* the request must outlive the task, as for aio reads */
            r->main->blocked++;
            return;
        }

        /* the queue is full: do it here */
    }

#endif

    ngx_http_oci_blob_commit(c);
    ngx_http_oci_upload_committed(r, up);
}


#if (NGX_THREADS)

static void
ngx_http_oci_commit_thread(void *data, ngx_log_t *log)
{
    ngx_http_oci_blob_commit(data);
}


static void
ngx_http_oci_commit_done(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_connection_t    *c;
    ngx_http_oci_ctx_t  *ctx;

    c = r->connection;
    r->main->blocked--;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ngx_http_oci_upload_committed(r, ctx->data);

    ngx_http_run_posted_requests(c);
}

#endif


static void
ngx_http_oci_upload_committed(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    if (ngx_http_oci_upload_commit_failed(r, up) == NGX_DONE) {
        return;
    }

    /* the file is the blob now: the cleanup must not remove it */
    up->remove = 0;

#if (NGX_THREADS)
    if (up->mode == NGX_HTTP_OCI_UPLOAD_EAGER) {
        if (ngx_http_oci_upload_eager_close(r, up) != NGX_OK) {
            ngx_http_oci_upload_fail(r, up, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
        }

        return;
    }
#endif

    if (ngx_http_oci_upload_link(r, up) != NGX_OK) {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
    }
}


/* what the commit says, if it failed: NGX_DONE, the request answered */

static ngx_int_t
ngx_http_oci_upload_commit_failed(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    ngx_uint_t              status;
    ngx_http_oci_commit_t  *c;

    c = &up->commit;

    if (c->replaced) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: blob \"%s\" did not hash to its name, "
                      "%s", c->blob, c->err ? "replacing it failed"
                                             : "replaced by this upload");
    }

    if (c->mismatch) {
        /* closed with another algorithm's digest, which it is not */
        ngx_http_oci_upload_reject(r, up, NGX_HTTP_BAD_REQUEST,
                                   NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                   &up->digest);
        return NGX_DONE;
    }

    if (c->corrupt) {
        /* another writer touched the file under us: nothing of it stays */
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "oci registry: upload \"%V\" does not hold the %O "
                      "bytes it received, dropped", &up->path, c->size);

        ngx_http_oci_upload_reject(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                   &up->id);
        return NGX_DONE;
    }

    if (c->err == NGX_ENOENT && !c->anonymous) {
        /* the upload's file went while its bytes arrived: cancelled */
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_NOT_FOUND,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                 &up->id);
        return NGX_DONE;
    }

    if (c->err) {
        status = ngx_http_oci_errno_status(r->connection->log, c->err,
                                           c->failed, c->blob);

        ngx_http_oci_upload_fail(r, up,
                                 status == NGX_HTTP_INSUFFICIENT_STORAGE
                                 ? status : NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * BLOB_LINK: the verified blob is the repository's; a closing PUT also
 * ends its upload and releases the lock (and carries that release as the
 * undo of a lost reply)
 */

static ngx_int_t
ngx_http_oci_upload_link(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    size_t                    ulens[5];
    ngx_uint_t                closing;
    const char               *uargv[5];
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_args_t       a, undo;
    ngx_http_oci_event_t      ev;
    u_char                    key[NGX_HTTP_OCI_KEY_MAX];

    ctx = up->ctx;
    closing = (up->mode == NGX_HTTP_OCI_UPLOAD_CLOSE);

    /* on a cluster the blob's record counts the link first */

    if (ctx->conf->redis->cluster != NULL && !up->held) {
        return ngx_http_oci_gc_hold(r, up, ngx_http_oci_upload_link);
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
    ngx_http_oci_args_number(&a, up->commit.size);

    if (closing) {
        ngx_http_oci_args_str(&a, &up->id);
        ngx_http_oci_args_str(&a, &up->token);

    } else {
        ngx_http_oci_args_lit(&a, "");
        ngx_http_oci_args_lit(&a, "");
    }

    ngx_http_oci_args_flag(&a, up->fresh);
    ngx_http_oci_args_str(&a, &ctx->conf->fresh_text);

    /* a mirror's copy of an upstream's blob is not a push */

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = (up->mode == NGX_HTTP_OCI_UPLOAD_MIRROR) ? NULL : "push";
    ev.kind = "blobs";
    ngx_str_set(&ev.media_type, "application/octet-stream");
    ev.size = up->commit.size;

    ngx_http_oci_event_args(r, ctx, &a, &ev);

    if (closing) {
        ngx_http_oci_upload_unlock_args(up, &undo, uargv, ulens, key);
    }

    return ngx_http_oci_redis_script_undo(r, ctx->conf->redis,
                                          ngx_http_oci_upload_linked,
                                          NGX_HTTP_OCI_SCRIPT_BLOB_LINK,
                                          1 + NGX_HTTP_OCI_BLOB_KEYS
                                          + ngx_http_oci_event_nkeys(
                                                  ctx->conf),
                                          &a, closing ? &undo : NULL);
}


static void
ngx_http_oci_upload_linked(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    ngx_http_oci_gc_settle(r, ctx->data, reply);

    up = ngx_http_oci_upload_released(r, reply);
    if (up == NULL) {
        return;
    }

    ngx_http_oci_blob_created(r, up);
}


/*
 * The reply of a script that records a chunk or links the blob and
 * releases the lock: it did (SAVED, LINKED), the lock expired meanwhile
 * (LOCK_LOST: 416), the upload was cancelled (UNKNOWN: 404).  Returns
 * the upload to go on with, or NULL when the request has been answered.
 */

ngx_http_oci_upload_t *
ngx_http_oci_upload_released(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_SAVED:
    case NGX_HTTP_OCI_R_LINKED:
        up->locked = 0;
        return up;

    case NGX_HTTP_OCI_R_UNKNOWN:
        up->locked = 0;
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &up->id);
        return NULL;

    case NGX_HTTP_OCI_R_LOCK_LOST:
        up->locked = 0;
        ngx_http_oci_finalize_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                    &up->id);
        return NULL;

    default:
        ngx_http_oci_unavailable(r);
        return NULL;
    }
}


/*
 * 201 for a blob now in the repository, by upload or by mount.  The
 * collector may have taken the file between our commit (or the mount's
 * look) and the link: it moves a file to its trash name, checks for a
 * link, and then deletes it or puts it back.  A link made before that
 * check keeps the file; after it, this finds no file.  If the trash
 * name is still there, a hard link of it puts the bytes back whatever
 * the collector does next; else the link goes again (its undo is kept
 * if Redis is away) and the client is told to retry.
 */

void
ngx_http_oci_blob_created(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    u_char               *p;
    ngx_str_t             path, trash;
    ngx_file_info_t       fi;
    ngx_http_oci_args_t   a;

    path = up->blob_path;

    if ((path.len
         || ngx_http_oci_blob_path(r->pool, &up->ctx->conf->storage,
                                   &up->expected, &path)
            == NGX_OK)
        && ngx_file_info(path.data, &fi) == NGX_FILE_ERROR
        && ngx_errno == NGX_ENOENT)
    {
        trash.len = path.len + sizeof(".gc");
        trash.data = ngx_pnalloc(r->pool, trash.len + 1);

        if (trash.data) {
            p = ngx_cpymem(trash.data, path.data,
                           path.len - up->expected.hex.len);
            p = ngx_sprintf(p, ".%V.gc%Z", &up->expected.hex);

            if (link((char *) trash.data, (char *) path.data) == 0
                || ngx_errno == NGX_EEXIST)
            {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "oci registry: blob %V was being collected "
                              "as it was linked: kept", &up->digest);
                goto created;
            }
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: blob %V was collected as it was "
                      "linked: the link goes again", &up->digest);

        if (ngx_http_oci_args_init(&a, r->pool, 7) == NGX_OK) {
            ngx_http_oci_args_lit(&a, "EVAL");
            ngx_http_oci_args_str(&a,
                &ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_BLOB_DELETE]);
            ngx_http_oci_args_number(&a, 1 + NGX_HTTP_OCI_BLOB_KEYS);
            ngx_http_oci_args_str(&a, &up->ctx->base);
            ngx_http_oci_blob_keys(&a, up->ctx->conf, &up->ctx->outbox,
                                   &up->digest);
            ngx_http_oci_args_str(&a, &up->digest);
            ngx_http_oci_redis_fire(up->ctx->conf->redis, &a);
        }

        ngx_http_oci_unavailable(r);
        return;
    }

created:

    if (up->done) {
        up->done(r, up);
        return;
    }

    if (ngx_http_oci_created(r, "blobs", &up->digest) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_CREATED,
                                                        NULL, 0));
}


/* answers an error, first releasing the upload lock if we hold it */

void
ngx_http_oci_upload_fail(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    ngx_uint_t status, ngx_http_oci_err_e err, ngx_str_t *detail)
{
    ngx_http_oci_upload_release(up);

    if (status == NGX_HTTP_INSUFFICIENT_STORAGE) {
        err = NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID;
    }

    ngx_http_oci_finalize_error(r, status, err, detail);
}


/*
 * A failed digest check (or a corrupt file): the upload is over, its
 * bytes and state go, and only then the client hears the answer (400
 * DIGEST_INVALID): answered before the state went, a client asking at
 * once through another worker still found the upload.  Without Redis
 * the cancel is kept for the reconnect and the answer comes now.
 */

void
ngx_http_oci_upload_reject(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    ngx_uint_t status, ngx_http_oci_err_e err, ngx_str_t *detail)
{
    ngx_str_t                *script;
    ngx_http_oci_args_t       a;
    ngx_http_oci_loc_conf_t  *conf;

    if (ngx_delete_file(up->path.data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "oci registry: unlink \"%V\" failed", &up->path);
    }

    up->remove = 0;
    up->reject_status = status;
    up->reject_err = err;
    up->reject_detail = detail;

    if (up->mode != NGX_HTTP_OCI_UPLOAD_CLOSE) {
        ngx_http_oci_upload_fail(r, up, status, err, detail);
        return;
    }

    /* the state, the lock, its place among the uploads in progress */

    conf = up->ctx->conf;
    script = &ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL];

    up->locked = 0;

    if (up->renew.timer_set) {
        ngx_del_timer(&up->renew);
    }

    if (ngx_http_oci_args_init(&a, r->pool, 7) != NGX_OK) {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    ngx_http_oci_args_lit(&a, "EVAL");
    ngx_http_oci_args_str(&a, script);
    ngx_http_oci_args_lit(&a, "1");
    ngx_http_oci_args_str(&a, &up->ctx->base);
    ngx_http_oci_args_str(&a, &up->id);
    ngx_http_oci_args_flag(&a, up->fresh);
    ngx_http_oci_args_str(&a, &conf->fresh_text);

    if (ngx_http_oci_redis_probe(r, conf->redis,
                                 ngx_http_oci_upload_rejected,
                                 ngx_http_oci_upload_rejected_anyway, &a)
        == NGX_OK)
    {
        return;
    }

    ngx_http_oci_redis_fire(conf->redis, &a);

    ngx_http_oci_upload_fail(r, up, status, err, detail);
}


static void
ngx_http_oci_upload_rejected(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_upload_rejected_anyway(r);
}


/* the cancel's reply lost: the state expires; the answer is the same */

static void
ngx_http_oci_upload_rejected_anyway(ngx_http_request_t *r)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    ngx_http_oci_upload_fail(r, up, up->reject_status, up->reject_err,
                             up->reject_detail);
}
