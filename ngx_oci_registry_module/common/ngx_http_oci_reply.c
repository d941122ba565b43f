
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_errors.h"


/*
 * The reply layer: JSON answers and OCI errors with their headers, the
 * headers every answer carries, Location, one errno-to-status map, and
 * query arguments as clients send them.  Every endpoint answers through
 * these, so that no error ends in nginx's HTML page.
 */


static ngx_str_t  ngx_http_oci_api_version = ngx_string("registry/2.0");
static ngx_str_t  ngx_http_oci_nosniff = ngx_string("nosniff");


ngx_int_t
ngx_http_oci_add_header(ngx_http_request_t *r, char *key, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * On every answer: pushed bytes (manifests, blobs) are served with the
 * type they were pushed with, or as octet-stream; a browser must not
 * guess a renderable type from them
 */

ngx_int_t
ngx_http_oci_nosniff_header(ngx_http_request_t *r)
{
    return ngx_http_oci_add_header(r, "X-Content-Type-Options",
                                   &ngx_http_oci_nosniff);
}


ngx_int_t
ngx_http_oci_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    static ngx_str_t  json = ngx_string("application/json");

    return ngx_http_oci_send_typed(r, status, &json, body, len);
}


ngx_int_t
ngx_http_oci_send_typed(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_oci_add_header(r, "Docker-Distribution-API-Version",
                                &ngx_http_oci_api_version)
        != NGX_OK
        || ngx_http_oci_nosniff_header(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Sends {"errors":[{"code":...,"message":...,"detail":...}]}.  The detail
 * usually carries client input, so it is escaped into a JSON string; a
 * NULL detail is sent as null.
 */

ngx_int_t
ngx_http_oci_send_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_oci_err_e err, ngx_str_t *detail)
{
    ngx_str_t  body;

    if (r->header_sent) {
        /* a streamed answer (a mirror's blob) failed: cut it short */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oci registry: answer cut short (%ui)", status);
        return NGX_ERROR;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    if (ngx_http_oci_error_body(r->pool, err, detail, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* headers of an earlier attempt must not leak into the error */
    r->headers_out.location = NULL;

    return ngx_http_oci_send_json(r, status, body.data, body.len);
}


/*
 * Ends a content handler that sent a Redis command: on success the request
 * waits for the reply (the memcached pattern: count++, NGX_DONE), else it
 * is answered 503 now.
 */

ngx_int_t
ngx_http_oci_suspend(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        return ngx_http_oci_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
    }

    r->main->count++;

    return NGX_DONE;
}


/* the request's Redis command failed: 503 with the OCI error body */

void
ngx_http_oci_unavailable(ngx_http_request_t *r)
{
    ngx_http_oci_finalize_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                NGX_HTTP_OCI_ERR_UNAVAILABLE, NULL);
}


void
ngx_http_oci_finalize_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_oci_err_e err, ngx_str_t *detail)
{
    ngx_http_finalize_request(r, ngx_http_oci_send_error(r, status, err,
                                                         detail));
}


/*
 * The status of a failed file operation, one map for every endpoint (as
 * the dav module's ngx_http_dav_error()): a missing file or directory is
 * 404, a full disk 507, no permission 403, anything else 500.  500s are
 * logged at crit: they are the operator's to look at.
 */

ngx_uint_t
ngx_http_oci_errno_status(ngx_log_t *log, ngx_err_t err, char *what,
    u_char *name)
{
    ngx_uint_t  level, status;

    switch (err) {

    case NGX_ENOENT:
    case NGX_ENOTDIR:
    case NGX_ENAMETOOLONG:
        level = NGX_LOG_ERR;
        status = NGX_HTTP_NOT_FOUND;
        break;

    case NGX_ENOSPC:
#if defined(EDQUOT)
    case EDQUOT:
#endif
        level = NGX_LOG_ERR;
        status = NGX_HTTP_INSUFFICIENT_STORAGE;
        break;

    case NGX_EACCES:
    case NGX_EPERM:
        level = NGX_LOG_ERR;
        status = NGX_HTTP_FORBIDDEN;
        break;

    default:
        level = NGX_LOG_CRIT;
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(level, log, err, "oci registry: %s \"%s\" failed", what,
                  name);

    return status;
}


/* Location: /v2/<name>/<kind>/<ref>, relative, as the spec allows */

ngx_int_t
ngx_http_oci_location(ngx_http_request_t *r, char *kind, ngx_str_t *ref)
{
    size_t               len;
    ngx_str_t            loc;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    len = ngx_strlen(kind);

    loc.len = sizeof("/v2///") - 1 + ctx->route.name.len + len + ref->len;
    loc.data = ngx_pnalloc(r->pool, loc.len);
    if (loc.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(loc.data, "/v2/%V/%*s/%V", &ctx->route.name, len, kind, ref);

    return ngx_http_oci_add_header(r, "Location", &loc);
}


/* the headers of a 201: the new object's Location and its digest */

ngx_int_t
ngx_http_oci_created(ngx_http_request_t *r, char *kind, ngx_str_t *digest)
{
    if (ngx_http_oci_location(r, kind, digest) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_oci_add_header(r, "Docker-Content-Digest", digest);
}


/* ETag: "<digest>", where nginx's not-modified filter looks for it */

ngx_int_t
ngx_http_oci_etag(ngx_http_request_t *r, ngx_str_t *digest)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.len = digest->len + 2;
    h->value.data = ngx_pnalloc(r->pool, h->value.len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(h->value.data, "\"%V\"", digest);

    h->hash = 1;
    ngx_str_set(&h->key, "ETag");
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    r->headers_out.etag = h;

    return NGX_OK;
}


ngx_int_t
ngx_http_oci_set_str(ngx_http_request_t *r, ngx_str_t *dst, u_char *src,
    size_t len)
{
    if (len == 0) {
        /* an absent header's value (NULL data) is an empty string */
        ngx_str_null(dst);
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(r->pool, len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len);
    dst->len = len;

    return NGX_OK;
}


/*
 * A query argument, percent-decoded into the pool: clients encode the
 * ':' of digests and the '/' of names and media types.  The result is
 * still untrusted and validated by the caller.
 */

ngx_int_t
ngx_http_oci_arg(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), value) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return ngx_http_oci_unescape(r->pool, value);
}
