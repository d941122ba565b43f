
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_grammar.h"


/*
 * Parsers for everything a client puts in the URI.  They only look at
 * bytes: no request, no I/O, no allocation, so a fuzzer can drive them.
 * Nothing reaches Redis or the file system before passing them.
 */


#define ngx_http_oci_alnum(c)                                                 \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9'))


static ngx_int_t ngx_http_oci_str_eq(u_char *p, size_t len, char *s);
static ngx_int_t ngx_http_oci_upload_id_valid(u_char *p, size_t len);


/*
 * <name>: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)
 * [a-z0-9]+)*)*, at most 255 bytes.  Since a component can neither start
 * nor end with a separator, "." and ".." are impossible.
 */

ngx_int_t
ngx_http_oci_name_valid(u_char *p, size_t len)
{
    u_char  *last;
    size_t   underscores;

    if (len == 0 || len > NGX_HTTP_OCI_MAX_NAME) {
        return NGX_DECLINED;
    }

    last = p + len;

    for ( ;; ) {

        /* a component: alnum runs joined by separators */

        if (p == last || !ngx_http_oci_alnum(*p)) {
            return NGX_DECLINED;
        }

        for ( ;; ) {
            while (p < last && ngx_http_oci_alnum(*p)) {
                p++;
            }

            if (p == last) {
                return NGX_OK;
            }

            if (*p == '/') {
                p++;
                break;
            }

            if (*p == '.') {
                p++;

            } else if (*p == '_') {
                underscores = 0;

                while (p < last && *p == '_') {
                    underscores++;
                    p++;
                }

                if (underscores > 2) {
                    return NGX_DECLINED;
                }

            } else if (*p == '-') {
                while (p < last && *p == '-') {
                    p++;
                }

            } else {
                return NGX_DECLINED;
            }

            if (p == last || !ngx_http_oci_alnum(*p)) {
                return NGX_DECLINED;
            }
        }
    }
}


/* <tag>: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */

ngx_int_t
ngx_http_oci_tag_valid(u_char *p, size_t len)
{
    size_t  i;
    u_char  c;

    if (len == 0 || len > NGX_HTTP_OCI_MAX_TAG) {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_')
        {
            continue;
        }

        if (i > 0 && (c == '.' || c == '-')) {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * <digest>: "sha256:" 64 or "sha512:" 128 lowercase hex digits.  Returns
 * NGX_DECLINED for a malformed digest and NGX_ABORT for a well-formed one
 * with an algorithm we do not support; both are 400 DIGEST_INVALID, only
 * the detail differs.
 */

ngx_int_t
ngx_http_oci_digest_parse(u_char *p, size_t len, ngx_http_oci_digest_t *d)
{
    u_char  *colon, *last, c;
    size_t   alen, hlen, i;

    last = p + len;

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL || colon == p || colon + 1 == last) {
        return NGX_DECLINED;
    }

    alen = colon - p;
    hlen = last - colon - 1;

    /* the spec's general grammar, then our two algorithms */

    for (i = 0; i < alen; i++) {
        c = p[i];

        if (ngx_http_oci_alnum(c)) {
            continue;
        }

        if ((c == '+' || c == '.' || c == '_' || c == '-')
            && i > 0 && i + 1 < alen && ngx_http_oci_alnum(p[i + 1]))
        {
            continue;
        }

        return NGX_DECLINED;
    }

    for (i = 0; i < hlen; i++) {
        c = colon[1 + i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '=' || c == '_' || c == '-')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    if (ngx_http_oci_str_eq(p, alen, "sha256") == NGX_OK) {
        if (hlen != 64) {
            return NGX_DECLINED;
        }

    } else if (ngx_http_oci_str_eq(p, alen, "sha512") == NGX_OK) {
        if (hlen != 128) {
            return NGX_DECLINED;
        }

    } else {
        return NGX_ABORT;
    }

    for (i = 0; i < hlen; i++) {
        c = colon[1 + i];

        if (!((c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'))) {
            return NGX_DECLINED;
        }
    }

    d->algorithm.data = p;
    d->algorithm.len = alen;
    d->hex.data = colon + 1;
    d->hex.len = hlen;
    d->text.data = p;
    d->text.len = len;

    return NGX_OK;
}


/*
 * Splits "/v2/..." into a route.  Names contain slashes, so the path is
 * read from its end: the last one or two components say which endpoint it
 * is, everything before them is the name.  Returns NGX_OK, NGX_DECLINED
 * for a path that is no API endpoint (404), or NGX_ERROR with *err set
 * for a malformed name, reference or digest (400 or 404).
 */

ngx_int_t
ngx_http_oci_route_parse(ngx_str_t *uri, ngx_http_oci_route_t *rt,
    ngx_http_oci_err_e *err)
{
    u_char     *p, *last, *tail, *kw;
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   name;

    ngx_memzero(rt, sizeof(ngx_http_oci_route_t));

    p = uri->data;
    last = p + uri->len;

    if (uri->len < 3 || ngx_strncmp(p, "/v2", 3) != 0) {
        return NGX_DECLINED;
    }

    p += 3;

    if (p == last || (p + 1 == last && *p == '/')) {
        rt->type = NGX_HTTP_OCI_ROUTE_BASE;
        return NGX_OK;
    }

    if (*p != '/') {
        return NGX_DECLINED;
    }

    p++;

    if (ngx_http_oci_str_eq(p, last - p, "_catalog") == NGX_OK) {
        rt->type = NGX_HTTP_OCI_ROUTE_CATALOG;
        return NGX_OK;
    }

    if (ngx_http_oci_str_eq(p, last - p, "_gc") == NGX_OK) {
        rt->type = NGX_HTTP_OCI_ROUTE_GC;
        return NGX_OK;
    }

    if (ngx_http_oci_str_eq(p, last - p, "_gc/run") == NGX_OK) {
        rt->type = NGX_HTTP_OCI_ROUTE_GC_RUN;
        return NGX_OK;
    }

    /* tail: after the last slash; kw: the component before it */

    for (tail = last; tail > p && tail[-1] != '/'; tail--) {
        /* void */
    }

    if (tail == p) {
        return NGX_DECLINED;
    }

    for (kw = tail - 1; kw > p && kw[-1] != '/'; kw--) {
        /* void */
    }

    if (kw == p) {
        return NGX_DECLINED;
    }

    len = (tail - 1) - kw;

    name.data = p;
    name.len = (kw - 1) - p;

    if (ngx_http_oci_str_eq(kw, len, "manifests") == NGX_OK) {
        rt->type = NGX_HTTP_OCI_ROUTE_MANIFEST;

    } else if (ngx_http_oci_str_eq(kw, len, "referrers") == NGX_OK) {
        rt->type = NGX_HTTP_OCI_ROUTE_REFERRERS;

    } else if (ngx_http_oci_str_eq(kw, len, "tags") == NGX_OK
               && ngx_http_oci_str_eq(tail, last - tail, "list") == NGX_OK)
    {
        rt->type = NGX_HTTP_OCI_ROUTE_TAGS;

    } else if (ngx_http_oci_str_eq(kw, len, "_lifecycle") == NGX_OK) {

        /* "_" cannot start a name's component: no repository is hidden */

        if (ngx_http_oci_str_eq(tail, last - tail, "policy") == NGX_OK) {
            rt->type = NGX_HTTP_OCI_ROUTE_LIFECYCLE_POLICY;

        } else if (ngx_http_oci_str_eq(tail, last - tail, "preview")
                   == NGX_OK)
        {
            rt->type = NGX_HTTP_OCI_ROUTE_LIFECYCLE_PREVIEW;

        } else if (ngx_http_oci_str_eq(tail, last - tail, "run") == NGX_OK) {
            rt->type = NGX_HTTP_OCI_ROUTE_LIFECYCLE_RUN;

        } else {
            return NGX_DECLINED;
        }

    } else if (ngx_http_oci_str_eq(kw, len, "_gc") == NGX_OK
               && ngx_http_oci_str_eq(tail, last - tail, "usage") == NGX_OK)
    {
        rt->type = NGX_HTTP_OCI_ROUTE_GC_USAGE;

    } else if (ngx_http_oci_str_eq(kw, len, "blobs") == NGX_OK) {

        if (ngx_http_oci_str_eq(tail, last - tail, "uploads") == NGX_OK) {
            rt->type = NGX_HTTP_OCI_ROUTE_UPLOAD_START;

        } else {
            rt->type = NGX_HTTP_OCI_ROUTE_BLOB;
        }

    } else if (ngx_http_oci_str_eq(kw, len, "uploads") == NGX_OK
               && name.len > 6
               && ngx_strncmp(name.data + name.len - 6, "/blobs", 6) == 0)
    {
        name.len -= 6;
        rt->type = (tail == last) ? NGX_HTTP_OCI_ROUTE_UPLOAD_START
                                  : NGX_HTTP_OCI_ROUTE_UPLOAD;

    } else {
        return NGX_DECLINED;
    }

    if (ngx_http_oci_name_valid(name.data, name.len) != NGX_OK) {
        *err = NGX_HTTP_OCI_ERR_NAME_INVALID;
        return NGX_ERROR;
    }

    rt->name = name;
    rt->reference.data = tail;
    rt->reference.len = last - tail;

    switch (rt->type) {

    case NGX_HTTP_OCI_ROUTE_MANIFEST:

        if (ngx_strlchr(tail, last, ':') == NULL) {
            if (ngx_http_oci_tag_valid(tail, last - tail) != NGX_OK) {
                *err = NGX_HTTP_OCI_ERR_TAG_INVALID;
                return NGX_ERROR;
            }

            return NGX_OK;
        }

        rt->by_digest = 1;

        /* fall through */

    case NGX_HTTP_OCI_ROUTE_BLOB:
    case NGX_HTTP_OCI_ROUTE_REFERRERS:

        rc = ngx_http_oci_digest_parse(tail, last - tail, &rt->digest);
        if (rc != NGX_OK) {
            *err = NGX_HTTP_OCI_ERR_DIGEST_INVALID;
            return NGX_ERROR;
        }

        rt->by_digest = 1;
        return NGX_OK;

    case NGX_HTTP_OCI_ROUTE_UPLOAD:

        if (ngx_http_oci_upload_id_valid(tail, last - tail) != NGX_OK) {
            *err = NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN;
            return NGX_ERROR;
        }

        return NGX_OK;

    default:
        rt->reference.len = 0;
        return NGX_OK;
    }
}


/* the methods each endpoint answers, as NGX_HTTP_* bits */

ngx_uint_t
ngx_http_oci_route_methods(ngx_http_oci_route_e type)
{
    switch (type) {

    case NGX_HTTP_OCI_ROUTE_MANIFEST:
        return NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT|NGX_HTTP_DELETE;

    case NGX_HTTP_OCI_ROUTE_BLOB:
        return NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE;

    case NGX_HTTP_OCI_ROUTE_UPLOAD_START:
        return NGX_HTTP_POST;

    case NGX_HTTP_OCI_ROUTE_UPLOAD:
        return NGX_HTTP_GET|NGX_HTTP_PATCH|NGX_HTTP_PUT|NGX_HTTP_DELETE;

    case NGX_HTTP_OCI_ROUTE_LIFECYCLE_POLICY:
        return NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT|NGX_HTTP_DELETE;

    case NGX_HTTP_OCI_ROUTE_LIFECYCLE_PREVIEW:
    case NGX_HTTP_OCI_ROUTE_LIFECYCLE_RUN:
    case NGX_HTTP_OCI_ROUTE_GC_RUN:
        return NGX_HTTP_POST;

    default:
        return NGX_HTTP_GET|NGX_HTTP_HEAD;
    }
}


/*
 * The next "name=value" argument with this name, for arguments that may
 * repeat (tag=a&tag=b).  *pos starts as NULL.  The value is returned as
 * sent, not percent-decoded: callers validate it against a grammar that
 * has no '%'.
 */

ngx_int_t
ngx_http_oci_arg_next(ngx_str_t *args, u_char **pos, char *name,
    ngx_str_t *value)
{
    u_char  *p, *last, *amp;
    size_t   len;

    len = ngx_strlen(name);
    last = args->data + args->len;
    p = (*pos == NULL) ? args->data : *pos;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if ((size_t) (amp - p) > len && p[len] == '='
            && ngx_strncmp(p, name, len) == 0)
        {
            value->data = p + len + 1;
            value->len = amp - value->data;
            *pos = (amp < last) ? amp + 1 : last;
            return NGX_OK;
        }

        p = amp + 1;
    }

    *pos = last;

    return NGX_DECLINED;
}


/*
 * Content-Range of a chunk: "<start>-<end>", inclusive, as the spec
 * defines it (not RFC 9110's "bytes a-b/len", though its "bytes " unit is
 * tolerated since some clients send it).
 */

ngx_int_t
ngx_http_oci_content_range_parse(u_char *p, size_t len, off_t *start,
    off_t *end)
{
    u_char  *last, *dash;

    last = p + len;

    if (len > 6 && ngx_strncmp(p, "bytes ", 6) == 0) {
        p += 6;
    }

    dash = ngx_strlchr(p, last, '-');
    if (dash == NULL || dash == p || dash + 1 == last
        || (size_t) (dash - p) > NGX_OFF_T_LEN
        || (size_t) (last - dash - 1) > NGX_OFF_T_LEN)
    {
        return NGX_ERROR;
    }

    *start = ngx_atoof(p, dash - p);
    *end = ngx_atoof(dash + 1, last - dash - 1);

    /*
     * end + 1 (the length, the next offset) must fit an off_t: checked
     * here, before anyone does the arithmetic
     */

    if (*start == NGX_ERROR || *end == NGX_ERROR || *end < *start
        || *end == NGX_MAX_OFF_T_VALUE)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* upload ids are ours: a UUID, lowercase hex with four dashes */

static ngx_int_t
ngx_http_oci_upload_id_valid(u_char *p, size_t len)
{
    size_t  i;

    if (len != NGX_HTTP_OCI_UPLOAD_ID_LEN) {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-') {
                return NGX_DECLINED;
            }

            continue;
        }

        if (!((p[i] >= 'a' && p[i] <= 'f') || (p[i] >= '0' && p[i] <= '9')))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_str_eq(u_char *p, size_t len, char *s)
{
    size_t  n;

    n = ngx_strlen(s);

    if (len == n && ngx_strncmp(p, s, n) == 0) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}
