
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"


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
