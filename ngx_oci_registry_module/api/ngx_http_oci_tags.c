
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_tags.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_json.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis.h"


/*
 * GET /v2/<name>/tags/list[?n=&last=] (end-8): one ZRANGEBYLEX over the
 * sorted set of the repository's tags, so a page costs O(log N + n)
 * whatever the number of tags.  One more tag than asked for tells
 * whether a next page exists.  The catalog (ngx_http_oci_catalog.c) is a
 * list of the same kind.
 */


typedef struct {
    ngx_int_t                   n;
    ngx_str_t                   last;
} ngx_http_oci_page_t;


static void ngx_http_oci_list_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_oci_page_args(ngx_http_request_t *r,
    ngx_uint_t type, ngx_int_t *n, ngx_str_t *last, ngx_http_oci_err_e *err,
    ngx_str_t *bad);


ngx_int_t
ngx_http_oci_tags(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_str_t  key;

    key.len = ctx->base.len + sizeof("tags") - 1;
    key.data = ngx_pnalloc(r->pool, key.len);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(key.data, "%Vtags", &ctx->base);

    return ngx_http_oci_list(r, ctx, &key);
}


/* a page of the sorted set "key": the repository's tags, or the catalog */

ngx_int_t
ngx_http_oci_list(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_str_t *key)
{
    u_char               *p, *start;
    ngx_int_t             rc;
    ngx_str_t             bad;
    ngx_http_oci_err_e    err;
    ngx_http_oci_args_t   a;
    ngx_http_oci_page_t  *pg;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg = ngx_palloc(r->pool, sizeof(ngx_http_oci_page_t));
    if (pg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = pg;

    if (ngx_http_oci_page_args(r, ctx->route.type, &pg->n, &pg->last, &err,
                               &bad)
        != NGX_OK)
    {
        return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST, err, &bad);
    }

    /*
     * In the request's pool, not on the stack: on a cluster a MOVED sends
     * the command again, after this function returned
     */

    start = ngx_pnalloc(r->pool, pg->last.len + 1);

    if (start == NULL || ngx_http_oci_args_init(&a, r->pool, 7) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_oci_args_lit(&a, "ZRANGEBYLEX");
    ngx_http_oci_args_str(&a, key);

    if (pg->last.len) {
        p = ngx_cpymem(start, "(", 1);
        p = ngx_cpymem(p, pg->last.data, pg->last.len);
        ngx_http_oci_args_add(&a, start, p - start);

    } else {
        ngx_http_oci_args_lit(&a, "-");
    }

    ngx_http_oci_args_lit(&a, "+");
    ngx_http_oci_args_lit(&a, "LIMIT");
    ngx_http_oci_args_lit(&a, "0");
    ngx_http_oci_args_number(&a, (off_t) pg->n + 1);

    rc = ngx_http_oci_redis_command(r, ctx->conf->redis,
                                    ngx_http_oci_list_reply, &a);

    return ngx_http_oci_suspend(r, rc);
}


static void
ngx_http_oci_list_reply(ngx_http_request_t *r, redisReply *reply)
{
    u_char               *p, *body;
    size_t                len, i, count;
    ngx_str_t             link, field, path;
    redisReply           *e;
    ngx_http_oci_ctx_t   *ctx;
    ngx_http_oci_page_t  *pg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);
    pg = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_oci_unavailable(r);
        return;
    }

    if (ctx->route.type == NGX_HTTP_OCI_ROUTE_CATALOG) {
        ngx_str_set(&field, "{\"repositories\":[");
        ngx_str_set(&path, "/v2/_catalog");

    } else {
        if (reply->elements == 0 && pg->last.len == 0) {
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

    count = ngx_min(reply->elements, (size_t) pg->n);

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
                               &path, pg->n, (size_t) e->len, e->str)
                   - link.data;

        if (ngx_http_oci_add_header(r, "Link", &link) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_oci_send_json(r, NGX_HTTP_OK, body,
                                                        p - body));
}


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
