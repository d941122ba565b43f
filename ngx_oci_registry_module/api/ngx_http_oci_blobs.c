
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_blobs.h"
#include "ngx_http_oci_store.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_mirror.h"


/*
 * GET/HEAD/DELETE /v2/<name>/blobs/<digest> (end-2, end-10).  A blob is
 * served only from repositories it was pushed or mounted to (one HGET),
 * then the file goes out through nginx's own machinery as the static
 * module does it: open_file_cache, sendfile or aio threads, the range
 * filter for 206 and 416, the not-modified filter for 304.
 */


static void ngx_http_oci_blob_found(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_blob_deleted(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_blob_open_error(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_str_t *path, ngx_err_t err, char *failed);


static ngx_str_t  ngx_http_oci_octet_stream =
    ngx_string("application/octet-stream");


ngx_int_t
ngx_http_oci_blobs(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_http_oci_args_t           a;
    ngx_http_oci_event_t          ev;
    ngx_http_oci_redis_handler_pt  handler;

    if (ngx_http_discard_request_body(r) != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool, 2 + NGX_HTTP_OCI_BLOB_KEYS
                                                 + NGX_HTTP_OCI_EVENT_ARGS)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->digest = ctx->route.digest.text;

    handler = (r->method == NGX_HTTP_DELETE) ? ngx_http_oci_blob_deleted
                                             : ngx_http_oci_blob_found;

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = (r->method == NGX_HTTP_DELETE) ? "delete"
                : (r->method == NGX_HTTP_GET && ctx->conf->events_pulls)
                  ? "pull" : NULL;
    ev.kind = "blobs";
    ngx_str_set(&ev.media_type, "application/octet-stream");
    ev.size = -1;

    /* a plain HGET, unless the request is an event */

    if (r->method != NGX_HTTP_DELETE
        && (!ctx->conf->events || ev.action == NULL))
    {
        ngx_http_oci_args_lit(&a, "HGET");
        ngx_http_oci_args_key(&a, &ctx->base, "blobs", NULL);
        ngx_http_oci_args_str(&a, &ctx->digest);

        return ngx_http_oci_suspend(r,
                   ngx_http_oci_redis_command(r, ctx->conf->redis, handler,
                                              &a));
    }

    /* a delete also updates the blob's record, for the collector */

    ngx_http_oci_args_str(&a, &ctx->base);

    if (r->method == NGX_HTTP_DELETE) {
        ngx_http_oci_blob_keys(&a, ctx->conf, &ctx->outbox, &ctx->digest);
    }

    ngx_http_oci_event_keys(&a, ctx->conf, &ctx->outbox);
    ngx_http_oci_args_str(&a, &ctx->digest);
    ngx_http_oci_event_args(r, ctx, &a, &ev);

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis, handler,
                                   r->method == NGX_HTTP_DELETE
                                   ? NGX_HTTP_OCI_SCRIPT_BLOB_DELETE
                                   : NGX_HTTP_OCI_SCRIPT_BLOB_GET,
                                   1 + ngx_http_oci_event_nkeys(ctx->conf)
                                   + (r->method == NGX_HTTP_DELETE
                                      ? NGX_HTTP_OCI_BLOB_KEYS : 0),
                                   &a);

    return ngx_http_oci_suspend(r, rc);
}


/*
 * On a cluster the outbox's three keys are dropped when it is forwarded:
 * one record key, not one a digest (the records there are counted
 * before a link and after an unlink, policy/ngx_http_oci_gc_cluster.c)
 */

void
ngx_http_oci_blob_keys(ngx_http_oci_args_t *a, ngx_http_oci_loc_conf_t *conf,
    ngx_str_t *outbox, ngx_str_t *digest)
{
    if (conf->redis->cluster != NULL) {
        ngx_http_oci_args_key(a, outbox, "blob", NULL);

    } else {
        ngx_http_oci_args_key(a, outbox, "blob:", digest);
    }

    ngx_http_oci_args_key(a, outbox, "gc:repos", NULL);
    ngx_http_oci_args_key(a, outbox, "gc:orphans", NULL);
}


static void
ngx_http_oci_blob_found(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type == REDIS_REPLY_NIL) {
        if (ctx->mirror) {
            ngx_http_finalize_request(r, ngx_http_oci_mirror_blob(r, ctx));
            return;
        }

        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UNKNOWN,
                                    &ctx->digest);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (ctx->mirror) {
        ngx_http_oci_mirror_count(r, hits[1], 1);
    }

    ngx_http_finalize_request(r, ngx_http_oci_blob_send(r, ctx));
}


static void
ngx_http_oci_blob_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (reply->integer == 0) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UNKNOWN,
                                    &ctx->digest);
        return;
    }

    /*
     * Only the link goes: the file may be shared with other repositories
     * and is left to garbage collection.  On a cluster the script's
     * outbox lets its record go of it, in the forward after this reply.
     */

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_ACCEPTED,
                                                        NULL, 0));
}


ngx_int_t
ngx_http_oci_blob_send(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                  path;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_open_file_info_t       of;
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_http_oci_blob_path(r->pool, &ctx->conf->storage,
                               &ctx->route.digest, &path)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    if (ngx_open_cached_file(clcf->open_file_cache, &path, &of, r->pool)
        != NGX_OK)
    {
        /*
         * linked in Redis, missing on disk: as the static module maps it
         * (404 logged, 403, else 500 at crit), with the OCI body
         */

        return ngx_http_oci_blob_open_error(r, ctx, &path, of.err,
                                            of.failed);
    }

    if (!of.is_file) {
        return ngx_http_oci_blob_open_error(r, ctx, &path, NGX_EISDIR,
                                            "open()");
    }

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    r->headers_out.last_modified_time = of.mtime;

    if (ngx_http_oci_blob_headers(r, NGX_HTTP_OK, &ctx->digest, of.size)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* allocate all before the header is sent, as the static module does */

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->file_last == 0) ? 1 : 0;

    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The headers of a blob's answer, from its file or from a mirror's
 * upstream: its size, octet-stream, the digest (content addressed: the
 * strongest possible ETag), nosniff
 */

ngx_int_t
ngx_http_oci_blob_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *digest, off_t size)
{
    r->headers_out.status = status;
    r->headers_out.content_length_n = size;
    r->headers_out.content_type = ngx_http_oci_octet_stream;
    r->headers_out.content_type_len = ngx_http_oci_octet_stream.len;

    if (ngx_http_oci_etag(r, digest) != NGX_OK
        || ngx_http_oci_add_header(r, "Docker-Content-Digest", digest)
           != NGX_OK
        || ngx_http_oci_nosniff_header(r) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_blob_open_error(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_str_t *path, ngx_err_t err, char *failed)
{
    ngx_uint_t  status;

    status = ngx_http_oci_errno_status(r->connection->log, err, failed,
                                       path->data);

    switch (status) {

    case NGX_HTTP_NOT_FOUND:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oci registry: blob \"%V\" of \"%V\" is linked but "
                      "not on disk", &ctx->digest, &ctx->route.name);

        return ngx_http_oci_send_error(r, status,
                                       NGX_HTTP_OCI_ERR_BLOB_UNKNOWN,
                                       &ctx->digest);

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_oci_send_error(r, status, NGX_HTTP_OCI_ERR_DENIED,
                                       &ctx->digest);

    default:
        return ngx_http_oci_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
    }
}
