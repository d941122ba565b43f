
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_mirror.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis.h"


/*
 * One upstream request: a subrequest to the mirror location, which
 * proxy_passes $oci_mirror_url (proxy_buffering off); its answer goes
 * through our filters (ngx_http_oci_mirror_filter.c).  Redirects are
 * followed (Docker Hub sends blobs to a CDN) without our credentials; a
 * 401 goes to the auth flow once; then the fetch's handler has it.
 */


#define NGX_HTTP_OCI_FETCH_REDIRECTS  4


static ngx_int_t ngx_http_oci_fetch_authorized(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
static void ngx_http_oci_fetch_cached_auth(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_fetch_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static void ngx_http_oci_fetch_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_fetch_redirect(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);


/* every manifest type we store: the upstream's choice is then cached */
static ngx_str_t  ngx_http_oci_fetch_accept = ngx_string(
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.artifact.manifest.v1+json");


ngx_http_oci_fetch_t *
ngx_http_oci_fetch_create(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_fetch_mode_e mode, char *kind, ngx_str_t *ref)
{
    u_char                   *p;
    size_t                    klen;
    ngx_str_t                *prefix;
    ngx_http_oci_fetch_t     *f;
    ngx_http_oci_mirrored_t  *mr;

    mr = ctx->mirror;
    klen = ngx_strlen(kind);

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_fetch_t));
    if (f == NULL) {
        return NULL;
    }

    f->ctx = ctx;
    f->mr = mr;
    f->mode = mode;
    f->kind = (kind[0] == 'b') ? NGX_HTTP_OCI_MIRROR_BLOBS
                               : NGX_HTTP_OCI_MIRROR_MANIFESTS;
    f->method = NGX_HTTP_GET;
    f->length = -1;
    f->mem_max = ctx->conf->manifest_max_size;

    if (f->kind == NGX_HTTP_OCI_MIRROR_MANIFESTS) {
        f->accept = ngx_http_oci_fetch_accept;
    }

    /* "/v2/<name>/<kind>/<ref>" */

    f->path.len = sizeof("/v2//") - 1 + mr->name.len + 1 + klen
                  + (ref ? ref->len : 0);
    f->path.data = ngx_pnalloc(r->pool, f->path.len);
    if (f->path.data == NULL) {
        return NULL;
    }

    p = ngx_sprintf(f->path.data, "/v2/%V/%s/", &mr->name, kind);

    if (ref) {
        p = ngx_cpymem(p, ref->data, ref->len);
    }

    f->path.len = p - f->path.data;

    /* "<prefix>mirror:auth:<mirror>:<name>": what answered its 401 */

    prefix = &ctx->conf->key_prefix;

    f->auth_key.len = prefix->len + sizeof("mirror:auth::") - 1
                      + mr->mirror->prefix.len + mr->name.len;
    f->auth_key.data = ngx_pnalloc(r->pool, f->auth_key.len);
    if (f->auth_key.data == NULL) {
        return NULL;
    }

    ngx_sprintf(f->auth_key.data, "%Vmirror:auth:%V:%V", prefix,
                &mr->mirror->prefix, &mr->name);

    return f;
}


/*
 * Starts the fetch: the Authorization that answered this repository's
 * last 401 is asked of Redis first (it is shared by every worker and
 * node).  NGX_DONE (the request waits, its count raised) or a status.
 */

ngx_int_t
ngx_http_oci_fetch_start(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    ngx_http_oci_args_t  a;

    ngx_http_set_ctx(r, f, ngx_http_oci_mirror_module);

    if (ngx_http_oci_args_init(&a, r->pool, 2) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_lit(&a, "GET");
    ngx_http_oci_args_str(&a, &f->auth_key);

    if (ngx_http_oci_redis_command(r, f->ctx->conf->redis,
                                   ngx_http_oci_fetch_cached_auth, &a)
        != NGX_OK)
    {
        /* Redis away: the upstream may not need it */
        return ngx_http_oci_fetch_send(r, f);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_oci_fetch_cached_auth(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t              v;
    ngx_http_oci_fetch_t  *f;

    f = ngx_http_get_module_ctx(r, ngx_http_oci_mirror_module);

    if (reply->type == REDIS_REPLY_STRING) {
        v.data = (u_char *) reply->str;
        v.len = reply->len;

        if (v.len == 5 && ngx_strncmp(v.data, "basic", 5) == 0) {
            f->authed = 1;
            ngx_http_finalize_request(r, ngx_http_oci_fetch_authorized(r, f));
            return;
        }

        if (ngx_http_oci_set_str(r, &f->authorization, v.data, v.len)
            != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_oci_fetch_send(r, f));
}


/* a cached "basic": the credentials, read again (they may rotate) */

static ngx_int_t
ngx_http_oci_fetch_authorized(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    if (ngx_http_oci_mirror_authorize(r, f) == NGX_DONE) {
        return NGX_DONE;
    }

    return ngx_http_oci_fetch_send(r, f);
}


/* sends the subrequest: NGX_DONE (count raised), or a status */

ngx_int_t
ngx_http_oci_fetch_send(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    ngx_http_request_t               *sr;
    ngx_http_post_subrequest_t       *psr;
    ngx_http_oci_mirror_loc_conf_t   *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_mirror_module);

    /* the upstream's URL of the path, unless a redirect named another */

    if (f->url.len == 0) {
        f->url.len = f->mr->mirror->url.len + f->path.len;
        f->url.data = ngx_pnalloc(r->pool, f->url.len);
        if (f->url.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(f->url.data, "%V%V", &f->mr->mirror->url, &f->path);
    }

    /* what the last answer said goes */

    f->rc = 0;
    f->status = 0;
    f->length = -1;
    f->mem_len = 0;
    f->received = 0;
    f->too_big = 0;
    ngx_str_null(&f->content_type);
    ngx_str_null(&f->digest);
    ngx_str_null(&f->challenge);
    ngx_str_null(&f->retry_after);
    ngx_str_null(&f->location);
    ngx_str_null(&f->content_range);

    psr = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (psr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    psr->handler = ngx_http_oci_fetch_done;
    psr->data = f;

    ngx_http_set_ctx(r, f, ngx_http_oci_mirror_module);

    if (ngx_http_subrequest(r, &mlcf->location, NULL, &sr, psr,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (f->method == NGX_HTTP_HEAD) {
        sr->method = NGX_HTTP_HEAD;
        ngx_str_set(&sr->method_name, "HEAD");
    }

    ngx_http_set_ctx(sr, f, ngx_http_oci_mirror_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oci mirror fetch: \"%V\"", &f->url);

    r->main->count++;

    return NGX_DONE;
}


static ngx_int_t
ngx_http_oci_fetch_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_oci_fetch_t  *f = data;

    f->rc = rc;

    if (f->status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        f->status = rc;
    }

    r->parent->write_event_handler = ngx_http_oci_fetch_resume;

    return rc;
}


/* the parent, once its subrequest is done */

static void
ngx_http_oci_fetch_resume(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_oci_fetch_t  *f;

    r->write_event_handler = ngx_http_request_empty_handler;

    f = ngx_http_get_module_ctx(r, ngx_http_oci_mirror_module);

    if (f == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (f->status == NGX_HTTP_UNAUTHORIZED && !f->authed
        && f->challenge.len && !f->streaming)
    {
        f->authed = 1;

        rc = ngx_http_oci_mirror_authorize(r, f);

        if (rc == NGX_DONE) {
            ngx_http_finalize_request(r, NGX_DONE);
            return;
        }

        if (rc == NGX_OK) {
            ngx_http_finalize_request(r, ngx_http_oci_fetch_send(r, f));
            return;
        }

        /* no way to answer it: the 401 is the answer */
    }

    switch (f->status) {
    case NGX_HTTP_MOVED_PERMANENTLY:
    case NGX_HTTP_MOVED_TEMPORARILY:
    case NGX_HTTP_SEE_OTHER:
    case NGX_HTTP_TEMPORARY_REDIRECT:
    case NGX_HTTP_PERMANENT_REDIRECT:
        if (f->location.len && !f->streaming
            && f->redirects < NGX_HTTP_OCI_FETCH_REDIRECTS)
        {
            ngx_http_finalize_request(r, ngx_http_oci_fetch_redirect(r, f));
            return;
        }
    }

    switch (f->status) {
    case NGX_HTTP_OK:
    case NGX_HTTP_PARTIAL_CONTENT:
        ngx_http_oci_mirror_count(r, fetches[f->kind][0], 1);
        break;
    case NGX_HTTP_NOT_FOUND:
    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_FORBIDDEN:
        ngx_http_oci_mirror_count(r, fetches[f->kind][1], 1);
        break;
    default:
        ngx_http_oci_mirror_count(r, fetches[f->kind][2], 1);
    }

    f->done(r, f);
}


/*
 * A redirect: to the Location, absolute or on the upstream's host, and
 * without our Authorization (a CDN's URL carries its own signature)
 */

static ngx_int_t
ngx_http_oci_fetch_redirect(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    ngx_str_t  *loc, url;

    loc = &f->location;
    f->redirects++;

    if (loc->data[0] == '/') {
        url.len = f->mr->mirror->url.len + loc->len;
        url.data = ngx_pnalloc(r->pool, url.len);
        if (url.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(url.data, "%V%V", &f->mr->mirror->url, loc);

    } else if ((loc->len > 7 && ngx_strncasecmp(loc->data,
                                                (u_char *) "http://", 7) == 0)
               || (loc->len > 8
                   && ngx_strncasecmp(loc->data, (u_char *) "https://", 8)
                      == 0))
    {
        url = *loc;

    } else {
        f->status = NGX_HTTP_BAD_GATEWAY;
        f->done(r, f);
        return NGX_DONE;
    }

    f->url = url;
    ngx_str_null(&f->authorization);

    return ngx_http_oci_fetch_send(r, f);
}


/*
 * The upstream did not give what was asked: 404 for what it does not
 * have (or will not show us), 429 passed on, 504 for a timeout, else 502
 */

void
ngx_http_oci_fetch_failed(ngx_http_request_t *r, ngx_http_oci_fetch_t *f,
    ngx_http_oci_err_e unknown)
{
    ngx_uint_t  status, i, level;
    ngx_str_t   detail;
    u_char      text[NGX_HTTP_OCI_MAX_NAME + 64];

    level = (f->status == NGX_HTTP_NOT_FOUND) ? NGX_LOG_INFO : NGX_LOG_WARN;

    ngx_log_error(level, r->connection->log, 0,
                  "oci registry: mirror \"%V\": %V answered %ui%s",
                  &f->mr->mirror->prefix, &f->path, f->status,
                  f->too_big ? ", too large" : "");

    switch (f->status) {

    case NGX_HTTP_NOT_FOUND:
    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_FORBIDDEN:
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND, unknown,
                                    &f->ctx->route.reference);
        return;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        status = NGX_HTTP_TOO_MANY_REQUESTS;

        for (i = 0; i < f->retry_after.len; i++) {
            if (f->retry_after.data[i] < '0' || f->retry_after.data[i] > '9')
            {
                break;
            }
        }

        if (f->retry_after.len && f->retry_after.len <= 10
            && i == f->retry_after.len
            && ngx_http_oci_add_header(r, "Retry-After", &f->retry_after)
               != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_oci_finalize_error(r, status,
                                    NGX_HTTP_OCI_ERR_TOOMANYREQUESTS, NULL);
        return;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        status = NGX_HTTP_GATEWAY_TIME_OUT;
        break;

    default:
        status = NGX_HTTP_BAD_GATEWAY;
    }

    detail.data = text;
    detail.len = ngx_snprintf(text, sizeof(text), "mirror %V: upstream "
                              "answered %ui%s", &f->mr->mirror->prefix,
                              f->status,
                              f->too_big ? " (too large)" : "")
                 - text;

    ngx_http_oci_finalize_error(r, status, NGX_HTTP_OCI_ERR_UNAVAILABLE,
                                &detail);
}
