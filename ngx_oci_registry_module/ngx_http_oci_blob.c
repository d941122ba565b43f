
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"
#include "ngx_http_oci_redis.h"


/*
 * GET/HEAD/DELETE /v2/<name>/blobs/<digest>.  A blob is served only from
 * repositories it was pushed or mounted to (one HGET), then the file goes
 * out through nginx's own machinery as the static module does it:
 * open_file_cache, sendfile or aio threads, and the range filter for 206
 * and 416.
 */


static void ngx_http_oci_blob_found(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_blob_deleted(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_blob_send(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


static ngx_str_t  ngx_http_oci_octet_stream =
    ngx_string("application/octet-stream");


ngx_int_t
ngx_http_oci_blob(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t                        rc;
    size_t                          *lens;
    const char                     **argv;
    ngx_http_oci_redis_handler_pt    handler;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv = ngx_http_oci_argv(r, 3, &lens);
    if (argv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->digest = ctx->route.digest.text;

    if (r->method == NGX_HTTP_DELETE) {
        argv[0] = "HDEL";
        handler = ngx_http_oci_blob_deleted;

    } else {
        argv[0] = "HGET";
        handler = ngx_http_oci_blob_found;
    }

    lens[0] = 4;

    lens[1] = ctx->base.len + sizeof("blobs") - 1;
    argv[1] = ngx_pnalloc(r->pool, lens[1]);
    if (argv[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf((u_char *) argv[1], "%Vblobs", &ctx->base);

    argv[2] = (char *) ctx->digest.data;
    lens[2] = ctx->digest.len;

    rc = ngx_http_oci_redis_command(r, ctx->conf->redis, handler, 3, argv,
                                    lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_blob_found(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UNKNOWN,
                                    &ctx->digest);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_oci_blob_send(r, ctx));
}


static void
ngx_http_oci_blob_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_reply_deleted(r, reply, NGX_HTTP_OCI_ERR_BLOB_UNKNOWN,
                                   &ctx->digest)
        != NGX_OK)
    {
        return;
    }

    /*
     * Only the link goes: the file may be shared with other repositories
     * and is left to garbage collection.
     */

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_ACCEPTED,
                                                        NULL, 0));
}


static ngx_int_t
ngx_http_oci_blob_send(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                  path, etag;
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
        /* linked in Redis, missing on disk: say so loudly, answer 404 */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, of.err,
                      "oci registry: blob \"%V\" of \"%V\" is linked but "
                      "cannot be opened (%s)", &ctx->digest,
                      &ctx->route.name, of.failed);

        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_OCI_ERR_BLOB_UNKNOWN,
                                       &ctx->digest);
    }

    if (!of.is_file) {
        return NGX_HTTP_NOT_FOUND;
    }

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;
    r->headers_out.content_type = ngx_http_oci_octet_stream;
    r->headers_out.content_type_len = ngx_http_oci_octet_stream.len;

    /* content addressed: the digest is the strongest possible ETag */

    etag.len = ctx->digest.len + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    if (etag.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(etag.data, "\"%V\"", &ctx->digest);

    r->headers_out.etag = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag->hash = 1;
    ngx_str_set(&r->headers_out.etag->key, "ETag");
    r->headers_out.etag->value = etag;
    r->headers_out.etag->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    r->headers_out.etag->next = NULL;
#endif

    if (ngx_http_oci_add_header(r, "Docker-Content-Digest", &ctx->digest)
        != NGX_OK
        || ngx_http_oci_nosniff_header(r) != NGX_OK)
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
