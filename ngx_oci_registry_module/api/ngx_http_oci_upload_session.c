
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_digest.h"


/*
 * An upload session: POST starts one, GET tells where it stands, DELETE
 * cancels it; the entry of every upload request (see ngx_http_oci_
 * uploads.h for the rest).
 */


static ngx_int_t ngx_http_oci_upload_start(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static ngx_int_t ngx_http_oci_upload_close(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_created(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_status(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_status_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_cancel(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_cancelled(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_oci_uploads(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_http_oci_upload_t  *up;

    up = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_upload_t));
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->ctx = ctx;
    up->fd = NGX_INVALID_FILE;
    up->range_end = -1;

    ctx->data = up;

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_UPLOAD_START) {
        return ngx_http_oci_upload_start(r, up);
    }

    up->id = ctx->route.reference;

    if (ngx_http_oci_upload_path(r->pool, &ctx->conf->storage, &up->id,
                                 &up->path)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* an id we signed, still fresh: it exists even with no state yet */

    up->fresh = ngx_http_oci_upload_id_fresh(ctx->conf->idkey, &ctx->base,
                                             &up->id, ctx->conf->fresh)
                ? 1 : 0;

    switch (r->method) {

    case NGX_HTTP_GET:
        return ngx_http_oci_upload_status(r, up);

    case NGX_HTTP_DELETE:
        return ngx_http_oci_upload_cancel(r, up);

    case NGX_HTTP_PUT:
        return ngx_http_oci_upload_close(r, up);

    default: /* PATCH */
        up->mode = NGX_HTTP_OCI_UPLOAD_CHUNK;
        return ngx_http_oci_upload_chunk(r, up);
    }
}


static ngx_int_t
ngx_http_oci_upload_start(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    ngx_str_t  mount, from, alg;

    if (ngx_http_oci_arg(r, "mount", &mount) == NGX_OK) {
        if (ngx_http_oci_arg(r, "from", &from) != NGX_OK) {
            ngx_str_null(&from);
        }

        return ngx_http_oci_upload_mount(r, up, &mount, &from);
    }

    if (ngx_http_oci_arg(r, "digest", &up->digest) == NGX_OK) {
        if (ngx_http_oci_digest_parse(up->digest.data, up->digest.len,
                                      &up->expected)
            != NGX_OK)
        {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &up->digest);
        }

        up->mode = NGX_HTTP_OCI_UPLOAD_MONOLITHIC;

        return ngx_http_oci_upload_monolithic(r, up);
    }

    up->alg = NGX_HTTP_OCI_SHA256;

    if (ngx_http_oci_arg(r, "digest-algorithm", &alg) == NGX_OK) {
        up->alg = ngx_http_oci_hash_alg(&alg);

        if (up->alg == 0) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &alg);
        }
    }

    return ngx_http_oci_upload_create(r, up);
}


/* PUT ?digest=: a whole small blob read first, else the usual chunk */

static ngx_int_t
ngx_http_oci_upload_close(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
#if (NGX_THREADS)
    ngx_int_t  rc;
#endif

    if (ngx_http_oci_arg(r, "digest", &up->digest) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_OCI_ERR_DIGEST_INVALID, NULL);
    }

    if (ngx_http_oci_digest_parse(up->digest.data, up->digest.len,
                                  &up->expected)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                       &up->digest);
    }

    up->mode = NGX_HTTP_OCI_UPLOAD_CLOSE;

#if (NGX_THREADS)

    rc = ngx_http_oci_upload_eager(r, up);
    if (rc != NGX_DECLINED) {
        return rc;
    }

#endif

    return ngx_http_oci_upload_chunk(r, up);
}


/*
 * A new upload session.  With a key, a signed id: the state is made by
 * the first chunk, so this costs Redis nothing.  sha512 uploads (and a
 * registry without a key) record the upload in Redis now.
 */

ngx_int_t
ngx_http_oci_upload_create(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    ngx_int_t                 rc;
    ngx_http_oci_args_t       a;
    ngx_http_oci_loc_conf_t  *conf;

    conf = up->ctx->conf;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (conf->idkey && conf->idkey->loaded && up->alg == NGX_HTTP_OCI_SHA256)
    {
        if (ngx_http_oci_upload_id_signed(r->pool, conf->idkey,
                                          &up->ctx->base, &up->id)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oci_upload_accepted(r, up, NGX_HTTP_ACCEPTED, 0);
    }

    if (ngx_http_oci_upload_id(r->pool, &up->id) != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool, 5) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_str(&a, &up->ctx->base);
    ngx_http_oci_args_str(&a, &up->id);

    if (up->alg == NGX_HTTP_OCI_SHA512) {
        ngx_http_oci_args_lit(&a, "sha512");

    } else {
        ngx_http_oci_args_lit(&a, "sha256");
    }

    ngx_http_oci_args_str(&a, &conf->upload_ttl_text);
    ngx_http_oci_args_str(&a, &conf->uploads_max_text);

    rc = ngx_http_oci_redis_script(r, conf->redis,
                                   ngx_http_oci_upload_created,
                                   NGX_HTTP_OCI_SCRIPT_UPLOAD_CREATE, 1, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_upload_created(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_upload_full(r, reply) == NGX_DONE) {
        return;
    }

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_CREATED) {
        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_upload_accepted(r, ctx->data,
                                                        NGX_HTTP_ACCEPTED, 0));
}


/*
 * "FULL": the repository has oci_registry_uploads_max uploads in progress
 * already (the bound on what clients with push rights can make Redis
 * hold); 429, and the client may retry when some finish or expire.
 */

ngx_int_t
ngx_http_oci_upload_full(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t  detail;

    static ngx_str_t  retry = ngx_string("10");

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_FULL) {
        return NGX_DECLINED;
    }

    ngx_str_set(&detail, "too many uploads in progress in this repository "
                         "(oci_registry_uploads_max)");

    if (ngx_http_oci_add_header(r, "Retry-After", &retry) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ngx_http_oci_finalize_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                NGX_HTTP_OCI_ERR_TOOMANYREQUESTS, &detail);
    return NGX_DONE;
}


static ngx_int_t
ngx_http_oci_upload_status(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    ngx_int_t            rc;
    ngx_http_oci_args_t  a;

    if (ngx_http_discard_request_body(r) != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool, 3) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_str(&a, &up->ctx->base);
    ngx_http_oci_args_str(&a, &up->id);
    ngx_http_oci_args_flag(&a, up->fresh);

    rc = ngx_http_oci_redis_script(r, up->ctx->conf->redis,
                                   ngx_http_oci_upload_status_reply,
                                   NGX_HTTP_OCI_SCRIPT_UPLOAD_STATUS, 1, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_upload_status_reply(ngx_http_request_t *r, redisReply *reply)
{
    off_t                   offset;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_UNKNOWN:
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &up->id);
        return;

    case NGX_HTTP_OCI_R_STATE:
        if (reply->elements == 2
            && reply->element[1]->type == REDIS_REPLY_STRING)
        {
            break;
        }

        /* fall through */

    default:
        ngx_http_oci_unavailable(r);
        return;
    }

    offset = ngx_atoof((u_char *) reply->element[1]->str,
                       reply->element[1]->len);
    if (offset == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_upload_accepted(r, up,
                                                           NGX_HTTP_NO_CONTENT,
                                                           offset));
}


static ngx_int_t
ngx_http_oci_upload_cancel(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    ngx_int_t                 rc;
    ngx_http_oci_args_t       a;
    ngx_http_oci_loc_conf_t  *conf;

    conf = up->ctx->conf;

    if (ngx_http_discard_request_body(r) != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool, 4) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_str(&a, &up->ctx->base);
    ngx_http_oci_args_str(&a, &up->id);
    ngx_http_oci_args_flag(&a, up->fresh);
    ngx_http_oci_args_str(&a, &conf->fresh_text);

    rc = ngx_http_oci_redis_script(r, conf->redis,
                                   ngx_http_oci_upload_cancelled,
                                   NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL, 1, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_upload_cancelled(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_CANCELLED:
        break;

    case NGX_HTTP_OCI_R_UNKNOWN:
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &up->id);
        return;

    default:
        ngx_http_oci_unavailable(r);
        return;
    }

    if (ngx_delete_file(up->path.data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "oci registry: unlink \"%V\" failed", &up->path);
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r,
                                                        NGX_HTTP_NO_CONTENT,
                                                        NULL, 0));
}


/*
 * The headers that tell a client where its upload stands: Location (where
 * to send the next chunk), Range (what we have), Docker-Upload-UUID.  With
 * status 0 only the headers are set (for an error response).
 */

ngx_int_t
ngx_http_oci_upload_accepted(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    ngx_uint_t status, off_t size)
{
    ngx_str_t  range;

    range.data = ngx_pnalloc(r->pool, sizeof("0-") - 1 + NGX_OFF_T_LEN);
    if (range.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* like distribution: "0-0" for an upload that has no bytes yet */
    range.len = ngx_sprintf(range.data, "0-%O", size > 0 ? size - 1 : 0)
                - range.data;

    if (ngx_http_oci_location(r, "blobs/uploads", &up->id) != NGX_OK
        || ngx_http_oci_add_header(r, "Range", &range) != NGX_OK
        || ngx_http_oci_add_header(r, "Docker-Upload-UUID", &up->id)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == 0) {
        return NGX_OK;
    }

    return ngx_http_oci_send_json(r, status, NULL, 0);
}
