
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"
#include "ngx_http_oci_redis.h"




static ngx_int_t ngx_http_oci_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);
static ngx_int_t ngx_http_oci_base(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_tags_list(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
static void ngx_http_oci_tags_list_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_page_args(ngx_http_request_t *r,
    ngx_uint_t type, ngx_int_t *n, ngx_str_t *last, ngx_http_oci_err_e *err,
    ngx_str_t *bad);


static ngx_str_t  ngx_http_oci_method_names[] = {
    ngx_string("GET"), ngx_string("HEAD"), ngx_string("POST"),
    ngx_string("PUT"), ngx_string("PATCH"), ngx_string("DELETE")
};

static ngx_uint_t  ngx_http_oci_method_bits[] = {
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST,
    NGX_HTTP_PUT, NGX_HTTP_PATCH, NGX_HTTP_DELETE
};


ngx_int_t
ngx_http_oci_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_uint_t                methods, status;
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_err_e        err;
    ngx_http_oci_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_registry_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = olcf;

    ngx_http_set_ctx(r, ctx, ngx_http_oci_registry_module);

    /*
     * r->uri is already percent-decoded and has "." and ".." resolved by
     * nginx; the route parser then admits only the spec's character sets
     */

    rc = ngx_http_oci_route_parse(&r->uri, &ctx->route, &err);

    if (rc == NGX_DECLINED) {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_OCI_ERR_NOT_FOUND, &r->uri);
    }

    if (rc != NGX_OK) {
        status = (err == NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN)
                 ? NGX_HTTP_NOT_FOUND : NGX_HTTP_BAD_REQUEST;

        return ngx_http_oci_send_error(r, status, err, &r->uri);
    }

    methods = ngx_http_oci_route_methods(ctx->route.type);

    if (!(r->method & methods)) {
        return ngx_http_oci_not_allowed(r, methods);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "oci route:%d name:\"%V\" ref:\"%V\"",
                   (int) ctx->route.type, &ctx->route.name,
                   &ctx->route.reference);

    if (ctx->route.name.len) {
        ctx->base.len = olcf->key_prefix.len + ctx->route.name.len
                        + sizeof("{}:") - 1;
        ctx->base.data = ngx_pnalloc(r->pool, ctx->base.len);
        if (ctx->base.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(ctx->base.data, "%V{%V}:", &olcf->key_prefix,
                    &ctx->route.name);
    }

    if (r->method == NGX_HTTP_DELETE && !olcf->delete) {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                       &r->method_name);
    }

    switch (ctx->route.type) {

    case NGX_HTTP_OCI_ROUTE_BASE:
        return ngx_http_oci_base(r);

    case NGX_HTTP_OCI_ROUTE_TAGS:
    case NGX_HTTP_OCI_ROUTE_CATALOG:
        return ngx_http_oci_tags_list(r, ctx);

    case NGX_HTTP_OCI_ROUTE_BLOB:
        return ngx_http_oci_blob(r, ctx);

    case NGX_HTTP_OCI_ROUTE_UPLOAD_START:
    case NGX_HTTP_OCI_ROUTE_UPLOAD:
        return ngx_http_oci_upload(r, ctx);

    case NGX_HTTP_OCI_ROUTE_MANIFEST:
        return ngx_http_oci_manifest(r, ctx);

    default: /* NGX_HTTP_OCI_ROUTE_REFERRERS */
        return ngx_http_oci_referrers(r, ctx);
    }
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


/*
 * The argument vector of a Redis command, strings and their lengths, in
 * one allocation from the request pool (scripts need it to live until
 * their reply).  *lens is NULL when it fails.
 */

const char **
ngx_http_oci_argv(ngx_http_request_t *r, ngx_uint_t n, size_t **lens)
{
    u_char  *p;

    p = ngx_palloc(r->pool, n * (sizeof(char *) + sizeof(size_t)));
    if (p == NULL) {
        *lens = NULL;
        return NULL;
    }

    *lens = (size_t *) (p + n * sizeof(char *));

    return (const char **) p;
}


/*
 * The integer reply of a deletion (DEL, HDEL, our delete scripts): NGX_OK
 * when something was deleted; otherwise the request has been answered,
 * 404 with "err" for nothing to delete, 503 for an unexpected reply.
 */

ngx_int_t
ngx_http_oci_reply_deleted(ngx_http_request_t *r, redisReply *reply,
    ngx_http_oci_err_e err, ngx_str_t *detail)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_oci_unavailable(r);
        return NGX_DONE;
    }

    if (reply->integer == 0) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND, err, detail);
        return NGX_DONE;
    }

    return NGX_OK;
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


ngx_int_t
ngx_http_oci_set_str(ngx_http_request_t *r, ngx_str_t *dst, u_char *src,
    size_t len)
{
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

    return ngx_http_oci_unescape(r, value);
}


ngx_int_t
ngx_http_oci_unescape(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char  *dst, *src;

    if (ngx_strlchr(value->data, value->data + value->len, '%') == NULL) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, value->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    src = value->data;
    value->data = dst;

    ngx_unescape_uri(&dst, &src, value->len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}




static ngx_int_t
ngx_http_oci_not_allowed(ngx_http_request_t *r, ngx_uint_t methods)
{
    u_char      *p;
    ngx_str_t    allow;
    ngx_uint_t   i;

    allow.data = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, "
                                             "DELETE"));
    if (allow.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = allow.data;

    for (i = 0; i < sizeof(ngx_http_oci_method_bits) / sizeof(ngx_uint_t);
         i++)
    {
        if (!(methods & ngx_http_oci_method_bits[i])) {
            continue;
        }

        if (p != allow.data) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, ngx_http_oci_method_names[i].data,
                       ngx_http_oci_method_names[i].len);
    }

    allow.len = p - allow.data;

    if (ngx_http_oci_add_header(r, "Allow", &allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                   NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                   &r->method_name);
}


static ngx_int_t
ngx_http_oci_base(ngx_http_request_t *r)
{
    static u_char  body[] = "{}";

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_send_json(r, NGX_HTTP_OK, body, sizeof(body) - 1);
}


/*
 * GET /v2/<name>/tags/list[?n=&last=]: one ZRANGEBYLEX over the sorted set
 * of the repository's tags, so a page costs O(log N + n) whatever the
 * number of tags.  One more tag than asked for tells whether a next page
 * exists.
 */

static ngx_int_t
ngx_http_oci_tags_list(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char              *p;
    size_t               argvlen[7];
    ngx_int_t            n, rc;
    ngx_str_t            last, key, bad;
    const char          *argv[7];
    ngx_http_oci_err_e   err;
    u_char               start[NGX_HTTP_OCI_MAX_NAME + 2];
    u_char               limit[NGX_INT_T_LEN];

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_page_args(r, ctx->route.type, &n, &last, &err, &bad)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST, err, &bad);
    }

    ctx->page_n = n;

    /* "<prefix>catalog", or "<prefix>{<name>}:tags" (base is empty then) */
    key.len = ctx->conf->key_prefix.len + ctx->base.len + sizeof("catalog")
              - 1;
    key.data = ngx_pnalloc(r->pool, key.len);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_CATALOG) {
        key.len = ngx_sprintf(key.data, "%Vcatalog", &ctx->conf->key_prefix)
                  - key.data;

    } else {
        key.len = ngx_sprintf(key.data, "%Vtags", &ctx->base) - key.data;
    }

    argv[0] = "ZRANGEBYLEX";
    argvlen[0] = sizeof("ZRANGEBYLEX") - 1;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    if (last.len) {
        p = ngx_cpymem(start, "(", 1);
        p = ngx_cpymem(p, last.data, last.len);
        argv[2] = (char *) start;
        argvlen[2] = p - start;

    } else {
        argv[2] = "-";
        argvlen[2] = 1;
    }

    argv[3] = "+";
    argvlen[3] = 1;
    argv[4] = "LIMIT";
    argvlen[4] = 5;
    argv[5] = "0";
    argvlen[5] = 1;
    argv[6] = (char *) limit;
    argvlen[6] = ngx_sprintf(limit, "%i", n + 1) - limit;

    ctx->page_last = last;

    rc = ngx_http_oci_redis_command(r, ctx->conf->redis,
                                    ngx_http_oci_tags_list_reply,
                                    7, argv, argvlen);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_tags_list_reply(ngx_http_request_t *r, redisReply *reply)
{
    u_char              *p, *body;
    size_t               len, i, count;
    ngx_str_t            link, field, path;
    redisReply          *e;
    ngx_http_oci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_CATALOG) {
        ngx_str_set(&field, "{\"repositories\":[");
        ngx_str_set(&path, "/v2/_catalog");

    } else {
        if (reply->elements == 0 && ctx->page_last.len == 0) {
            ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                        NGX_HTTP_OCI_ERR_NAME_UNKNOWN,
                                        &ctx->route.name);
            return;
        }

        ngx_str_set(&field, "\",\"tags\":[");
        path.len = sizeof("/v2//tags/list") - 1 + ctx->route.name.len;
        path.data = ngx_pnalloc(r->pool, path.len);
        if (path.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_sprintf(path.data, "/v2/%V/tags/list", &ctx->route.name);
    }

    count = ngx_min(reply->elements, (size_t) ctx->page_n);

    len = sizeof("{\"name\":\"") - 1 + field.len + sizeof("]}") - 1
          + ngx_http_oci_json_escape_len(ctx->route.name.data,
                                         ctx->route.name.len);

    for (i = 0; i < count; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            ngx_http_oci_unavailable(r);
            return;
        }

        len += sizeof("\"\",") - 1
               + ngx_http_oci_json_escape_len((u_char *) e->str, e->len);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body;

    if (ctx->route.type != NGX_HTTP_OCI_ROUTE_CATALOG) {
        p = ngx_cpymem(p, "{\"name\":\"", sizeof("{\"name\":\"") - 1);
        p = ngx_http_oci_json_escape(p, ctx->route.name.data,
                                     ctx->route.name.len);
    }

    p = ngx_cpymem(p, field.data, field.len);

    for (i = 0; i < count; i++) {
        e = reply->element[i];

        if (i > 0) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_http_oci_json_escape(p, (u_char *) e->str, e->len);
        *p++ = '"';
    }

    p = ngx_cpymem(p, "]}", 2);

    if (reply->elements > count && count > 0) {
        e = reply->element[count - 1];

        link.len = sizeof("<?n=&last=>; rel=\"next\"") - 1 + path.len
                   + NGX_INT_T_LEN + e->len;
        link.data = ngx_pnalloc(r->pool, link.len);
        if (link.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        /* tags and names were validated on push: nothing to escape */

        link.len = ngx_sprintf(link.data, "<%V?n=%i&last=%*s>; rel=\"next\"",
                               &path, ctx->page_n, (size_t) e->len, e->str)
                   - link.data;

        if (ngx_http_oci_add_header(r, "Link", &link) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_OK, body,
                                                        p - body));
}


/*
 * n: a decimal count; absent means a full page.  Larger pages than we
 * serve at once are cut and continued through Link, which the spec allows;
 * only what is no number (or overflows one) is an error.
 * last: the exclusive lower bound, itself a tag.
 */

static ngx_int_t
ngx_http_oci_page_args(ngx_http_request_t *r, ngx_uint_t type, ngx_int_t *n,
    ngx_str_t *last, ngx_http_oci_err_e *err, ngx_str_t *bad)
{
    ngx_str_t  value;

    *n = NGX_HTTP_OCI_PAGE_MAX;
    ngx_str_null(last);

    if (ngx_http_oci_arg(r, "n", &value) == NGX_OK) {
        *n = (value.len == 0 || value.len > 18)
             ? NGX_ERROR : ngx_atoi(value.data, value.len);

        if (*n == NGX_ERROR) {
            *err = NGX_HTTP_OCI_ERR_PAGINATION_NUMBER_INVALID;
            *bad = value;
            return NGX_ERROR;
        }

        if (*n > NGX_HTTP_OCI_PAGE_MAX) {
            *n = NGX_HTTP_OCI_PAGE_MAX;
        }
    }

    if (ngx_http_oci_arg(r, "last", &value) == NGX_OK) {
        if (type == NGX_HTTP_OCI_ROUTE_CATALOG) {
            if (ngx_http_oci_name_valid(value.data, value.len) != NGX_OK) {
                *err = NGX_HTTP_OCI_ERR_NAME_INVALID;
                *bad = value;
                return NGX_ERROR;
            }

        } else if (ngx_http_oci_tag_valid(value.data, value.len) != NGX_OK) {
            *err = NGX_HTTP_OCI_ERR_TAG_INVALID;
            *bad = value;
            return NGX_ERROR;
        }

        *last = value;
    }

    return NGX_OK;
}
