
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_digest.h"


/*
 * A chunk holds its upload's lock for 5 minutes (the script's PX); a body
 * still arriving renews it every minute, so a slow multi-gigabyte chunk
 * never loses it, while the lock of a dead writer still expires.
 */
#define NGX_HTTP_OCI_LOCK_RENEW  60000


/*
 * Request bodies of uploads and manifests go through our request body
 * filter, at the head of nginx's chain: blob bytes are hashed and written
 * to the upload file as they arrive, manifest bytes are collected in
 * memory up to the size limit.  The buffers are consumed here and never
 * reach nginx's save filter, so no client_body temp file is written and
 * memory stays at one client_body_buffer_size per upload, whatever the
 * blob size.  Only the final empty buffer is passed on: the save filter
 * must see last_buf to mark the body complete.  This works the same for
 * HTTP/1.x (Content-Length or chunked) and HTTP/2.
 */


static ngx_int_t ngx_http_oci_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_oci_body_write(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, u_char *p, size_t len);
static void ngx_http_oci_body_renew_lock(ngx_http_oci_ctx_t *ctx);


/*
 * nginx keeps the next filter in a static variable by convention; it is
 * set once at configuration time and is the same for every cycle
 */
static ngx_http_request_body_filter_pt  ngx_http_oci_next_body_filter;


ngx_int_t
ngx_http_oci_body_init(ngx_conf_t *cf)
{
    ngx_http_oci_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_oci_body_filter;

    return NGX_OK;
}


ngx_int_t
ngx_http_oci_body_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt done)
{
    ngx_int_t  rc;

    r->request_body_in_file_only = 0;
    r->request_body_in_single_buf = 0;

    rc = ngx_http_read_client_request_body(r, done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_oci_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t               len;
    ngx_buf_t           *b;
    ngx_uint_t           last;
    ngx_chain_t         *cl;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ctx == NULL || (!ctx->stream && !ctx->memory)) {
        return ngx_http_oci_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        len = b->last - b->pos;

        /*
         * After an error the rest of the body is read and dropped, so
         * that the client gets our JSON answer rather than a reset; an
         * error returned from here would end in nginx's HTML error page.
         */

        if (len && ctx->body_status == 0) {

            if (ctx->memory) {
                if (len > ctx->mem_max - ctx->mem_len) {
                    ctx->body_status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;

                } else {
                    ngx_memcpy(ctx->mem + ctx->mem_len, b->pos, len);
                    ctx->mem_len += len;
                }

            } else {
                ctx->body_status = ngx_http_oci_body_write(r, ctx, b->pos,
                                                           len);
            }

            /* what was dropped after an error is not counted */

            if (ctx->body_status == 0) {
                ctx->received += len;
            }
        }

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (ctx->locked
        && ngx_current_msec - ctx->lock_refreshed > NGX_HTTP_OCI_LOCK_RENEW)
    {
        ngx_http_oci_body_renew_lock(ctx);
    }

    if (!last) {
        return ngx_http_oci_next_body_filter(r, NULL);
    }

    ctx->eof = ngx_calloc_buf(r->pool);
    if (ctx->eof == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->eof->last_buf = 1;
    ctx->eof_link.buf = ctx->eof;
    ctx->eof_link.next = NULL;

    return ngx_http_oci_next_body_filter(r, &ctx->eof_link);
}


/*
 * Hash, then write at the upload's current end.  Returns 0 or the status
 * to answer: 416 for more bytes than Content-Range announced, 507 for a
 * full disk (the upload can be resumed from its last acknowledged offset
 * once there is room), 500 for other write errors.
 */

static ngx_uint_t
ngx_http_oci_body_write(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    u_char *p, size_t len)
{
    if (ctx->range_end >= 0
        && ctx->received + (off_t) len > ctx->range_end - ctx->range_start + 1)
    {
        return NGX_HTTP_RANGE_NOT_SATISFIABLE;
    }

    /* the upload's end must stay an off_t, whatever a chunked body sends */

    if ((off_t) len > NGX_MAX_OFF_T_VALUE - ctx->offset - ctx->received) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    ngx_http_oci_hash_update(ctx->hash, p, len);

    return ngx_http_oci_body_write_file(r, ctx, p, len,
                                        ctx->offset + ctx->received);
}


/* pwrite() all of it; 0, or 507 for a full disk, 500 for other errors */

ngx_uint_t
ngx_http_oci_body_write_file(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    u_char *p, size_t len, off_t off)
{
    ssize_t    n;
    ngx_err_t  err;

    while (len) {
        n = pwrite(ctx->file.fd, p, len, off);

        if (n == -1) {
            err = ngx_errno;

            if (err == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                          "oci registry: writing upload \"%V\" failed",
                          &ctx->upload_path);

            return (err == NGX_ENOSPC) ? NGX_HTTP_INSUFFICIENT_STORAGE
                                       : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
        len -= n;
        off += n;
    }

    return 0;
}


/*
 * Writes a body that was read into ctx->mem (an eager PUT that turned
 * out not to be the whole blob) as if it were arriving now.  Returns 0
 * or the status to answer, as the filter records it.
 */

ngx_uint_t
ngx_http_oci_body_replay(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_uint_t  rc;

    ctx->received = 0;

    rc = ngx_http_oci_body_write(r, ctx, ctx->mem, ctx->mem_len);

    ctx->received = ctx->mem_len;

    return rc;
}


static void
ngx_http_oci_body_renew_lock(ngx_http_oci_ctx_t *ctx)
{
    const char  *argv[6];
    size_t       lens[6];
    u_char       key[NGX_HTTP_OCI_KEY_MAX];

    /* only while it is still ours: a lock taken over is not extended */

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = (char *)
              ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_RENEW].data;
    lens[1] = ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_RENEW].len;
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = (char *) key;
    lens[3] = ngx_http_oci_upload_lock_key(ctx, key);
    argv[4] = (char *) ctx->token.data;
    lens[4] = ctx->token.len;
    argv[5] = "300000";
    lens[5] = 6;

    ngx_http_oci_redis_fire(ctx->conf->redis, 6, argv, lens);

    ctx->lock_refreshed = ngx_current_msec;
}
