
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
 * Blob uploads: POST starts one (or uploads a whole blob with ?digest=,
 * or mounts one from another repository), PATCH appends a chunk, PUT
 * closes it with the digest of the whole blob, GET reports progress,
 * DELETE cancels.
 *
 * The bytes go to <root>/_uploads/<id>, hashed as they arrive.  The
 * upload's state (offset, algorithm, exported hash state) lives in Redis,
 * so any worker of any node sharing Redis and the storage root can take
 * the next chunk.  One writer at a time: a chunk takes a lock in Redis
 * (and an flock() on the file against a stale writer on the same node).
 */


#define NGX_HTTP_OCI_LOCK_TTL      "300000"
#define NGX_HTTP_OCI_TOKEN_LEN     (NGX_MAXHOSTNAMELEN + 64)

/* a closing PUT up to this size is read whole before the upload is looked up */
#define NGX_HTTP_OCI_EAGER_MAX     65536


static ngx_int_t ngx_http_oci_upload_start(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_upload_mount(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_str_t *digest, ngx_str_t *from);
static ngx_int_t ngx_http_oci_upload_automount(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_upload_link(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, u_char *size, size_t len);
static void ngx_http_oci_upload_mount_found(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_upload_mount_done(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_blob_created(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_upload_create(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_created(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_full(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_oci_upload_monolithic(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_upload_chunk(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_upload_token(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
#if (NGX_THREADS)
static ngx_int_t ngx_http_oci_upload_eager(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_eager_done(ngx_http_request_t *r);
static void ngx_http_oci_upload_closed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_close(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
#endif
static ngx_int_t ngx_http_oci_upload_lock(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_holder_dead(ngx_str_t *identity,
    ngx_str_t *holder);
static ngx_int_t ngx_http_oci_upload_held(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, redisReply *reply,
    ngx_int_t (*again)(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx));
static void ngx_http_oci_upload_locked(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_upload_body_done(ngx_http_request_t *r);
static ngx_http_oci_ctx_t *ngx_http_oci_upload_released(
    ngx_http_request_t *r, redisReply *reply);
static void ngx_http_oci_upload_saved(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_upload_finish(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_committed(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_linked(ngx_http_request_t *r,
    redisReply *reply);
#if (NGX_THREADS)
static ngx_thread_pool_t *ngx_http_oci_thread_pool(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_upload_spare(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_pool_cleanup_t *cln);
static void ngx_http_oci_commit_thread(void *data, ngx_log_t *log);
static void ngx_http_oci_commit_done(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_oci_upload_status(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_status_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_cancel(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_cancelled(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_accepted(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_uint_t status, off_t size);
static void ngx_http_oci_upload_fail(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_uint_t status, ngx_http_oci_err_e err,
    ngx_str_t *detail);
static void ngx_http_oci_upload_drop(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_upload_file(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_cleanup(void *data);
static void ngx_http_oci_upload_release(ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_upload_unlock_cmd(ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_redis_cmd_t *cmd, const char **argv, size_t *lens,
    u_char *key);
static ngx_int_t ngx_http_oci_content_range(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


ngx_int_t
ngx_http_oci_upload(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ctx->range_end = -1;
    ctx->file.fd = NGX_INVALID_FILE;

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_UPLOAD_START) {
        return ngx_http_oci_upload_start(r, ctx);
    }

    ctx->upload_id = ctx->route.reference;

    if (ngx_http_oci_upload_path(r->pool, &ctx->conf->storage,
                                 &ctx->upload_id, &ctx->upload_path)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* an id we signed, still fresh: it exists even with no state yet */

    ctx->lazy = ngx_http_oci_upload_id_fresh(ctx->conf->idkey, &ctx->base,
                                             &ctx->upload_id,
                                             ctx->conf->fresh);

    switch (r->method) {

    case NGX_HTTP_GET:
        return ngx_http_oci_upload_status(r, ctx);

    case NGX_HTTP_DELETE:
        return ngx_http_oci_upload_cancel(r, ctx);

    case NGX_HTTP_PUT:
        ctx->closing = 1;

        if (ngx_http_oci_arg(r, "digest", &ctx->digest) != NGX_OK)
        {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           NULL);
        }

        if (ngx_http_oci_digest_parse(ctx->digest.data, ctx->digest.len,
                                      &ctx->parsed)
            != NGX_OK)
        {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &ctx->digest);
        }

#if (NGX_THREADS)
        {
        ngx_int_t  rc;

        rc = ngx_http_oci_upload_eager(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
        }
#endif

        /* fall through */

    default: /* PATCH */
        return ngx_http_oci_upload_chunk(r, ctx);
    }
}


static ngx_int_t
ngx_http_oci_upload_start(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_str_t  mount, from, alg;

    if (ngx_http_oci_arg(r, "mount", &mount) == NGX_OK) {
        if (ngx_http_oci_arg(r, "from", &from) != NGX_OK) {
            ngx_str_null(&from);
        }

        return ngx_http_oci_upload_mount(r, ctx, &mount, &from);
    }

    if (ngx_http_oci_arg(r, "digest", &ctx->digest) == NGX_OK) {
        if (ngx_http_oci_digest_parse(ctx->digest.data, ctx->digest.len,
                                      &ctx->parsed)
            != NGX_OK)
        {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &ctx->digest);
        }

        return ngx_http_oci_upload_monolithic(r, ctx);
    }

    ctx->alg = NGX_HTTP_OCI_SHA256;

    if (ngx_http_oci_arg(r, "digest-algorithm", &alg) == NGX_OK) {
        ctx->alg = ngx_http_oci_hash_alg(&alg);

        if (ctx->alg == 0) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &alg);
        }
    }

    return ngx_http_oci_upload_create(r, ctx);
}


/*
 * POST ?mount=<digest>&from=<repo>: link a blob of another repository
 * without moving any bytes.  Without "from", or when the blob is not
 * there, a regular upload session starts (202), as the spec asks.
 */

static ngx_int_t
ngx_http_oci_upload_mount(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_str_t *digest, ngx_str_t *from)
{
    ngx_int_t    rc;
    u_char      *p;
    size_t      *lens;
    const char **argv;

    if (ngx_http_oci_digest_parse(digest->data, digest->len, &ctx->parsed)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                       digest);
    }

    ctx->digest = *digest;
    ctx->alg = NGX_HTTP_OCI_SHA256;

    if (from->len == 0) {
        return ngx_http_oci_upload_automount(r, ctx);
    }

    if (ngx_http_oci_name_valid(from->data, from->len) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_OCI_ERR_NAME_INVALID, from);
    }

    argv = ngx_http_oci_argv(r, 3, &lens);
    p = ngx_pnalloc(r->pool, ctx->conf->key_prefix.len + from->len
                             + sizeof("{}:blobs") - 1);

    if (argv == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "HGET";
    lens[0] = 4;
    argv[1] = (char *) p;
    lens[1] = ngx_sprintf(p, "%V{%V}:blobs", &ctx->conf->key_prefix, from)
              - p;
    argv[2] = (char *) ctx->digest.data;
    lens[2] = ctx->digest.len;

    rc = ngx_http_oci_redis_command(r, ctx->conf->redis,
                                    ngx_http_oci_upload_mount_found,
                                    3, argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


/*
 * A mount without "from" (oci_registry_auto_mount on): the blob store is
 * content addressed and shared, so if the file exists, some repository
 * pushed those bytes and this one may link them.  Off by default: it
 * tells a client that a blob exists somewhere, which a multi-tenant
 * registry must not reveal.
 */

static ngx_int_t
ngx_http_oci_upload_automount(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char           *size;
    ngx_str_t         path;
    ngx_file_info_t   fi;

    if (!ctx->conf->auto_mount) {
        return ngx_http_oci_upload_create(r, ctx);
    }

    if (ngx_http_oci_blob_path(r->pool, &ctx->conf->storage, &ctx->parsed,
                               &path)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_file_info(path.data, &fi) == NGX_FILE_ERROR) {
        return ngx_http_oci_upload_create(r, ctx);
    }

    size = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (size == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_upload_link(r, ctx, size,
                                 ngx_sprintf(size, "%O", ngx_file_size(&fi))
                                 - size)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_oci_upload_mount_found(ngx_http_request_t *r, redisReply *reply)
{
    u_char              *size;
    ngx_int_t            rc;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_STRING) {
        /* not in "from": start a regular upload instead */
        rc = ngx_http_oci_upload_create(r, ctx);
        ngx_http_finalize_request(r, rc);
        return;
    }

    size = ngx_pnalloc(r->pool, reply->len);
    if (size == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(size, reply->str, reply->len);

    if (ngx_http_oci_upload_link(r, ctx, size, reply->len) != NGX_OK) {
        ngx_http_oci_unavailable(r);
        return;
    }

    /* the request continues in mount_done */
}


/* links the blob ctx->digest of "size" bytes to the repository */

static ngx_int_t
ngx_http_oci_upload_link(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    u_char *size, size_t len)
{
    size_t      *lens;
    const char **argv;

    argv = ngx_http_oci_argv(r, 5, &lens);

    if (argv == NULL) {
        return NGX_ERROR;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->digest.data;
    lens[1] = ctx->digest.len;
    argv[2] = (char *) size;
    lens[2] = len;
    argv[3] = "";
    lens[3] = 0;
    argv[4] = "";
    lens[4] = 0;

    return ngx_http_oci_redis_script(r, ctx->conf->redis,
                                     ngx_http_oci_upload_mount_done,
                                     NGX_HTTP_OCI_SCRIPT_BLOB_LINK, 1, 5,
                                     argv, lens);
}


static void
ngx_http_oci_upload_mount_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_oci_blob_created(r, ctx);
}


/* 201 for a blob now in the repository, by upload or by mount */

static void
ngx_http_oci_blob_created(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    if (ngx_http_oci_created(r, "blobs", &ctx->digest) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_CREATED,
                                                        NULL, 0));
}


static ngx_int_t
ngx_http_oci_upload_create(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t    rc;
    size_t      *lens;
    const char **argv;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->conf->idkey && ctx->conf->idkey->loaded
        && ctx->alg == NGX_HTTP_OCI_SHA256)
    {
        /* a signed id: the state is made by the first chunk, no Redis now */

        if (ngx_http_oci_upload_id_signed(r->pool, ctx->conf->idkey,
                                          &ctx->base, &ctx->upload_id)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oci_upload_accepted(r, ctx, NGX_HTTP_ACCEPTED, 0);
    }

    if (ngx_http_oci_upload_id(r->pool, &ctx->upload_id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv = ngx_http_oci_argv(r, 5, &lens);

    if (argv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->upload_id.data;
    lens[1] = ctx->upload_id.len;
    argv[2] = ctx->alg == NGX_HTTP_OCI_SHA512 ? "sha512" : "sha256";
    lens[2] = 6;
    argv[3] = (char *) ctx->conf->upload_ttl_text.data;
    lens[3] = ctx->conf->upload_ttl_text.len;
    argv[4] = (char *) ctx->conf->uploads_max_text.data;
    lens[4] = ctx->conf->uploads_max_text.len;

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_upload_created,
                                   NGX_HTTP_OCI_SCRIPT_UPLOAD_CREATE, 1, 5,
                                   argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_upload_created(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_upload_full(r, ctx, reply) == NGX_DONE) {
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_upload_accepted(r, ctx,
                                                        NGX_HTTP_ACCEPTED, 0));
}


/*
 * "FULL": the repository has oci_registry_uploads_max uploads in progress
 * already (the bound on what clients with push rights can make Redis
 * hold); 429, and the client may retry when some finish or expire.
 */

static ngx_int_t
ngx_http_oci_upload_full(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    redisReply *reply)
{
    ngx_str_t  detail;

    static ngx_str_t  retry = ngx_string("10");

    if (reply->type != REDIS_REPLY_STRING || reply->len != 4
        || ngx_strncmp(reply->str, "FULL", 4) != 0)
    {
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


/*
 * POST ?digest=<d> with the whole blob as body: no session in Redis, the
 * bytes go to a fresh upload file and become the blob if they match.
 */

static ngx_int_t
ngx_http_oci_upload_monolithic(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t  rc;

    ctx->monolithic = 1;
    ctx->alg = ngx_http_oci_hash_alg(&ctx->parsed.algorithm);

    if (ngx_http_oci_upload_id(r->pool, &ctx->upload_id) != NGX_OK
        || ngx_http_oci_upload_path(r->pool, &ctx->conf->storage,
                                    &ctx->upload_id, &ctx->upload_path)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->hash = ngx_http_oci_hash_create(r->pool, ctx->alg);
    if (ctx->hash == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_oci_upload_file(r, ctx);
    if (rc != NGX_OK) {
        return ngx_http_oci_send_error(r, rc, NGX_HTTP_OCI_ERR_UNKNOWN,
                                       NULL);
    }

    ctx->stream = 1;

    return ngx_http_oci_body_read(r, ngx_http_oci_upload_body_done);
}


/* PATCH, and PUT with the last chunk: take the lock, then the body */

static ngx_int_t
ngx_http_oci_upload_chunk(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    if (ngx_http_oci_content_range(r, ctx) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                       NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
    }

    if (ngx_http_oci_upload_token(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_suspend(r, ngx_http_oci_upload_lock(r, ctx));
}


static ngx_int_t
ngx_http_oci_upload_token(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char                    *p;
    ngx_http_oci_main_conf_t  *omcf;

    p = ngx_pnalloc(r->pool, NGX_HTTP_OCI_TOKEN_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /*
     * The lock token only has to be unique (the upload id is the secret);
     * "<identity>:<pid>:..." also lets a later request of a process that
     * sees the same process table (see ngx_http_oci_process_identity())
     * tell that the holder died (kill -9) and take the lock over
     */

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_registry_module);

    ctx->token.data = p;
    ctx->token.len = ngx_snprintf(p, NGX_HTTP_OCI_TOKEN_LEN, "%V:%P:%M:%ui",
                                  &omcf->identity, ngx_pid,
                                  ngx_current_msec, r->connection->number)
                     - p;

    ngx_str_null(&ctx->stale);

    return NGX_OK;
}


#if (NGX_THREADS)

/*
 * A closing PUT that carries a small blob whole (docker's and
 * containerd's POST-then-PUT) is read into memory before the upload is
 * looked up.  If its bytes match the digest they are the blob, whatever
 * the upload holds: the blob is committed from a spare file, and one
 * script then checks that the upload is at offset 0 and unlocked, links
 * the blob and ends the upload.  That saves the lock's round trip.  If
 * they do not match (the last chunk of a longer upload, or a wrong
 * digest), or no spare is at hand, the PUT goes the usual way with the
 * body replayed from memory.  NGX_DECLINED: not such a PUT.
 */

static ngx_int_t
ngx_http_oci_upload_eager(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    off_t                   len;
    ngx_http_oci_spares_t  *sp;

    len = r->headers_in.content_length_n;
    sp = ctx->conf->spares;

    if (len <= 0 || len > NGX_HTTP_OCI_EAGER_MAX
        || sp == NULL || sp->n == 0)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_oci_content_range(r, ctx) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                       NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
    }

    if (ctx->range_end >= 0) {
        return NGX_DECLINED;
    }

    ctx->mem = ngx_pnalloc(r->pool, (size_t) len);
    if (ctx->mem == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mem_max = (size_t) len;
    ctx->memory = 1;
    ctx->eager = 1;

    return ngx_http_oci_body_read(r, ngx_http_oci_upload_eager_done);
}


static void
ngx_http_oci_upload_eager_done(ngx_http_request_t *r)
{
    ngx_uint_t            status;
    ngx_pool_cleanup_t   *cln;
    ngx_http_oci_hash_t  *hash;
    ngx_http_oci_ctx_t   *ctx;
    u_char                digest[NGX_HTTP_OCI_DIGEST_MAX];

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ctx->memory = 0;

    if (ctx->body_status) {
        ngx_http_oci_upload_fail(r, ctx, ctx->body_status,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    ctx->alg = ngx_http_oci_hash_alg(&ctx->parsed.algorithm);

    hash = ngx_http_oci_hash_create(r->pool, ctx->alg);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (hash == NULL || cln == NULL) {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    ngx_http_oci_hash_update(hash, ctx->mem, ctx->mem_len);
    ctx->final.len = ngx_http_oci_hash_final(hash, digest);

    if (ctx->final.len != ctx->digest.len
        || ngx_strncmp(digest, ctx->digest.data, ctx->digest.len) != 0
        || ngx_http_oci_upload_spare(r, ctx, cln) != NGX_OK)
    {
        /* not the whole blob, or no spare: the usual way */

        ctx->eager = 0;

        if (ngx_http_oci_upload_token(r, ctx) != NGX_OK) {
            ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
            return;
        }

        if (ngx_http_oci_upload_lock(r, ctx) != NGX_OK) {
            ngx_http_oci_unavailable(r);
        }

        return;
    }

    status = ngx_http_oci_body_write_file(r, ctx, ctx->mem, ctx->mem_len, 0);
    if (status) {
        ngx_http_oci_upload_fail(r, ctx, status, NGX_HTTP_OCI_ERR_UNKNOWN,
                                 NULL);
        return;
    }

    /* at offset 0; "received" was counted as the body was read */

    ngx_http_oci_upload_finish(r, ctx);
}


/* the blob is committed: link it and end the upload, if it is at 0 */

static ngx_int_t
ngx_http_oci_upload_close(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char      *p;
    size_t      *lens;
    const char **argv;

    argv = ngx_http_oci_argv(r, 8, &lens);
    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);

    if (argv == NULL || p == NULL) {
        return NGX_ERROR;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->digest.data;
    lens[1] = ctx->digest.len;
    argv[2] = (char *) p;
    lens[2] = ngx_sprintf(p, "%O", ctx->received) - p;
    argv[3] = (char *) ctx->upload_id.data;
    lens[3] = ctx->upload_id.len;
    argv[4] = ctx->stale.len ? (char *) ctx->stale.data : "";
    lens[4] = ctx->stale.len;
    argv[5] = ctx->alg == NGX_HTTP_OCI_SHA512 ? "sha512" : "sha256";
    lens[5] = 6;
    argv[6] = ctx->lazy ? "1" : "";
    lens[6] = ctx->lazy;
    argv[7] = (char *) ctx->conf->fresh_text.data;
    lens[7] = ctx->conf->fresh_text.len;

    return ngx_http_oci_redis_script(r, ctx->conf->redis,
                                     ngx_http_oci_upload_closed,
                                     NGX_HTTP_OCI_SCRIPT_BLOB_CLOSE, 1, 8,
                                     argv, lens);
}


static void
ngx_http_oci_upload_closed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    /* unknown (the blob stays: verified bytes, whoever pushes them) */

    if (ngx_http_oci_upload_held(r, ctx, reply, ngx_http_oci_upload_close)
        == NGX_DONE)
    {
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (reply->integer == 2 || reply->integer == 1) {
        /*
         * The upload is over: a file an earlier chunk left goes too.  Not
         * for 4, a signed id nobody wrote to: no system call for nothing
         * on the common path.
         */

        if (ngx_delete_file(ctx->upload_path.data) == NGX_FILE_ERROR
            && ngx_errno != NGX_ENOENT)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          "oci registry: unlink \"%V\" failed",
                          &ctx->upload_path);
        }
    }

    if (reply->integer != 1 && reply->integer != 4) {
        /* bytes before this body, or another algorithm: not this digest */
        ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                    &ctx->digest);
        return;
    }

    ngx_http_oci_blob_created(r, ctx);
}

#endif


/* NGX_OK: the script is on its way (upload_locked runs), else NGX_ERROR */

static ngx_int_t
ngx_http_oci_upload_lock(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    size_t                    *lens, ulens[5];
    const char               **argv, *uargv[5];
    ngx_http_oci_redis_cmd_t   undo;
    u_char                     key[NGX_HTTP_OCI_KEY_MAX];

    argv = ngx_http_oci_argv(r, 8, &lens);

    if (argv == NULL) {
        return NGX_ERROR;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->upload_id.data;
    lens[1] = ctx->upload_id.len;
    argv[2] = (char *) ctx->token.data;
    lens[2] = ctx->token.len;
    argv[7] = (char *) ctx->conf->uploads_max_text.data;
    lens[7] = ctx->conf->uploads_max_text.len;
    argv[3] = NGX_HTTP_OCI_LOCK_TTL;
    lens[3] = sizeof(NGX_HTTP_OCI_LOCK_TTL) - 1;
    argv[4] = ctx->stale.len ? (char *) ctx->stale.data : "";
    lens[4] = ctx->stale.len;
    argv[5] = ctx->lazy ? "1" : "";
    lens[5] = ctx->lazy;
    argv[6] = (char *) ctx->conf->upload_ttl_text.data;
    lens[6] = ctx->conf->upload_ttl_text.len;

    /* a lost reply may hide a lock taken: released after the reconnect */

    ngx_http_oci_upload_unlock_cmd(ctx, &undo, uargv, ulens, key);

    return ngx_http_oci_redis_script_undo(r, ctx->conf->redis,
                                          ngx_http_oci_upload_locked,
                                          NGX_HTTP_OCI_SCRIPT_UPLOAD_LOCK, 1,
                                          8, argv, lens, &undo);
}


/*
 * Is the lock holder a process of our process table (same boot, same pid
 * namespace) that no longer exists (its worker was killed mid-chunk)?
 * Then its lock may be taken over at once instead of after the lock's
 * TTL.  A holder of another host or namespace is never judged.
 */

static ngx_int_t
ngx_http_oci_holder_dead(ngx_str_t *identity, ngx_str_t *holder)
{
    u_char     *p, *colon, *last;
    ngx_int_t   pid;

    last = holder->data + holder->len;

    if (identity->len == 0
        || holder->len <= identity->len + 1
        || ngx_strncmp(holder->data, identity->data, identity->len) != 0
        || holder->data[identity->len] != ':')
    {
        return NGX_DECLINED;
    }

    p = holder->data + identity->len + 1;
    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }

    pid = ngx_atoi(p, colon - p);

    if (pid == NGX_ERROR || pid <= 0 || (ngx_pid_t) pid == ngx_pid) {
        return NGX_DECLINED;
    }

    if (kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The replies the lock's and the eager close's scripts share: nil, an
 * unknown upload (404), and {"LOCKED", holder}: another request is
 * writing the upload right now (416), or was, in a process of this host
 * that died, whose lock is then taken over at once by running "again"
 * with ctx->stale set.  NGX_DONE when the reply was one of those and has
 * been dealt with, else NGX_DECLINED.
 */

static ngx_int_t
ngx_http_oci_upload_held(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    redisReply *reply,
    ngx_int_t (*again)(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx))
{
    ngx_str_t                  holder;
    ngx_http_oci_main_conf_t  *omcf;

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &ctx->upload_id);
        return NGX_DONE;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    holder.data = (u_char *) reply->element[1]->str;
    holder.len = reply->element[1]->len;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_registry_module);

    if (ctx->stale.len == 0
        && ngx_http_oci_holder_dead(&omcf->identity, &holder) == NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: upload \"%V\" was locked by a dead "
                      "process (%V), taking over", &ctx->upload_id, &holder);

        if (ngx_http_oci_set_str(r, &ctx->stale, holder.data, holder.len)
            != NGX_OK
            || again(r, ctx) != NGX_OK)
        {
            ngx_http_oci_unavailable(r);
        }

        return NGX_DONE;
    }

    ngx_http_oci_finalize_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                &ctx->upload_id);
    return NGX_DONE;
}


static void
ngx_http_oci_upload_locked(ngx_http_request_t *r, redisReply *reply)
{
    off_t                offset;
    ngx_int_t            rc;
    ngx_str_t            alg;
    redisReply          *e;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_upload_full(r, ctx, reply) == NGX_DONE
        || ngx_http_oci_upload_held(r, ctx, reply, ngx_http_oci_upload_lock)
           == NGX_DONE)
    {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    ctx->locked = 1;
    ctx->lock_refreshed = ngx_current_msec;

    e = reply->element[0];
    offset = ngx_atoof((u_char *) e->str, e->len);

    alg.data = (u_char *) reply->element[1]->str;
    alg.len = reply->element[1]->len;
    ctx->alg = ngx_http_oci_hash_alg(&alg);

    if (offset == NGX_ERROR || ctx->alg == 0) {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID, NULL);
        return;
    }

    ctx->offset = offset;

    if (ctx->range_end >= 0 && ctx->range_start != offset) {
        /* out of order: tell the client where the upload stands */
        (void) ngx_http_oci_upload_accepted(r, ctx, 0, offset);
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                 NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
        return;
    }

    if (ctx->closing
        && ngx_http_oci_hash_alg(&ctx->parsed.algorithm) != ctx->alg)
    {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                 NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                 &ctx->digest);
        return;
    }

    ctx->hash = ngx_http_oci_hash_create(r->pool, ctx->alg);
    if (ctx->hash == NULL) {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    e = reply->element[2];

    if (offset > 0
        && (e->type != REDIS_REPLY_STRING
            || ngx_http_oci_hash_import(ctx->hash, (u_char *) e->str, e->len)
               != NGX_OK))
    {
        /* written by another OpenSSL build: the client must start over */
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                 &ctx->upload_id);
        return;
    }

    rc = ngx_http_oci_upload_file(r, ctx);
    if (rc != NGX_OK) {
        ngx_http_oci_upload_fail(r, ctx, rc,
                                 rc == NGX_HTTP_RANGE_NOT_SATISFIABLE
                                 ? NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID
                                 : rc == NGX_HTTP_NOT_FOUND
                                 ? NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN
                                 : NGX_HTTP_OCI_ERR_UNKNOWN, &ctx->upload_id);
        return;
    }

    if (ctx->mem) {
        /* an eager PUT's body, already read: as if it arrived now */
        ctx->body_status = ngx_http_oci_body_replay(r, ctx);
        ngx_http_oci_upload_body_done(r);
        return;
    }

    ctx->stream = 1;

    rc = ngx_http_oci_body_read(r, ngx_http_oci_upload_body_done);

    /* NGX_DONE drops the reference the body reading took */
    ngx_http_finalize_request(r, rc);
}


/* all of the body has been written: check it, then record or commit it */

static void
ngx_http_oci_upload_body_done(ngx_http_request_t *r)
{
    u_char                    *p, *state;
    size_t                    *lens, ulens[5];
    const char               **argv, *uargv[5];
    ngx_http_oci_ctx_t        *ctx;
    ngx_http_oci_redis_cmd_t   undo;
    u_char                     digest[NGX_HTTP_OCI_DIGEST_MAX];
    u_char                     key[NGX_HTTP_OCI_KEY_MAX];

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ctx->stream = 0;

    if (ctx->body_status) {
        ngx_http_oci_upload_fail(r, ctx, ctx->body_status,
                                 ctx->body_status
                                 == NGX_HTTP_RANGE_NOT_SATISFIABLE
                                 ? NGX_HTTP_OCI_ERR_RANGE_INVALID
                                 : NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    if (ctx->range_end >= 0
        && ctx->received != ctx->range_end - ctx->range_start + 1)
    {
        /* fewer bytes than Content-Range announced */
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                 NGX_HTTP_OCI_ERR_RANGE_INVALID, NULL);
        return;
    }

    if (ctx->closing || ctx->monolithic) {
        ctx->final.len = ngx_http_oci_hash_final(ctx->hash, digest);

        if (ctx->final.len != ctx->digest.len
            || ngx_strncmp(digest, ctx->digest.data, ctx->digest.len) != 0)
        {
            /* nothing of a blob that is not what it claims is kept */
            ngx_http_oci_upload_drop(r, ctx);

            ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                     &ctx->digest);
            return;
        }

        ngx_http_oci_upload_finish(r, ctx);
        return;
    }

    /*
     * PATCH: record the new offset and hash state, release the lock.  The
     * bytes are written: close the file now, releasing its flock, or the
     * client's next request could beat this request's pool cleanup to the
     * file and find it locked (a spurious 416).
     */

    if (ngx_close_file(ctx->file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &ctx->upload_path);
    }

    ctx->file.fd = NGX_INVALID_FILE;

    argv = ngx_http_oci_argv(r, 6, &lens);
    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    state = ngx_pnalloc(r->pool, NGX_HTTP_OCI_HASH_STATE_MAX);

    if (argv == NULL || p == NULL || state == NULL) {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->upload_id.data;
    lens[1] = ctx->upload_id.len;
    argv[2] = (char *) ctx->token.data;
    lens[2] = ctx->token.len;
    argv[3] = (char *) p;
    lens[3] = ngx_sprintf(p, "%O", ctx->offset + ctx->received) - p;
    argv[4] = (char *) state;
    lens[4] = ngx_http_oci_hash_export(ctx->hash, state);
    argv[5] = (char *) ctx->conf->upload_ttl_text.data;
    lens[5] = ctx->conf->upload_ttl_text.len;

    ngx_http_oci_upload_unlock_cmd(ctx, &undo, uargv, ulens, key);

    if (ngx_http_oci_redis_script_undo(r, ctx->conf->redis,
                                       ngx_http_oci_upload_saved,
                                       NGX_HTTP_OCI_SCRIPT_UPLOAD_SAVE, 1, 6,
                                       argv, lens, &undo)
        != NGX_OK)
    {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
        return;
    }

    /* continues in upload_saved; the body reading's reference is ours */
}


/*
 * The reply of a script that records a chunk or links the blob and
 * releases the lock: 1 if it did, 0 if the lock expired meanwhile (416),
 * -1 if the upload was cancelled (404).  Returns the ctx to go on with,
 * or NULL when the request has been answered.
 */

static ngx_http_oci_ctx_t *
ngx_http_oci_upload_released(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_unavailable(r);
        return NULL;
    }

    ctx->locked = 0;

    if (reply->integer == -1) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &ctx->upload_id);
        return NULL;
    }

    if (reply->integer != 1) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                    &ctx->upload_id);
        return NULL;
    }

    return ctx;
}


static void
ngx_http_oci_upload_saved(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_oci_upload_released(r, reply);
    if (ctx == NULL) {
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_upload_accepted(r, ctx,
                                                NGX_HTTP_ACCEPTED,
                                                ctx->offset + ctx->received));
}


/*
 * The digest matched: make the blob visible, then link it to the repo.
 * fsync() of a large file can take long, so the commit runs in a thread
 * pool: oci_registry_thread_pool's, else that of "aio threads".
 */

static void
ngx_http_oci_upload_finish(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
#if (NGX_THREADS)
    ngx_thread_pool_t       *tp;
    ngx_thread_task_t       *task;
#endif
    ngx_http_oci_commit_t   *c;

    if (ngx_http_oci_blob_path(r->pool, &ctx->conf->storage, &ctx->parsed,
                               &ctx->blob_path)
        != NGX_OK)
    {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    c = &ctx->commit;

    c->fd = ctx->file.fd;
    c->upload = ctx->upload_path.data;
    c->blob = ctx->blob_path.data;
    c->alg = ctx->alg;
    c->hex = ctx->parsed.hex.data;
    c->size = ctx->offset + ctx->received;
    c->durable = ctx->conf->durable ? 1 : 0;
    c->anonymous = ctx->anonymous;

    /*
     * a spare may have a name an interrupted earlier chunk left (not a
     * monolithic POST's, and an eager PUT removes it only once the upload
     * is ended: it may be a live writer's)
     */
    c->leftover = ctx->anonymous && !ctx->monolithic && !ctx->eager;

#if (NGX_THREADS)

    tp = ngx_http_oci_thread_pool(r);

    if (tp != NULL) {
        task = ngx_thread_task_alloc(r->pool, 0);
        if (task == NULL) {
            ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
            return;
        }

        /* the task touches only ctx->commit, no request or pool */

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
    ngx_http_oci_upload_committed(r, ctx);
}


#if (NGX_THREADS)

/* oci_registry_thread_pool's, else that of "aio threads", else none */

static ngx_thread_pool_t *
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

static ngx_int_t
ngx_http_oci_upload_spare(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_pool_cleanup_t *cln)
{
    ctx->file.fd = ngx_http_oci_spare_take(ctx->conf->spares,
                                           ngx_http_oci_thread_pool(r),
                                           r->connection->log);

    if (ctx->file.fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    ctx->anonymous = 1;
    ctx->file.name = ctx->upload_path;
    ctx->file.log = r->connection->log;

    cln->handler = ngx_http_oci_upload_cleanup;
    cln->data = ctx;

    return NGX_OK;
}


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

    ngx_http_oci_upload_committed(r, ctx);

    ngx_http_run_posted_requests(c);
}

#endif


static void
ngx_http_oci_upload_committed(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char                    *p;
    size_t                    *lens, ulens[5];
    const char               **argv, *uargv[5];
    ngx_http_oci_commit_t     *c;
    ngx_http_oci_redis_cmd_t   undo;
    u_char                     key[NGX_HTTP_OCI_KEY_MAX];

    c = &ctx->commit;

    if (c->replaced) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: blob \"%s\" did not hash to its name, "
                      "%s", c->blob, c->err ? "replacing it failed"
                                             : "replaced by this upload");
    }

    if (c->corrupt) {
        /* another writer touched the file under us: nothing of it stays */
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "oci registry: upload \"%V\" does not hold the %O "
                      "bytes it received, dropped", &ctx->upload_path,
                      c->size);

        ngx_http_oci_upload_drop(r, ctx);
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
                                 &ctx->upload_id);
        return;
    }

    if (c->err == NGX_ENOENT && !c->anonymous) {
        /* the upload's file went while its bytes arrived: cancelled */
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                 NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                 &ctx->upload_id);
        return;
    }

    if (c->err) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, c->err,
                      "oci registry: committing \"%V\" as \"%V\": %s failed",
                      &ctx->upload_path, &ctx->blob_path, c->failed);

        ngx_http_oci_upload_fail(r, ctx,
                                 c->err == NGX_ENOSPC
                                 ? NGX_HTTP_INSUFFICIENT_STORAGE
                                 : NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    /* the file is the blob now: the cleanup must not remove it */
    ctx->monolithic = 0;

#if (NGX_THREADS)
    if (ctx->eager) {
        if (ngx_http_oci_upload_close(r, ctx) != NGX_OK) {
            ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
        }

        return;
    }
#endif

    argv = ngx_http_oci_argv(r, 7, &lens);
    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);

    if (argv == NULL || p == NULL) {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 NGX_HTTP_OCI_ERR_UNKNOWN, NULL);
        return;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->digest.data;
    lens[1] = ctx->digest.len;
    argv[2] = (char *) p;
    lens[2] = ngx_sprintf(p, "%O", ctx->offset + ctx->received) - p;

    if (ctx->closing) {
        argv[3] = (char *) ctx->upload_id.data;
        lens[3] = ctx->upload_id.len;
        argv[4] = (char *) ctx->token.data;
        lens[4] = ctx->token.len;

    } else {
        argv[3] = "";
        lens[3] = 0;
        argv[4] = "";
        lens[4] = 0;
    }

    argv[5] = ctx->lazy ? "1" : "";
    lens[5] = ctx->lazy;
    argv[6] = (char *) ctx->conf->fresh_text.data;
    lens[6] = ctx->conf->fresh_text.len;

    if (ctx->closing) {
        ngx_http_oci_upload_unlock_cmd(ctx, &undo, uargv, ulens, key);
    }

    if (ngx_http_oci_redis_script_undo(r, ctx->conf->redis,
                                       ngx_http_oci_upload_linked,
                                       NGX_HTTP_OCI_SCRIPT_BLOB_LINK, 1, 7,
                                       argv, lens,
                                       ctx->closing ? &undo : NULL)
        != NGX_OK)
    {
        ngx_http_oci_upload_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
        return;
    }
}


static void
ngx_http_oci_upload_linked(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_oci_upload_released(r, reply);
    if (ctx == NULL) {
        return;
    }

    ngx_http_oci_blob_created(r, ctx);
}


static ngx_int_t
ngx_http_oci_upload_status(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t    rc;
    size_t      *lens;
    const char **argv;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv = ngx_http_oci_argv(r, 3, &lens);

    if (argv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->upload_id.data;
    lens[1] = ctx->upload_id.len;
    argv[2] = ctx->lazy ? "1" : "";
    lens[2] = ctx->lazy;

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_upload_status_reply,
                                   NGX_HTTP_OCI_SCRIPT_UPLOAD_STATUS, 1, 3,
                                   argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_upload_status_reply(ngx_http_request_t *r, redisReply *reply)
{
    off_t                offset;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &ctx->upload_id);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_http_oci_unavailable(r);
        return;
    }

    offset = ngx_atoof((u_char *) reply->str, reply->len);
    if (offset == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_upload_accepted(r, ctx,
                                                           NGX_HTTP_NO_CONTENT,
                                                           offset));
}


static ngx_int_t
ngx_http_oci_upload_cancel(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t    rc;
    size_t      *lens;
    const char **argv;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv = ngx_http_oci_argv(r, 4, &lens);

    if (argv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->upload_id.data;
    lens[1] = ctx->upload_id.len;
    argv[2] = ctx->lazy ? "1" : "";
    lens[2] = ctx->lazy;
    argv[3] = (char *) ctx->conf->fresh_text.data;
    lens[3] = ctx->conf->fresh_text.len;

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_upload_cancelled,
                                   NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL, 1, 4,
                                   argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_upload_cancelled(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_reply_deleted(r, reply,
                                   NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                   &ctx->upload_id)
        != NGX_OK)
    {
        return;
    }

    if (ngx_delete_file(ctx->upload_path.data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "oci registry: unlink \"%V\" failed",
                      &ctx->upload_path);
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

static ngx_int_t
ngx_http_oci_upload_accepted(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
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

    if (ngx_http_oci_location(r, "blobs/uploads", &ctx->upload_id) != NGX_OK
        || ngx_http_oci_add_header(r, "Range", &range) != NGX_OK
        || ngx_http_oci_add_header(r, "Docker-Upload-UUID", &ctx->upload_id)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == 0) {
        return NGX_OK;
    }

    return ngx_http_oci_send_json(r, status, NULL, 0);
}


/* answers an error, first releasing the upload lock if we hold it */

static void
ngx_http_oci_upload_fail(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_uint_t status, ngx_http_oci_err_e err, ngx_str_t *detail)
{
    ngx_http_oci_upload_release(ctx);

    if (status == NGX_HTTP_INSUFFICIENT_STORAGE) {
        err = NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID;
    }

    ngx_http_oci_finalize_error(r, status, err, detail);
}


/* a failed digest check: the upload is over, its bytes and state go */

static void
ngx_http_oci_upload_drop(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    const char  *argv[7];
    size_t       lens[7];

    if (ngx_delete_file(ctx->upload_path.data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "oci registry: unlink \"%V\" failed",
                      &ctx->upload_path);
    }

    ctx->monolithic = 0;

    if (!ctx->closing) {
        return;
    }

    /* the state, the lock, its place among the uploads in progress */

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = (char *)
              ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL].data;
    lens[1] = ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL].len;
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = (char *) ctx->base.data;
    lens[3] = ctx->base.len;
    argv[4] = (char *) ctx->upload_id.data;
    lens[4] = ctx->upload_id.len;
    argv[5] = ctx->lazy ? "1" : "";
    lens[5] = ctx->lazy;
    argv[6] = (char *) ctx->conf->fresh_text.data;
    lens[6] = ctx->conf->fresh_text.len;

    ngx_http_oci_redis_fire(ctx->conf->redis, 7, argv, lens);
    ctx->locked = 0;
}


/*
 * Opens the upload file at the recorded offset, takes an exclusive flock
 * (a writer of an earlier, timed-out request may still hold it) and
 * registers the cleanup that closes it, releases a lock still held and
 * removes the file of a monolithic upload that did not complete.
 */

static ngx_int_t
ngx_http_oci_upload_file(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#if (NGX_THREADS)

    /* an upload that ends in this request needs no name until it is done */

    if (ctx->offset == 0 && (ctx->monolithic || ctx->closing)
        && ngx_http_oci_upload_spare(r, ctx, cln) == NGX_OK)
    {
        return NGX_OK;
    }

#endif

    ctx->file.fd = ngx_http_oci_upload_open(r->connection->log,
                                            &ctx->upload_path, ctx->offset);
    if (ctx->file.fd == NGX_INVALID_FILE) {
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

    ctx->file.name = ctx->upload_path;
    ctx->file.log = r->connection->log;

    cln->handler = ngx_http_oci_upload_cleanup;
    cln->data = ctx;

    return NGX_OK;
}


/*
 * The upload's state is handed to the cleanup itself: an error_page
 * redirect clears the request's module context before the pool goes.
 */

static void
ngx_http_oci_upload_cleanup(void *data)
{
    ngx_http_oci_ctx_t  *ctx = data;

    if (ctx->file.fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(ctx->file.fd);
        ctx->file.fd = NGX_INVALID_FILE;
    }

    if (ctx->monolithic && !ctx->anonymous) {
        (void) ngx_delete_file(ctx->upload_path.data);
    }

    /* the request died mid-chunk: the client can resume at once */

    ngx_http_oci_upload_release(ctx);
}


/*
 * "<base>upload:<id>:lock" into buf (NGX_HTTP_OCI_KEY_MAX bytes), built
 * on the stack: the lock is also renewed and released where the request
 * pool is gone or not at hand.
 */

size_t
ngx_http_oci_upload_lock_key(ngx_http_oci_ctx_t *ctx, u_char *buf)
{
    return ngx_snprintf(buf, NGX_HTTP_OCI_KEY_MAX, "%Vupload:%V:lock",
                        &ctx->base, &ctx->upload_id)
           - buf;
}


/*
 * The command that releases our upload lock if it is still ours: the
 * release itself, and the undo of a lock script whose reply was lost
 * (it may have taken the lock).  argv[5], lens[5] and key (NGX_HTTP_OCI_
 * KEY_MAX bytes) are the caller's; the command is formatted before they
 * go.
 */

static void
ngx_http_oci_upload_unlock_cmd(ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_redis_cmd_t *cmd, const char **argv, size_t *lens,
    u_char *key)
{
    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = (char *)
              ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_UNLOCK].data;
    lens[1] = ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_UNLOCK].len;
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = (char *) key;
    lens[3] = ngx_http_oci_upload_lock_key(ctx, key);
    argv[4] = (char *) ctx->token.data;
    lens[4] = ctx->token.len;

    cmd->argc = 5;
    cmd->argv = argv;
    cmd->argvlen = lens;
}


/*
 * Releases the upload lock if we hold it, without waiting for the reply;
 * while Redis is away the release is kept for the reconnect.
 */

static void
ngx_http_oci_upload_release(ngx_http_oci_ctx_t *ctx)
{
    const char                *argv[5];
    size_t                     lens[5];
    ngx_http_oci_redis_cmd_t   cmd;
    u_char                     key[NGX_HTTP_OCI_KEY_MAX];

    if (!ctx->locked) {
        return;
    }

    ngx_http_oci_upload_unlock_cmd(ctx, &cmd, argv, lens, key);
    ngx_http_oci_redis_fire(ctx->conf->redis, cmd.argc, cmd.argv,
                            cmd.argvlen);
    ctx->locked = 0;
}


/* Content-Range of a chunk; with Content-Length too, both must agree */

static ngx_int_t
ngx_http_oci_content_range(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Content-Range") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Range",
                               sizeof("Content-Range") - 1) == 0)
        {
            break;
        }
    }

    if (ngx_http_oci_content_range_parse(h[i].value.data, h[i].value.len,
                                         &ctx->range_start, &ctx->range_end)
        != NGX_OK)
    {
        ctx->range_end = -1;
        return NGX_ERROR;
    }

    if (r->headers_in.content_length_n >= 0
        && r->headers_in.content_length_n
           != ctx->range_end - ctx->range_start + 1)
    {
        ctx->range_end = -1;
        return NGX_ERROR;
    }

    return NGX_OK;
}
