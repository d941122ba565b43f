
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_manifests.h"
#include "ngx_http_oci_manifest_parse.h"
#include "ngx_http_oci_body.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_digest.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_redis_keys.h"
#include "ngx_http_oci_mirror.h"


/*
 * Manifests (end-3, end-7, end-9).  A manifest lives in Redis: its exact
 * bytes, media type and what it references, written by one Lua script
 * together with its tags and reverse indexes.  GET by tag or digest is
 * one round trip (script MANIFEST_GET) and answers the stored bytes.
 */


#define NGX_HTTP_OCI_TAGS_MAX        32


/* a push: its tags (the reference's and ?tag= ones), its subject */
typedef struct {
    ngx_str_t                   tags[NGX_HTTP_OCI_TAGS_MAX];
    ngx_uint_t                  ntags;
    ngx_str_t                   subject;
} ngx_http_oci_manifest_put_t;


static ngx_int_t ngx_http_oci_manifest_ref(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_args_t *a, ngx_uint_t n,
    ngx_uint_t event);
static ngx_int_t ngx_http_oci_manifest_get(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_manifest_found(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_manifest_put(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_manifest_body_done(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_manifest_digest(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static ngx_int_t ngx_http_oci_manifest_store(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_manifest_t *m, ngx_str_t *desc);
static void ngx_http_oci_manifest_stored(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_manifest_refused(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_oci_manifest_delete(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_manifest_deleted(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_oci_manifests(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    if (ctx->route.by_digest) {
        ctx->digest = ctx->route.digest.text;
    }

    switch (r->method) {

    case NGX_HTTP_PUT:
        return ngx_http_oci_manifest_put(r, ctx);

    case NGX_HTTP_DELETE:
        return ngx_http_oci_manifest_delete(r, ctx);

    default:
        return ngx_http_oci_manifest_get(r, ctx);
    }
}


/*
 * What GET, HEAD and DELETE send first: the repository, the events' keys
 * when the request may be an event, the reference and whether it is a
 * tag ("t") or a digest ("d")
 */

static ngx_int_t
ngx_http_oci_manifest_ref(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_args_t *a, ngx_uint_t n, ngx_uint_t event)
{
    if (ngx_http_discard_request_body(r) != NGX_OK
        || ngx_http_oci_args_init(a, r->pool, n + NGX_HTTP_OCI_EVENT_ARGS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(a, &ctx->base);

    if (event) {
        ngx_http_oci_event_keys(a, ctx->conf, &ctx->outbox);
    }

    ngx_http_oci_args_str(a, &ctx->route.reference);

    if (ctx->route.by_digest) {
        ngx_http_oci_args_lit(a, "d");

    } else {
        ngx_http_oci_args_lit(a, "t");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_manifest_get(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t              rc;
    ngx_uint_t             pull;
    ngx_http_oci_args_t    a;
    ngx_http_oci_event_t   ev;

    /* a pull is an event only when asked; a HEAD never */

    pull = (r->method == NGX_HTTP_GET && ctx->conf->events_pulls);

    if (ngx_http_oci_manifest_ref(r, ctx, &a, 6, pull) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* HEAD needs the size, not the bytes */

    if (r->method == NGX_HTTP_HEAD) {
        ngx_http_oci_args_lit(&a, "head");

    } else {
        ngx_http_oci_args_lit(&a, "get");
    }

    /* a mirrored tag fetched more than its TTL ago is revalidated */

    if (ctx->mirror) {
        ngx_http_oci_args_str(&a,
                              &((ngx_http_oci_mirrored_t *) ctx->mirror)
                                  ->mirror->ttl_text);
        ngx_http_oci_args_number(&a, ngx_time());

    } else {
        ngx_http_oci_args_lit(&a, "");
        ngx_http_oci_args_lit(&a, "");
    }

    if (pull) {
        ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
        ev.action = "pull";
        ev.kind = "manifests";
        ev.size = -1;

        ngx_http_oci_event_args(r, ctx, &a, &ev);
    }

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_manifest_found,
                                   NGX_HTTP_OCI_SCRIPT_MANIFEST_GET,
                                   1 + (pull ? ngx_http_oci_event_nkeys(
                                                   ctx->conf) : 0),
                                   &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_manifest_found(ngx_http_request_t *r, redisReply *reply)
{
    off_t                   size;
    ngx_int_t               rc;
    redisReply             *d, *t, *v;
    ngx_http_oci_ctx_t     *ctx;
    ngx_http_oci_cached_t   m;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type == REDIS_REPLY_NIL) {
        if (ctx->mirror) {
            ngx_http_finalize_request(r,
                ngx_http_oci_mirror_manifest(r, ctx, NULL));
            return;
        }

        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                    &ctx->route.reference);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 3 && reply->elements != 4)
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: manifest script failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_oci_unavailable(r);
        return;
    }

    d = reply->element[0];
    t = reply->element[1];
    v = reply->element[2];

    /* the reply is freed when we return: copy what the response needs */

    if (ngx_http_oci_set_str(r, &m.digest, (u_char *) d->str, d->len)
        != NGX_OK
        || ngx_http_oci_set_str(r, &m.type, (u_char *) t->str, t->len)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (r->method == NGX_HTTP_HEAD) {
        size = ngx_atoof((u_char *) v->str, v->len);
        m.body = NULL;

        if (size == NGX_ERROR) {
            ngx_http_oci_unavailable(r);
            return;
        }

        m.size = (size_t) size;

    } else {
        m.size = v->len;
        m.body = ngx_pnalloc(r->pool, v->len);
        if (m.body == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(m.body, v->str, v->len);
    }

    if (reply->elements == 4 && ctx->mirror) {
        /* a mirrored tag past its TTL: asks the upstream first */
        rc = ngx_http_oci_mirror_manifest(r, ctx, &m);

    } else {
        if (ctx->mirror) {
            ngx_http_oci_mirror_count(r, hits[0], 1);
        }

        rc = ngx_http_oci_manifest_answer(r, ctx, &m);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_oci_manifest_put(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char                       *pos, *mem;
    size_t                        max;
    ngx_str_t                     tag;
    ngx_http_oci_manifest_put_t  *mp;

    if (r->headers_in.content_length_n > (off_t) ctx->conf->manifest_max_size)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_OCI_ERR_MANIFEST_INVALID,
                                       NULL);
    }

    mp = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_manifest_put_t));
    if (mp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = mp;

    if (!ctx->route.by_digest) {
        mp->tags[mp->ntags++] = ctx->route.reference;
    }

    /* PUT .../manifests/<digest>?tag=a&tag=b tags it in the same step */

    pos = NULL;

    while (ngx_http_oci_arg_next(&r->args, &pos, "tag", &tag) == NGX_OK) {
        if (ngx_http_oci_unescape(r->pool, &tag) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_oci_tag_valid(tag.data, tag.len) != NGX_OK) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_TAG_INVALID,
                                           &tag);
        }

        if (mp->ntags == NGX_HTTP_OCI_TAGS_MAX) {
            return ngx_http_oci_send_error(r, NGX_HTTP_REQUEST_URI_TOO_LARGE,
                                           NGX_HTTP_OCI_ERR_TAG_INVALID,
                                           &tag);
        }

        mp->tags[mp->ntags++] = tag;
    }

    max = (r->headers_in.content_length_n >= 0)
          ? (size_t) r->headers_in.content_length_n
          : ctx->conf->manifest_max_size;

    mem = ngx_pnalloc(r->pool, max ? max : 1);
    if (mem == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_body_to_memory(ctx, mem, max);

    return ngx_http_oci_body_read(r, ngx_http_oci_manifest_body_done);
}


static void
ngx_http_oci_manifest_body_done(ngx_http_request_t *r)
{
    char                     *err;
    ngx_int_t                 rc;
    ngx_str_t                 desc, detail, *ct;
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_manifest_t   m;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ctx->body.mode = NGX_HTTP_OCI_BODY_NONE;

    if (ctx->body.status) {
        ngx_http_oci_finalize_error(r, ctx->body.status,
                                    NGX_HTTP_OCI_ERR_MANIFEST_INVALID, NULL);
        return;
    }

    if (ngx_http_oci_manifest_digest(r, ctx) != NGX_OK) {
        return;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    rc = ngx_http_oci_manifest_parse(r->pool, ctx->body.mem,
                                     ctx->body.mem_len, ct, &m, &err);

    if (rc == NGX_DECLINED) {
        detail.data = (u_char *) err;
        detail.len = ngx_strlen(err);

        ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_OCI_ERR_MANIFEST_INVALID,
                                    &detail);
        return;
    }

    if (rc != NGX_OK
        || ngx_http_oci_manifest_descriptor(r->pool, &m, &ctx->digest,
                                            ctx->body.mem_len, &desc)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_oci_manifest_store(r, ctx, &m, &desc) != NGX_OK) {
        ngx_http_oci_unavailable(r);
        return;
    }

    /* continues in manifest_stored; the body reading's reference is ours */
}


/*
 * The digest of the bytes pushed: by digest, they must have it; by tag,
 * they get it (sha256).  NGX_OK, or the request has been answered.
 */

static ngx_int_t
ngx_http_oci_manifest_digest(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    size_t      n;
    ngx_uint_t  alg;
    u_char      digest[NGX_HTTP_OCI_DIGEST_MAX];

    alg = ctx->route.by_digest
          ? ngx_http_oci_hash_alg(&ctx->route.digest.algorithm)
          : NGX_HTTP_OCI_SHA256;

    n = ngx_http_oci_digest_buf(alg, ctx->body.mem, ctx->body.mem_len,
                                digest);
    if (n == 0) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    if (ctx->route.by_digest) {
        if (n != ctx->digest.len
            || ngx_strncmp(digest, ctx->digest.data, n) != 0)
        {
            ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                        &ctx->digest);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_oci_set_str(r, &ctx->digest, digest, n) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * MANIFEST_PUT: the manifest, its tags, what it references, in one
 * script; KEYS[2] is the catalog
 */

static ngx_int_t
ngx_http_oci_manifest_store(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_manifest_t *m, ngx_str_t *desc)
{
    ngx_str_t                    *s, catalog;
    ngx_uint_t                    i;
    ngx_http_oci_args_t           a;
    ngx_http_oci_event_t          ev;
    ngx_http_oci_manifest_put_t  *mp;

    mp = ctx->data;
    mp->subject = m->subject;

    if (ngx_http_oci_key_catalog(r->pool, &ctx->outbox, &catalog)
        != NGX_OK
        || ngx_http_oci_args_init(&a, r->pool,
                                  2 + 9 + 3 + mp->ntags + m->blobs.nelts
                                  + m->manifests.nelts
                                  + NGX_HTTP_OCI_EVENT_ARGS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_args_str(&a, &catalog);
    ngx_http_oci_event_keys(&a, ctx->conf, &ctx->outbox);
    ngx_http_oci_args_str(&a, &ctx->route.name);
    ngx_http_oci_args_str(&a, &ctx->digest);
    ngx_http_oci_args_str(&a, &m->media_type);
    ngx_http_oci_args_add(&a, ctx->body.mem, ctx->body.mem_len);
    ngx_http_oci_args_number(&a, ctx->body.mem_len);
    ngx_http_oci_args_str(&a, &m->subject);
    ngx_http_oci_args_str(&a, desc);
    ngx_http_oci_args_str(&a, &m->artifact_type);
    ngx_http_oci_args_str(&a, &ctx->conf->referrers_max_text);

    ngx_http_oci_args_number(&a, mp->ntags);

    for (i = 0; i < mp->ntags; i++) {
        ngx_http_oci_args_str(&a, &mp->tags[i]);
    }

    ngx_http_oci_args_number(&a, m->blobs.nelts);

    s = m->blobs.elts;
    for (i = 0; i < m->blobs.nelts; i++) {
        ngx_http_oci_args_str(&a, &s[i]);
    }

    ngx_http_oci_args_number(&a, m->manifests.nelts);

    s = m->manifests.elts;
    for (i = 0; i < m->manifests.nelts; i++) {
        ngx_http_oci_args_str(&a, &s[i]);
    }

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = "push";
    ev.kind = "manifests";
    ev.media_type = m->media_type;
    ev.size = ctx->body.mem_len;

    ngx_http_oci_event_args(r, ctx, &a, &ev);

    return ngx_http_oci_redis_script(r, ctx->conf->redis,
                                     ngx_http_oci_manifest_stored,
                                     NGX_HTTP_OCI_SCRIPT_MANIFEST_PUT,
                                     2 + ngx_http_oci_event_nkeys(ctx->conf),
                                     &a);
}


static void
ngx_http_oci_manifest_stored(ngx_http_request_t *r, redisReply *reply)
{
    ngx_uint_t                    i;
    ngx_http_oci_ctx_t           *ctx;
    ngx_http_oci_manifest_put_t  *mp;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    mp = ctx->data;

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_OK) {
        ngx_http_oci_manifest_refused(r, ctx, reply);
        return;
    }

    if (ngx_http_oci_created(r, "manifests", &ctx->digest) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (mp->subject.len
        && ngx_http_oci_add_header(r, "OCI-Subject", &mp->subject) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (i = ctx->route.by_digest ? 0 : 1; i < mp->ntags; i++) {
        if (ngx_http_oci_add_header(r, "OCI-Tag", &mp->tags[i]) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_CREATED,
                                                        NULL, 0));
}


/*
 * Why the script did not store it: {"BLOB"|"MANIFEST", digest} for a
 * reference not in the repository (400), {"REFERRERS", subject} for a
 * subject with as many referrers as it may have (403: a quota), or a
 * failure (503)
 */

static void
ngx_http_oci_manifest_refused(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    redisReply *reply)
{
    ngx_str_t                     missing, detail;
    ngx_http_oci_reply_e          code;
    ngx_http_oci_manifest_put_t  *mp;

    mp = ctx->data;
    code = ngx_http_oci_script_reply(reply);

    if (code == NGX_HTTP_OCI_R_REFERRERS) {
        detail.len = sizeof("the subject  has the most referrers a "
                            "subject may have ()") - 1
                     + mp->subject.len + NGX_INT_T_LEN;
        detail.data = ngx_pnalloc(r->pool, detail.len);
        if (detail.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        detail.len = ngx_sprintf(detail.data, "the subject %V has the most "
                                 "referrers a subject may have (%i)",
                                 &mp->subject, ctx->conf->referrers_max)
                     - detail.data;

        ngx_http_oci_finalize_error(r, NGX_HTTP_FORBIDDEN,
                                    NGX_HTTP_OCI_ERR_DENIED, &detail);
        return;
    }

    if ((code == NGX_HTTP_OCI_R_BLOB || code == NGX_HTTP_OCI_R_MANIFEST)
        && reply->elements == 2
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        if (ngx_http_oci_set_str(r, &missing,
                                 (u_char *) reply->element[1]->str,
                                 reply->element[1]->len)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                    NGX_HTTP_OCI_ERR_MANIFEST_BLOB_UNKNOWN,
                                    &missing);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oci registry: manifest script failed: %*s",
                      (size_t) reply->len, reply->str);
    }

    ngx_http_oci_unavailable(r);
}


static ngx_int_t
ngx_http_oci_manifest_delete(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t              rc;
    ngx_http_oci_args_t    a;
    ngx_http_oci_event_t   ev;

    if (ngx_http_oci_manifest_ref(r, ctx, &a, 3, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&ev, sizeof(ngx_http_oci_event_t));
    ev.action = "delete";
    ev.kind = "manifests";
    ev.size = -1;

    ngx_http_oci_event_args(r, ctx, &a, &ev);

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_manifest_deleted,
                                   NGX_HTTP_OCI_SCRIPT_MANIFEST_DELETE,
                                   1 + ngx_http_oci_event_nkeys(ctx->conf),
                                   &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_manifest_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_DELETED:
        ngx_http_finalize_request(r,
                                  ngx_http_oci_send_json(r, NGX_HTTP_ACCEPTED,
                                                         NULL, 0));
        return;

    case NGX_HTTP_OCI_R_UNKNOWN:
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                    &ctx->route.reference);
        return;

    default:
        ngx_http_oci_unavailable(r);
        return;
    }
}
