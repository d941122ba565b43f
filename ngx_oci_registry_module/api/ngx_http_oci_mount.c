
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_blobs.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_redis_keys.h"
#include "ngx_http_oci_digest.h"


/*
 * POST ?mount=<digest>&from=<repo> (end-11): link a blob of another
 * repository without moving any bytes.  Without "from", or when the blob
 * is not there, a regular upload session starts (202), as the spec asks.
 */


static ngx_int_t ngx_http_oci_upload_automount(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_mount_found(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_upload_mount_link(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
static void ngx_http_oci_upload_mount_done(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_oci_upload_mount(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    ngx_str_t *digest, ngx_str_t *from)
{
    ngx_int_t                 rc;
    ngx_str_t                 base;
    ngx_http_oci_args_t       a;
    ngx_http_oci_loc_conf_t  *conf;

    conf = up->ctx->conf;

    if (ngx_http_oci_digest_parse(digest->data, digest->len, &up->expected)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                       digest);
    }

    up->digest = *digest;
    up->from = *from;
    up->alg = NGX_HTTP_OCI_SHA256;

    if (from->len == 0) {
        return ngx_http_oci_upload_automount(r, up);
    }

    if (ngx_http_oci_name_valid(from->data, from->len) != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_OCI_ERR_NAME_INVALID, from);
    }

    if (ngx_http_oci_key_base(r->pool, &conf->key_prefix, from, &base)
        != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool, 3) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_lit(&a, "HGET");
    ngx_http_oci_args_key(&a, &base, "blobs", NULL);
    ngx_http_oci_args_str(&a, &up->digest);

    rc = ngx_http_oci_redis_command(r, conf->redis,
                                    ngx_http_oci_upload_mount_found, &a);

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
ngx_http_oci_upload_automount(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    ngx_str_t         path;
    ngx_file_info_t   fi;

    if (!up->ctx->conf->auto_mount) {
        return ngx_http_oci_upload_create(r, up);
    }

    if (ngx_http_oci_blob_path(r->pool, &up->ctx->conf->storage,
                               &up->expected, &path)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_file_info(path.data, &fi) == NGX_FILE_ERROR) {
        return ngx_http_oci_upload_create(r, up);
    }

    up->commit.size = ngx_file_size(&fi);

    return ngx_http_oci_suspend(r, ngx_http_oci_upload_mount_link(r, up));
}


static void
ngx_http_oci_upload_mount_found(ngx_http_request_t *r, redisReply *reply)
{
    ngx_int_t               rc;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_upload_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    up = ctx->data;

    if (reply->type != REDIS_REPLY_STRING) {
        /* not in "from": start a regular upload instead */
        rc = ngx_http_oci_upload_create(r, ctx->data);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the size the source repository linked: a number, or unusable */

    up->commit.size = ngx_atoof((u_char *) reply->str, reply->len);

    if (up->commit.size == NGX_ERROR
        || ngx_http_oci_upload_mount_link(r, up) != NGX_OK)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    /* the request continues in mount_done */
}


/*
 * links the blob up->digest of up->commit.size bytes to the repository,
 * after holding its record on a cluster
 */

static ngx_int_t
ngx_http_oci_upload_mount_link(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    ngx_http_oci_args_t   a;
    ngx_http_oci_event_t  ev;

    if (up->ctx->conf->redis->cluster != NULL && !up->held) {
        return ngx_http_oci_gc_hold(r, up, ngx_http_oci_upload_mount_link);
    }

    if (ngx_http_oci_args_init(&a, r->pool, 7 + NGX_HTTP_OCI_BLOB_KEYS
                                            + NGX_HTTP_OCI_EVENT_ARGS)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &up->ctx->base);
    ngx_http_oci_blob_keys(&a, up->ctx->conf, &up->ctx->outbox,
                           &up->digest);
    ngx_http_oci_event_keys(&a, up->ctx->conf, &up->ctx->outbox);
    ngx_http_oci_args_str(&a, &up->digest);
    ngx_http_oci_args_number(&a, up->commit.size);
    ngx_http_oci_args_lit(&a, "");
    ngx_http_oci_args_lit(&a, "");
    ngx_http_oci_args_lit(&a, "");
    ngx_http_oci_args_lit(&a, "");

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = "mount";
    ev.kind = "blobs";
    ngx_str_set(&ev.media_type, "application/octet-stream");
    ev.size = up->commit.size;
    ev.from = up->from;

    ngx_http_oci_event_args(r, up->ctx, &a, &ev);

    return ngx_http_oci_redis_script(r, up->ctx->conf->redis,
                                     ngx_http_oci_upload_mount_done,
                                     NGX_HTTP_OCI_SCRIPT_BLOB_LINK,
                                     1 + NGX_HTTP_OCI_BLOB_KEYS
                                     + ngx_http_oci_event_nkeys(
                                             up->ctx->conf),
                                     &a);
}


static void
ngx_http_oci_upload_mount_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ngx_http_oci_gc_settle(r, ctx->data, reply);

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_LINKED) {
        ngx_http_oci_unavailable(r);
        return;
    }

    ngx_http_oci_blob_created(r, ctx->data);
}
