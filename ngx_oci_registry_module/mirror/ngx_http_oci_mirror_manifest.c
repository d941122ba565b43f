
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_mirror.h"
#include "ngx_http_oci_manifests.h"
#include "ngx_http_oci_manifest_parse.h"
#include "ngx_http_oci_digest.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_redis_keys.h"


/*
 * A manifest the mirrored repository does not have, or a tag past its
 * TTL.  A digest is fetched, verified and stored once: it never changes.
 * A stale tag is revalidated with a HEAD: the same digest only renews
 * it, another one is fetched.  When the upstream fails (no answer, 5xx,
 * 429), a cached tag is served as it is, with a Warning.
 */


typedef struct {
    ngx_http_oci_cached_t       cached;
    unsigned                    has_cached:1;
    unsigned                    revalidating:1;
} ngx_http_oci_mirror_mf_t;


static void ngx_http_oci_mirror_manifest_fetched(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
static ngx_int_t ngx_http_oci_mirror_manifest_store(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
static void ngx_http_oci_mirror_manifest_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_mirror_stale(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
static void ngx_http_oci_mirror_touch(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_mirror_bad(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f, char *why);


ngx_int_t
ngx_http_oci_mirror_manifest(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_cached_t *cached)
{
    ngx_http_oci_fetch_t      *f;
    ngx_http_oci_mirror_mf_t  *mf;

    mf = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_mirror_mf_t));
    if (mf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = mf;

    f = ngx_http_oci_fetch_create(r, ctx, NGX_HTTP_OCI_FETCH_COLLECT,
                                  "manifests", &ctx->route.reference);
    if (f == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->done = ngx_http_oci_mirror_manifest_fetched;

    if (cached) {
        mf->cached = *cached;
        mf->has_cached = 1;
        mf->revalidating = 1;
        f->method = NGX_HTTP_HEAD;
    }

    return ngx_http_oci_fetch_start(r, f);
}


static void
ngx_http_oci_mirror_manifest_fetched(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f)
{
    ngx_http_oci_ctx_t        *ctx;
    ngx_http_oci_mirror_mf_t  *mf;

    ctx = f->ctx;
    mf = ctx->data;

    if (mf->revalidating && f->status == NGX_HTTP_OK) {

        if (f->digest.len == mf->cached.digest.len
            && ngx_strncmp(f->digest.data, mf->cached.digest.data,
                           f->digest.len) == 0)
        {
            /* not moved: good for another TTL */
            ngx_http_oci_mirror_touch(r, ctx);
            ngx_http_finalize_request(r,
                ngx_http_oci_manifest_answer(r, ctx, &mf->cached));
            return;
        }

        /* moved (or no digest said): the manifest itself */

        mf->revalidating = 0;
        f->method = NGX_HTTP_GET;
        f->redirects = 0;
        ngx_str_null(&f->url);

        ngx_http_finalize_request(r, ngx_http_oci_fetch_send(r, f));
        return;
    }

    if (f->status != NGX_HTTP_OK || f->too_big) {
        if (mf->has_cached && f->status != NGX_HTTP_NOT_FOUND) {
            ngx_http_finalize_request(r, ngx_http_oci_mirror_stale(r, f));
            return;
        }

        ngx_http_oci_fetch_failed(r, f, NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_oci_mirror_manifest_store(r, f));
}


/*
 * What the upstream sent must be what was asked: the digest asked for, or
 * for a tag the digest it said (if it said one); and a manifest we can
 * read, as for a push.  Then MIRROR_PUT.
 */

static ngx_int_t
ngx_http_oci_mirror_manifest_store(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f)
{
    char                     *err;
    size_t                    n;
    ngx_int_t                 rc;
    ngx_str_t                 desc, catalog, *s, *ct;
    ngx_uint_t                i, alg;
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_args_t       a;
    ngx_http_oci_manifest_t   m;
    ngx_http_oci_mirror_mf_t *mf;
    u_char                    digest[NGX_HTTP_OCI_DIGEST_MAX];

    ctx = f->ctx;
    mf = ctx->data;

    if (f->mem_len == 0) {
        return ngx_http_oci_mirror_bad(r, f, "an empty manifest");
    }

    alg = ctx->route.by_digest
          ? ngx_http_oci_hash_alg(&ctx->route.digest.algorithm)
          : NGX_HTTP_OCI_SHA256;

    n = ngx_http_oci_digest_buf(alg, f->mem, f->mem_len, digest);
    if (n == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->route.by_digest) {
        if (n != ctx->route.digest.text.len
            || ngx_strncmp(digest, ctx->route.digest.text.data, n) != 0)
        {
            return ngx_http_oci_mirror_bad(r, f, "a manifest that is not "
                                                 "the digest asked for");
        }

    } else if (f->digest.len > sizeof("sha256:") - 1
               && ngx_strncmp(f->digest.data, "sha256:", 7) == 0
               && (f->digest.len != n
                   || ngx_strncmp(f->digest.data, digest, n) != 0))
    {
        return ngx_http_oci_mirror_bad(r, f, "a manifest that is not the "
                                             "digest it named");
    }

    if (ngx_http_oci_set_str(r, &mf->cached.digest, digest, n) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ct = f->content_type.len ? &f->content_type : NULL;

    rc = ngx_http_oci_manifest_parse(r->pool, f->mem, f->mem_len, ct, &m,
                                     &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_oci_mirror_bad(r, f, err);
    }

    if (rc != NGX_OK
        || ngx_http_oci_manifest_descriptor(r->pool, &m, &mf->cached.digest,
                                            f->mem_len, &desc)
           != NGX_OK
        || ngx_http_oci_key_catalog(r->pool, &ctx->outbox,
                                    &catalog)
           != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool, 2 + 11 + 2 + m.blobs.nelts
                                               + m.manifests.nelts)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mf->cached.type = m.media_type;
    mf->cached.body = f->mem;
    mf->cached.size = f->mem_len;

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_args_str(&a, &catalog);
    ngx_http_oci_args_str(&a, &ctx->route.name);
    ngx_http_oci_args_str(&a, &mf->cached.digest);
    ngx_http_oci_args_str(&a, &m.media_type);
    ngx_http_oci_args_add(&a, f->mem, f->mem_len);
    ngx_http_oci_args_number(&a, f->mem_len);
    ngx_http_oci_args_str(&a, &m.subject);
    ngx_http_oci_args_str(&a, &desc);
    ngx_http_oci_args_str(&a, &m.artifact_type);

    if (ctx->route.by_digest) {
        ngx_http_oci_args_lit(&a, "");

    } else {
        ngx_http_oci_args_str(&a, &ctx->route.reference);
    }

    ngx_http_oci_args_number(&a, ngx_time());
    ngx_http_oci_args_str(&a, &f->mr->mirror->url);

    ngx_http_oci_args_number(&a, m.blobs.nelts);

    s = m.blobs.elts;
    for (i = 0; i < m.blobs.nelts; i++) {
        ngx_http_oci_args_str(&a, &s[i]);
    }

    ngx_http_oci_args_number(&a, m.manifests.nelts);

    s = m.manifests.elts;
    for (i = 0; i < m.manifests.nelts; i++) {
        ngx_http_oci_args_str(&a, &s[i]);
    }

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_mirror_manifest_stored,
                                   NGX_HTTP_OCI_SCRIPT_MIRROR_PUT, 2, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_mirror_manifest_stored(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_oci_ctx_t        *ctx;
    ngx_http_oci_mirror_mf_t  *mf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    mf = ctx->data;

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_OK) {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: mirror script failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_oci_unavailable(r);
        return;
    }

    if (r->method == NGX_HTTP_HEAD) {
        mf->cached.body = NULL;
    }

    ngx_http_finalize_request(r,
                              ngx_http_oci_manifest_answer(r, ctx,
                                                           &mf->cached));
}


/* the upstream failed: the cached tag, as it is, with a Warning */

static ngx_int_t
ngx_http_oci_mirror_stale(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    ngx_http_oci_mirror_mf_t  *mf;

    static ngx_str_t  warning = ngx_string("110 - \"Response is Stale\"");

    mf = f->ctx->data;

    ngx_http_oci_mirror_count(r, stale, 1);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "oci registry: mirror \"%V\": %V answered %ui, serving "
                  "the cached %V", &f->mr->mirror->prefix, &f->path,
                  f->status, &mf->cached.digest);

    if (ngx_http_oci_add_header(r, "Warning", &warning) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_manifest_answer(r, f->ctx, &mf->cached);
}


static void
ngx_http_oci_mirror_touch(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_http_oci_args_t        a;
    ngx_http_oci_mirror_mf_t  *mf;

    static ngx_str_t  none = ngx_string("");

    mf = ctx->data;

    if (ngx_http_oci_args_init(&a, r->pool, 4) != NGX_OK) {
        return;
    }

    ngx_http_oci_args_lit(&a, "HSET");
    ngx_http_oci_args_key(&a, &ctx->base, "m:", &mf->cached.digest);
    ngx_http_oci_args_key(&a, &none, "fetched:", &ctx->route.reference);
    ngx_http_oci_args_number(&a, ngx_time());

    ngx_http_oci_redis_fire(ctx->conf->redis, &a);
}


static ngx_int_t
ngx_http_oci_mirror_bad(ngx_http_request_t *r, ngx_http_oci_fetch_t *f,
    char *why)
{
    ngx_str_t  detail;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "oci registry: mirror \"%V\": %V sent %s: not stored",
                  &f->mr->mirror->prefix, &f->path, why);

    ngx_http_oci_mirror_count(r, rejected, 1);

    detail.data = (u_char *) why;
    detail.len = ngx_strlen(why);

    return ngx_http_oci_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                   NGX_HTTP_OCI_ERR_MANIFEST_INVALID,
                                   &detail);
}
