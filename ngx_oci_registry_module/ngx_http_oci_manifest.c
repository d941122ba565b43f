
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_digest.h"
#include "ngx_http_oci_manifest.h"


/*
 * A referrers page holds at most this many bytes of descriptors (but at
 * least one descriptor): the rest follows through Link
 */
#define NGX_HTTP_OCI_REFERRERS_PAGE_BYTES  "1048576"


/*
 * Manifests and referrers.  A manifest lives in Redis: its exact bytes,
 * media type and what it references, written by one Lua script together
 * with its tags and reverse indexes.  GET by tag or digest is one round
 * trip (script MANIFEST_GET) and answers the stored bytes.
 */


static ngx_int_t ngx_http_oci_manifest_get(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_manifest_found(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_manifest_sandbox(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_manifest_acceptable(ngx_http_request_t *r,
    u_char *type, size_t len);
static ngx_int_t ngx_http_oci_manifest_put(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_manifest_body_done(ngx_http_request_t *r);
static void ngx_http_oci_manifest_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_manifest_delete(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_manifest_deleted(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_referrers_found(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_oci_manifest(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
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


static ngx_int_t
ngx_http_oci_manifest_get(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
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
    argv[1] = (char *) ctx->route.reference.data;
    lens[1] = ctx->route.reference.len;
    argv[2] = ctx->route.by_digest ? "d" : "t";
    lens[2] = 1;

    /* HEAD needs the size, not the bytes */
    argv[3] = (r->method == NGX_HTTP_HEAD) ? "head" : "get";
    lens[3] = ngx_strlen(argv[3]);

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_manifest_found,
                                   NGX_HTTP_OCI_SCRIPT_MANIFEST_GET, 1, 4,
                                   argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_manifest_found(ngx_http_request_t *r, redisReply *reply)
{
    off_t                size;
    u_char              *body;
    ngx_int_t            rc;
    ngx_str_t            etag;
    ngx_buf_t           *b;
    redisReply          *d, *t, *v;
    ngx_chain_t          out;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                    &ctx->route.reference);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    d = reply->element[0];
    t = reply->element[1];
    v = reply->element[2];

    if (ngx_http_oci_manifest_acceptable(r, (u_char *) t->str, t->len)
        != NGX_OK)
    {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                    &ctx->route.reference);
        return;
    }

    /* the reply is freed when we return: copy what the response needs */

    if (ngx_http_oci_set_str(r, &ctx->digest, (u_char *) d->str, d->len)
        != NGX_OK
        || ngx_http_oci_set_str(r, &r->headers_out.content_type,
                                (u_char *) t->str, t->len)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (ngx_http_oci_media_type_json(&r->headers_out.content_type) != NGX_OK
        && ngx_http_oci_manifest_sandbox(r) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (r->method == NGX_HTTP_HEAD) {
        size = ngx_atoof((u_char *) v->str, v->len);
        body = NULL;

    } else {
        size = v->len;
        body = ngx_pnalloc(r->pool, v->len);
        if (body == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(body, v->str, v->len);
    }

    etag.len = ctx->digest.len + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    if (etag.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(etag.data, "\"%V\"", &ctx->digest);

    if (ngx_http_oci_add_header(r, "Docker-Content-Digest", &ctx->digest)
        != NGX_OK
        || ngx_http_oci_add_header(r, "ETag", &etag) != NGX_OK
        || ngx_http_oci_nosniff_header(r) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = size;

    if (body == NULL || size == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    b->pos = body;
    b->last = body + size;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));
}


/*
 * A manifest stored before pushes were limited to JSON types may have a
 * type a browser renders: it is served, but as an inert download
 */

static ngx_int_t
ngx_http_oci_manifest_sandbox(ngx_http_request_t *r)
{
    static ngx_str_t  sandbox = ngx_string("sandbox");
    static ngx_str_t  attachment = ngx_string("attachment");

    if (ngx_http_oci_add_header(r, "Content-Security-Policy", &sandbox)
        != NGX_OK
        || ngx_http_oci_add_header(r, "Content-Disposition", &attachment)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Content negotiation: without Accept, or with a wildcard, anything goes;
 * otherwise the stored media type must be listed.  Parameters such as
 * ";q=0.5" are ignored.
 */

static ngx_int_t
ngx_http_oci_manifest_acceptable(ngx_http_request_t *r, u_char *type,
    size_t len)
{
    u_char           *p, *last, *end;
    ngx_uint_t        i, seen;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    seen = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) != 0)
        {
            continue;
        }

        seen = 1;
        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == ',')) {
                p++;
            }

            end = p;
            while (end < last && *end != ',' && *end != ';' && *end != ' ') {
                end++;
            }

            if ((size_t) (end - p) == len && ngx_strncmp(p, type, len) == 0)
            {
                return NGX_OK;
            }

            if (end - p == 3 && ngx_strncmp(p, "*/*", 3) == 0) {
                return NGX_OK;
            }

            while (end < last && *end != ',') {
                end++;
            }

            p = end;
        }
    }

    return seen ? NGX_DECLINED : NGX_OK;
}


static ngx_int_t
ngx_http_oci_manifest_put(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char     *pos;
    ngx_str_t   tag;

    if (r->headers_in.content_length_n > (off_t) ctx->conf->manifest_max_size)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_OCI_ERR_MANIFEST_INVALID,
                                       NULL);
    }

    if (!ctx->route.by_digest) {
        ctx->tags[ctx->ntags++] = ctx->route.reference;
    }

    /* PUT .../manifests/<digest>?tag=a&tag=b tags it in the same step */

    pos = NULL;

    while (ngx_http_oci_arg_next(&r->args, &pos, "tag", &tag) == NGX_OK) {
        if (ngx_http_oci_unescape(r, &tag) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_oci_tag_valid(tag.data, tag.len) != NGX_OK) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_TAG_INVALID,
                                           &tag);
        }

        if (ctx->ntags == NGX_HTTP_OCI_TAGS_MAX) {
            return ngx_http_oci_send_error(r, NGX_HTTP_REQUEST_URI_TOO_LARGE,
                                           NGX_HTTP_OCI_ERR_TAG_INVALID,
                                           &tag);
        }

        ctx->tags[ctx->ntags++] = tag;
    }

    ctx->mem_max = (r->headers_in.content_length_n >= 0)
                   ? (size_t) r->headers_in.content_length_n
                   : ctx->conf->manifest_max_size;

    ctx->mem = ngx_pnalloc(r->pool, ctx->mem_max ? ctx->mem_max : 1);
    if (ctx->mem == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->memory = 1;

    return ngx_http_oci_body_read(r, ngx_http_oci_manifest_body_done);
}


static void
ngx_http_oci_manifest_body_done(ngx_http_request_t *r)
{
    char                     *err;
    u_char                   *p;
    size_t                   *lens, n;
    ngx_int_t                 rc;
    ngx_str_t                 desc, detail, *s, *ct;
    ngx_uint_t                i, alg, argc;
    const char              **argv;
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_manifest_t   m;
    u_char                    digest[NGX_HTTP_OCI_DIGEST_MAX];

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    ctx->memory = 0;

    if (ctx->body_status) {
        ngx_http_oci_finalize_error(r, ctx->body_status,
                                    NGX_HTTP_OCI_ERR_MANIFEST_INVALID, NULL);
        return;
    }

    alg = ctx->route.by_digest
          ? ngx_http_oci_hash_alg(&ctx->route.digest.algorithm)
          : NGX_HTTP_OCI_SHA256;

    n = ngx_http_oci_digest_buf(alg, ctx->mem, ctx->mem_len, digest);
    if (n == 0) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->route.by_digest) {
        if (n != ctx->digest.len
            || ngx_strncmp(digest, ctx->digest.data, n) != 0)
        {
            ngx_http_oci_finalize_error(r, NGX_HTTP_BAD_REQUEST,
                                        NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                        &ctx->digest);
            return;
        }

    } else if (ngx_http_oci_set_str(r, &ctx->digest, digest, n) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    rc = ngx_http_oci_manifest_parse(r->pool, ctx->mem, ctx->mem_len, ct, &m,
                                     &err);

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
                                            ctx->mem_len, &desc)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->subject = m.subject;

    argc = 2 + 9 + 3 + ctx->ntags + m.blobs.nelts + m.manifests.nelts;

    argv = ngx_palloc(r->pool, argc * sizeof(char *));
    lens = ngx_palloc(r->pool, argc * sizeof(size_t));
    p = ngx_pnalloc(r->pool, 4 * NGX_SIZE_T_LEN
                             + ctx->conf->key_prefix.len + sizeof("catalog"));

    if (argv == NULL || p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

#define ngx_http_oci_arg(i, d, l)                                             \
    argv[i] = (char *) (d); lens[i] = (l)

    ngx_http_oci_arg(0, ctx->base.data, ctx->base.len);
    ngx_http_oci_arg(1, p, ngx_sprintf(p, "%Vcatalog",
                                       &ctx->conf->key_prefix) - p);
    p += lens[1];
    ngx_http_oci_arg(2, ctx->route.name.data, ctx->route.name.len);
    ngx_http_oci_arg(3, ctx->digest.data, ctx->digest.len);
    ngx_http_oci_arg(4, m.media_type.data, m.media_type.len);
    ngx_http_oci_arg(5, ctx->mem, ctx->mem_len);
    ngx_http_oci_arg(6, p, ngx_sprintf(p, "%uz", ctx->mem_len) - p);
    p += lens[6];
    ngx_http_oci_arg(7, m.subject.data, m.subject.len);
    ngx_http_oci_arg(8, desc.data, desc.len);
    ngx_http_oci_arg(9, m.artifact_type.data, m.artifact_type.len);
    ngx_http_oci_arg(10, ctx->conf->referrers_max_text.data,
                     ctx->conf->referrers_max_text.len);

    i = 11;

    ngx_http_oci_arg(i, p, ngx_sprintf(p, "%ui", ctx->ntags) - p);
    p += lens[i++];

    for (n = 0; n < ctx->ntags; n++) {
        ngx_http_oci_arg(i, ctx->tags[n].data, ctx->tags[n].len);
        i++;
    }

    ngx_http_oci_arg(i, p, ngx_sprintf(p, "%ui", m.blobs.nelts) - p);
    p += lens[i++];

    s = m.blobs.elts;
    for (n = 0; n < m.blobs.nelts; n++) {
        ngx_http_oci_arg(i, s[n].data, s[n].len);
        i++;
    }

    ngx_http_oci_arg(i, p, ngx_sprintf(p, "%ui", m.manifests.nelts) - p);
    p += lens[i++];

    s = m.manifests.elts;
    for (n = 0; n < m.manifests.nelts; n++) {
        ngx_http_oci_arg(i, s[n].data, s[n].len);
        i++;
    }

#undef ngx_http_oci_arg

    if (ngx_http_oci_redis_script(r, ctx->conf->redis,
                                  ngx_http_oci_manifest_stored,
                                  NGX_HTTP_OCI_SCRIPT_MANIFEST_PUT, 2,
                                  (int) i, argv, lens)
        != NGX_OK)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    /* continues in manifest_stored; the body reading's reference is ours */
}


static void
ngx_http_oci_manifest_stored(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t            missing, detail;
    ngx_uint_t           i;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        if (reply->element[0]->len == sizeof("REFERRERS") - 1
            && ngx_strncmp(reply->element[0]->str, "REFERRERS",
                           sizeof("REFERRERS") - 1) == 0)
        {
            /* a quota: the subject has as many referrers as it may */

            detail.len = sizeof("the subject  has the most referrers a "
                                "subject may have ()") - 1
                         + ctx->subject.len + NGX_INT_T_LEN;
            detail.data = ngx_pnalloc(r->pool, detail.len);
            if (detail.data == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            detail.len = ngx_sprintf(detail.data, "the subject %V has the "
                                     "most referrers a subject may have "
                                     "(%i)", &ctx->subject,
                                     ctx->conf->referrers_max)
                         - detail.data;

            ngx_http_oci_finalize_error(r, NGX_HTTP_FORBIDDEN,
                                        NGX_HTTP_OCI_ERR_DENIED, &detail);
            return;
        }

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

    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
    {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: manifest script failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_oci_unavailable(r);
        return;
    }

    if (ngx_http_oci_created(r, "manifests", &ctx->digest) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->subject.len
        && ngx_http_oci_add_header(r, "OCI-Subject", &ctx->subject)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (i = ctx->route.by_digest ? 0 : 1; i < ctx->ntags; i++) {
        if (ngx_http_oci_add_header(r, "OCI-Tag", &ctx->tags[i]) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_CREATED,
                                                        NULL, 0));
}


static ngx_int_t
ngx_http_oci_manifest_delete(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
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
    argv[1] = (char *) ctx->route.reference.data;
    lens[1] = ctx->route.reference.len;
    argv[2] = ctx->route.by_digest ? "d" : "t";
    lens[2] = 1;

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_manifest_deleted,
                                   NGX_HTTP_OCI_SCRIPT_MANIFEST_DELETE, 1, 3,
                                   argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_manifest_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ngx_http_oci_reply_deleted(r, reply, NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
                                   &ctx->route.reference)
        != NGX_OK)
    {
        return;
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_ACCEPTED,
                                                        NULL, 0));
}


/*
 * GET /v2/<name>/referrers/<digest>[?artifactType=]: an image index of the
 * manifests whose subject is <digest>, built from the descriptors stored
 * at push time.  Never 404: no referrers is an empty index.
 */

ngx_int_t
ngx_http_oci_referrers(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_int_t               rc;
    u_char                 *p;
    size_t                 *lens;
    ngx_str_t               filter, value;
    const char            **argv;
    ngx_http_oci_digest_t   d;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv = ngx_http_oci_argv(r, 6, &lens);
    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (argv == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&ctx->subject);
    ngx_str_null(&ctx->digest);
    ctx->page_n = NGX_HTTP_OCI_PAGE_MAX;

    /* the filter is kept in ctx->subject, the page marker in ctx->digest */

    if (ngx_http_oci_arg(r, "artifactType", &filter) == NGX_OK
        && filter.len)
    {
        if (filter.len > 1024) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                           NULL);
        }

        ctx->subject = filter;
    }

    if (ngx_http_oci_arg(r, "n", &value) == NGX_OK) {
        ctx->page_n = (value.len == 0 || value.len > 18)
                      ? NGX_ERROR : ngx_atoi(value.data, value.len);

        if (ctx->page_n == NGX_ERROR || ctx->page_n == 0) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                   NGX_HTTP_OCI_ERR_PAGINATION_NUMBER_INVALID,
                                   &value);
        }

        ctx->page_n = ngx_min(ctx->page_n, NGX_HTTP_OCI_PAGE_MAX);
    }

    if (ngx_http_oci_arg(r, "last", &value) == NGX_OK) {
        if (ngx_http_oci_digest_parse(value.data, value.len, &d) != NGX_OK) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_DIGEST_INVALID,
                                           &value);
        }

        ctx->digest = value;
    }

    argv[0] = (char *) ctx->base.data;
    lens[0] = ctx->base.len;
    argv[1] = (char *) ctx->route.digest.text.data;
    lens[1] = ctx->route.digest.text.len;
    argv[2] = ctx->subject.len ? (char *) ctx->subject.data : "";
    lens[2] = ctx->subject.len;
    argv[3] = ctx->digest.len ? (char *) ctx->digest.data : "";
    lens[3] = ctx->digest.len;
    argv[4] = (char *) p;
    lens[4] = ngx_sprintf(p, "%i", ctx->page_n) - p;
    argv[5] = NGX_HTTP_OCI_REFERRERS_PAGE_BYTES;
    lens[5] = sizeof(NGX_HTTP_OCI_REFERRERS_PAGE_BYTES) - 1;

    rc = ngx_http_oci_redis_script(r, ctx->conf->redis,
                                   ngx_http_oci_referrers_found,
                                   NGX_HTTP_OCI_SCRIPT_REFERRERS, 1, 6,
                                   argv, lens);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_referrers_found(ngx_http_request_t *r, redisReply *reply)
{
    u_char              *body, *p, *q;
    size_t               len, i;
    ngx_str_t            applied, type, link;
    redisReply          *e;
    ngx_http_oci_ctx_t  *ctx;

    static u_char  head[] = "{\"schemaVersion\":2,\"mediaType\":\""
                            NGX_HTTP_OCI_MT_OCI_INDEX "\",\"manifests\":[";

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (reply->elements == 0 || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_http_oci_unavailable(r);
        return;
    }

    len = sizeof(head) - 1 + sizeof("]}") - 1;

    for (i = 1; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            ngx_http_oci_unavailable(r);
            return;
        }

        len += e->len + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, head, sizeof(head) - 1);

    for (i = 1; i < reply->elements; i++) {
        if (i > 1) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, reply->element[i]->str, reply->element[i]->len);
    }

    p = ngx_cpymem(p, "]}", 2);

    if (ctx->subject.len) {
        ngx_str_set(&applied, "artifactType");

        if (ngx_http_oci_add_header(r, "OCI-Filters-Applied", &applied)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    e = reply->element[0];

    if (e->len) {
        /* the filter was percent-decoded: send it encoded again */

        link.len = sizeof("</v2//referrers/?n=&last=&artifactType=>; "
                          "rel=\"next\"") - 1
                   + ctx->route.name.len + ctx->route.digest.text.len
                   + NGX_INT_T_LEN + e->len
                   + 3 * ctx->subject.len;
        link.data = ngx_pnalloc(r->pool, link.len);
        if (link.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        q = ngx_sprintf(link.data, "</v2/%V/referrers/%V?n=%i&last=%*s",
                        &ctx->route.name, &ctx->route.digest.text,
                        ctx->page_n, (size_t) e->len, e->str);

        if (ctx->subject.len) {
            q = ngx_cpymem(q, "&artifactType=", 14);
            q = (u_char *) ngx_escape_uri(q, ctx->subject.data,
                                          ctx->subject.len,
                                          NGX_ESCAPE_URI_COMPONENT);
        }

        q = ngx_cpymem(q, ">; rel=\"next\"", 13);
        link.len = q - link.data;

        if (ngx_http_oci_add_header(r, "Link", &link) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_str_set(&type, NGX_HTTP_OCI_MT_OCI_INDEX);

    ngx_http_finalize_request(r, ngx_http_oci_send_typed(r, NGX_HTTP_OK,
                                                         &type, body,
                                                         p - body));
}
