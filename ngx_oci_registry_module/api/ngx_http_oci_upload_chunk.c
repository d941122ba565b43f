
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_body.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_digest.h"


/*
 * The bytes of an upload: a PATCH appends a chunk, a closing PUT may
 * carry the last one, a POST ?digest= the whole blob.  A chunk takes the
 * lock first (the script reads the upload's state in the same step),
 * then its body streams through the sink: hashed and written at the
 * upload's offset as it arrives.
 */


static void ngx_http_oci_upload_body_done(ngx_http_request_t *r);
static ngx_uint_t ngx_http_oci_upload_state(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, redisReply *reply);
static ngx_int_t ngx_http_oci_upload_save(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_saved(ngx_http_request_t *r,
    redisReply *reply);


/* PATCH, and PUT with the last chunk: take the lock, then the body */

ngx_int_t
ngx_http_oci_upload_chunk(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    if (ngx_http_oci_upload_range(r, up) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                       NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
    }

    if (ngx_http_oci_upload_token(r, up) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_suspend(r, ngx_http_oci_upload_lock(r, up));
}


/*
 * POST ?digest=<d> with the whole blob as body: no session in Redis, the
 * bytes go to a fresh upload file and become the blob if they match.
 */

ngx_int_t
ngx_http_oci_upload_monolithic(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    ngx_int_t  rc;

    up->alg = ngx_http_oci_hash_alg(&up->expected.algorithm);

    if (ngx_http_oci_upload_id(r->pool, &up->id) != NGX_OK
        || ngx_http_oci_upload_path(r->pool, &up->ctx->conf->storage,
                                    &up->id, &up->path)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->hash = ngx_http_oci_hash_create(r->pool, up->alg);
    if (up->hash == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_oci_upload_file(r, up);
    if (rc != NGX_OK) {
        return ngx_http_oci_send_error(r, rc, NGX_HTTP_OCI_ERR_UNKNOWN,
                                       NULL);
    }

    ngx_http_oci_body_to_sink(up->ctx, &up->sink);

    return ngx_http_oci_body_read(r, ngx_http_oci_upload_body_done);
}


/*
 * The lock script's reply: the upload's state, or why not.  The chunk
 * must start at the recorded offset; then the file is opened there and
 * the body (or an eager PUT's body, already in memory) goes through the
 * sink.
 */

void
ngx_http_oci_upload_locked(ngx_http_request_t *r, redisReply *reply)
{
    ngx_int_t               rc;
    ngx_uint_t              status;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    if (ngx_http_oci_upload_full(r, reply) == NGX_DONE
        || ngx_http_oci_upload_held(r, up, reply, ngx_http_oci_upload_lock)
           == NGX_DONE)
    {
        return;
    }

    status = ngx_http_oci_upload_state(r, up, reply);
    if (status) {
        return;
    }

    rc = ngx_http_oci_upload_file(r, up);
    if (rc != NGX_OK) {
        ngx_http_oci_upload_fail(r, up, rc,
                                 rc == NGX_HTTP_RANGE_NOT_SATISFIABLE
                                 ? NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID
                                 : rc == NGX_HTTP_NOT_FOUND
                                 ? NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN
                                 : NGX_HTTP_OCI_ERR_UNKNOWN, &up->id);
        return;
    }

    ngx_http_oci_body_to_sink(ctx, &up->sink);

    if (ctx->body.mem) {
        /* an eager PUT's body, already read: as if it arrived now */
        ngx_http_oci_body_replay(r, ctx);
        ngx_http_oci_upload_body_done(r);
        return;
    }

    ngx_http_oci_upload_renew_start(r, up);

    rc = ngx_http_oci_body_read(r, ngx_http_oci_upload_body_done);

    /* NGX_DONE drops the reference the body reading took */
    ngx_http_finalize_request(r, rc);
}


/*
 * {"STATE", offset, algorithm, hash state}: ours now, checked.  0, or
 * the status the request has been answered with.
 */

static ngx_uint_t
ngx_http_oci_upload_state(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    redisReply *reply)
{
    off_t        offset;
    ngx_str_t    alg;
    redisReply  *e;

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_STATE
        || reply->elements != 4
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        ngx_http_oci_unavailable(r);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    up->locked = 1;

    e = reply->element[1];
    offset = ngx_atoof((u_char *) e->str, e->len);

    alg.data = (u_char *) reply->element[2]->str;
    alg.len = reply->element[2]->len;
    up->alg = ngx_http_oci_hash_alg(&alg);

    if (offset == NGX_ERROR || up->alg == 0) {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID, NULL);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->offset = offset;

    if (up->range_end >= 0 && up->range_start != offset) {
        /* out of order: tell the client where the upload stands */
        (void) ngx_http_oci_upload_accepted(r, up, 0, offset);
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                 NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
        return NGX_HTTP_RANGE_NOT_SATISFIABLE;
    }

    /*
     * Closed with a digest of another algorithm than the upload was
     * hashed with (clients do not always announce sha512): the whole file
     * is hashed with it before the commit, in the commit's thread
     */

    if (up->mode == NGX_HTTP_OCI_UPLOAD_CLOSE
        && ngx_http_oci_hash_alg(&up->expected.algorithm) != up->alg)
    {
        up->verify = 1;
    }

    up->hash = ngx_http_oci_hash_create(r->pool, up->alg);
    if (up->hash == NULL) {
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = reply->element[3];

    if (offset > 0
        && (e->type != REDIS_REPLY_STRING
            || ngx_http_oci_hash_import(up->hash, (u_char *) e->str, e->len)
               != NGX_OK))
    {
        /* written by another OpenSSL build: the client must start over */
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                 &up->id);
        return NGX_HTTP_RANGE_NOT_SATISFIABLE;
    }

    return 0;
}


/* all of the body has been written: check it, then record or commit it */

static void
ngx_http_oci_upload_body_done(ngx_http_request_t *r)
{
    off_t                   received;
    ngx_uint_t              status;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;
    u_char                  digest[NGX_HTTP_OCI_DIGEST_MAX];

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    ctx->body.mode = NGX_HTTP_OCI_BODY_NONE;
    received = ctx->body.received;
    status = ctx->body.status;

    if (up->renew.timer_set) {
        ngx_del_timer(&up->renew);
    }

    if (status) {
        ngx_http_oci_upload_fail(r, up, status,
                                 status == NGX_HTTP_RANGE_NOT_SATISFIABLE
                                 ? NGX_HTTP_OCI_ERR_RANGE_INVALID
                                 : NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    if (up->range_end >= 0
        && received != up->range_end - up->range_start + 1)
    {
        /* fewer bytes than Content-Range announced */
        ngx_http_oci_upload_fail(r, up, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                 NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
        return;
    }

    if (up->mode == NGX_HTTP_OCI_UPLOAD_CHUNK) {
        if (ngx_http_oci_upload_save(r, up) != NGX_OK) {
            ngx_http_oci_upload_fail(r, up, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
        }

        /* continues in upload_saved; the body reading's reference is ours */
        return;
    }

    /* the last bytes: the whole blob must be what the digest says */

    if (!up->verify
        && (ngx_http_oci_hash_final(up->hash, digest) != up->digest.len
            || ngx_strncmp(digest, up->digest.data, up->digest.len) != 0))
    {
        /* nothing of a blob that is not what it claims is kept */
        ngx_http_oci_upload_reject(r, up, NGX_HTTP_BAD_REQUEST,
                                   NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                   &up->digest);
        return;
    }

    ngx_http_oci_upload_finish(r, up);
}


/*
 * PATCH: record the new offset and hash state, release the lock.  The
 * bytes are written: the file is closed now, releasing its flock, or the
 * client's next request could beat this request's pool cleanup to the
 * file and find it locked (a spurious 416).
 */

static ngx_int_t
ngx_http_oci_upload_save(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    u_char                   *state;
    size_t                    ulens[5];
    const char               *uargv[5];
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_args_t       a, undo;
    ngx_http_oci_loc_conf_t  *conf;
    u_char                    key[NGX_HTTP_OCI_KEY_MAX];

    ctx = up->ctx;
    conf = ctx->conf;

    if (ngx_close_file(up->fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &up->path);
    }

    up->fd = NGX_INVALID_FILE;

    state = ngx_pnalloc(r->pool, NGX_HTTP_OCI_HASH_STATE_MAX);

    if (state == NULL || ngx_http_oci_args_init(&a, r->pool, 6) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_args_str(&a, &up->id);
    ngx_http_oci_args_str(&a, &up->token);
    ngx_http_oci_args_number(&a, up->offset + ctx->body.received);
    ngx_http_oci_args_add(&a, state,
                          ngx_http_oci_hash_export(up->hash, state));
    ngx_http_oci_args_str(&a, &conf->upload_ttl_text);

    ngx_http_oci_upload_unlock_args(up, &undo, uargv, ulens, key);

    return ngx_http_oci_redis_script_undo(r, conf->redis,
                                          ngx_http_oci_upload_saved,
                                          NGX_HTTP_OCI_SCRIPT_UPLOAD_SAVE, 1,
                                          &a, &undo);
}


static void
ngx_http_oci_upload_saved(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_upload_t  *up;

    up = ngx_http_oci_upload_released(r, reply);
    if (up == NULL) {
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_upload_accepted(r, up,
                                            NGX_HTTP_ACCEPTED,
                                            up->offset
                                            + up->ctx->body.received));
}


/*
 * Content-Range of a chunk (nginx keeps the header in headers_in); with
 * Content-Length too, both must agree
 */

ngx_int_t
ngx_http_oci_upload_range(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.content_range;

    if (h == NULL) {
        return NGX_OK;
    }

    if (ngx_http_oci_content_range_parse(h->value.data, h->value.len,
                                         &up->range_start, &up->range_end)
        != NGX_OK)
    {
        up->range_end = -1;
        return NGX_ERROR;
    }

    if (r->headers_in.content_length_n >= 0
        && r->headers_in.content_length_n
           != up->range_end - up->range_start + 1)
    {
        up->range_end = -1;
        return NGX_ERROR;
    }

    return NGX_OK;
}
