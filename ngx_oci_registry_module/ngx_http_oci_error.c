
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"


typedef struct {
    ngx_str_t                   code;
    ngx_str_t                   message;
} ngx_http_oci_err_t;


/* indexed by ngx_http_oci_err_e; messages follow the spec's wording */
static ngx_http_oci_err_t  ngx_http_oci_errors[] = {
    { ngx_string("BLOB_UNKNOWN"),
      ngx_string("blob unknown to registry") },
    { ngx_string("BLOB_UPLOAD_INVALID"),
      ngx_string("blob upload invalid") },
    { ngx_string("BLOB_UPLOAD_UNKNOWN"),
      ngx_string("blob upload unknown to registry") },
    { ngx_string("DIGEST_INVALID"),
      ngx_string("provided digest did not match uploaded content") },
    { ngx_string("MANIFEST_BLOB_UNKNOWN"),
      ngx_string("manifest references a manifest or blob unknown to "
                 "registry") },
    { ngx_string("MANIFEST_INVALID"),
      ngx_string("manifest invalid") },
    { ngx_string("MANIFEST_UNKNOWN"),
      ngx_string("manifest unknown to registry") },
    { ngx_string("NAME_INVALID"),
      ngx_string("invalid repository name") },
    { ngx_string("NAME_UNKNOWN"),
      ngx_string("repository name not known to registry") },
    { ngx_string("SIZE_INVALID"),
      ngx_string("provided length did not match content length") },
    { ngx_string("UNAUTHORIZED"),
      ngx_string("authentication required") },
    { ngx_string("DENIED"),
      ngx_string("requested access to the resource is denied") },
    { ngx_string("UNSUPPORTED"),
      ngx_string("the operation is unsupported") },
    { ngx_string("TOOMANYREQUESTS"),
      ngx_string("too many requests") },
    { ngx_string("TAG_INVALID"),
      ngx_string("manifest tag did not match URI") },
    { ngx_string("RANGE_INVALID"),
      ngx_string("invalid content range") },
    { ngx_string("PAGINATION_NUMBER_INVALID"),
      ngx_string("invalid number of results requested") },
    { ngx_string("UNAVAILABLE"),
      ngx_string("service unavailable") },
    { ngx_string("NOT_FOUND"),
      ngx_string("no such API endpoint") },
    { ngx_string("UNKNOWN"),
      ngx_string("unknown error") }
};


static ngx_str_t  ngx_http_oci_api_version = ngx_string("registry/2.0");


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
        != NGX_OK)
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
    size_t               len;
    u_char              *body, *p;
    ngx_http_oci_err_t  *e;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    e = &ngx_http_oci_errors[err];

    len = sizeof("{\"errors\":[{\"code\":\"\",\"message\":\"\","
                 "\"detail\":null}]}") - 1
          + e->code.len + e->message.len;

    if (detail != NULL) {
        len += ngx_http_oci_json_escape_len(detail->data, detail->len);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"errors\":[{\"code\":\"%V\",\"message\":\"%V\","
                    "\"detail\":", &e->code, &e->message);

    if (detail != NULL) {
        *p++ = '"';
        p = ngx_http_oci_json_escape(p, detail->data, detail->len);
        *p++ = '"';

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, "}]}", 3);

    /* headers of an earlier attempt must not leak into the error */
    r->headers_out.location = NULL;

    return ngx_http_oci_send_json(r, status, body, p - body);
}


/*
 * Escapes into the body of a JSON string.  Bytes outside printable ASCII
 * become \u00XX: client input need not be valid UTF-8, the output must be.
 */

size_t
ngx_http_oci_json_escape_len(u_char *src, size_t len)
{
    size_t  n;

    for (n = 0; len; len--, src++) {
        if (*src == '"' || *src == '\\') {
            n += 2;

        } else if (*src < 0x20 || *src >= 0x7f) {
            n += sizeof("\\u00XX") - 1;

        } else {
            n++;
        }
    }

    return n;
}


u_char *
ngx_http_oci_json_escape(u_char *dst, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    for ( /* void */ ; len; len--, src++) {
        if (*src == '"' || *src == '\\') {
            *dst++ = '\\';
            *dst++ = *src;

        } else if (*src < 0x20 || *src >= 0x7f) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];

        } else {
            *dst++ = *src;
        }
    }

    return dst;
}
