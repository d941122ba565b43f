
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_mirror.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_blobs.h"


/*
 * The filters our mirror subrequests' answers go through before any
 * other: they keep the answer's headers and either collect its body into
 * memory (manifests, tokens, errors) or, for a blob, hash and write it
 * to the sink while it goes on to the client, holding back the last byte
 * until the bytes are verified.  Other requests pass untouched.
 */


static ngx_int_t ngx_http_oci_fetch_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_fetch_stream_header(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
static ngx_int_t ngx_http_oci_fetch_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_oci_fetch_collect(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f, u_char *p, size_t len);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_oci_fetch_filters(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_oci_fetch_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_oci_fetch_body_filter;

    return NGX_OK;
}


/* the headers of our subrequest's answer: kept, not sent */

static ngx_int_t
ngx_http_oci_fetch_header_filter(ngx_http_request_t *r)
{
    ngx_str_t             *dst;
    ngx_uint_t             i;
    ngx_list_part_t       *part;
    ngx_table_elt_t       *h;
    ngx_http_oci_fetch_t  *f;

    if (r == r->main) {
        return ngx_http_next_header_filter(r);
    }

    f = ngx_http_get_module_ctx(r, ngx_http_oci_mirror_module);
    if (f == NULL) {
        return ngx_http_next_header_filter(r);
    }

    f->status = r->headers_out.status;
    f->length = r->headers_out.content_length_n;

    if (ngx_http_oci_set_str(r, &f->content_type,
                             r->headers_out.content_type.data,
                             r->headers_out.content_type.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_out.headers.part;
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

        if (h[i].hash == 0) {
            continue;
        }

        dst = NULL;

        switch (h[i].key.len) {
        case sizeof("Docker-Content-Digest") - 1:
            if (ngx_strncasecmp(h[i].key.data,
                                (u_char *) "Docker-Content-Digest",
                                h[i].key.len) == 0)
            {
                dst = &f->digest;
            }
            break;
        case sizeof("WWW-Authenticate") - 1:
            if (ngx_strncasecmp(h[i].key.data, (u_char *) "WWW-Authenticate",
                                h[i].key.len) == 0
                && f->challenge.len == 0)
            {
                dst = &f->challenge;
            }
            break;
        case sizeof("Retry-After") - 1:
            if (ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                                h[i].key.len) == 0)
            {
                dst = &f->retry_after;
            }
            break;
        case sizeof("Content-Range") - 1:
            if (ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Range",
                                h[i].key.len) == 0)
            {
                dst = &f->content_range;
            }
            break;
        case sizeof("Location") - 1:
            if (ngx_strncasecmp(h[i].key.data, (u_char *) "Location",
                                h[i].key.len) == 0)
            {
                dst = &f->location;
            }
            break;
        }

        if (dst && ngx_http_oci_set_str(r, dst, h[i].value.data,
                                        h[i].value.len)
                   != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (f->location.len == 0 && r->headers_out.location
        && ngx_http_oci_set_str(r, &f->location,
                                r->headers_out.location->value.data,
                                r->headers_out.location->value.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (f->mode == NGX_HTTP_OCI_FETCH_STREAM
        && (f->status == NGX_HTTP_OK
            || (f->status == NGX_HTTP_PARTIAL_CONTENT && f->range.len))
        && f->length >= 0)
    {
        return ngx_http_oci_fetch_stream_header(r, f);
    }

    return NGX_OK;
}


/* a blob's answer begins: the client gets our header now */

static ngx_int_t
ngx_http_oci_fetch_stream_header(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f)
{
    ngx_http_request_t  *mr;

    mr = r->main;

    /* f->content_range is a copy in the pool the answer lives in */

    if (f->status == NGX_HTTP_PARTIAL_CONTENT
        && (f->content_range.len == 0
            || ngx_http_oci_add_header(mr, "Content-Range", &f->content_range)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ngx_http_oci_blob_headers(mr, f->status, &f->ctx->digest, f->length)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    f->streaming = 1;

    if (ngx_http_send_header(mr) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_fetch_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                 len;
    ngx_buf_t             *b;
    ngx_chain_t           *cl;
    ngx_http_oci_fetch_t  *f;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    f = ngx_http_get_module_ctx(r, ngx_http_oci_mirror_module);
    if (f == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: mirror answer buffered to a file: "
                          "the mirror location needs "
                          "\"proxy_buffering off\"");
            f->failed = 1;
            b->file_pos = b->file_last;
        }

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        len = b->last - b->pos;

        if (!f->streaming) {
            if (f->mode == NGX_HTTP_OCI_FETCH_COLLECT
                && ngx_http_oci_fetch_collect(r, f, b->pos, len) != NGX_OK)
            {
                return NGX_ERROR;
            }

            b->pos = b->last;
            continue;
        }

        f->received += len;

        if (f->received > f->length) {
            /* more than it said: not what was asked */
            f->failed = 1;
        }

        if (f->up && !f->failed && len
            && ngx_http_oci_sink_write(&f->up->sink, b->pos, len) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, f->up->sink.err,
                          "oci registry: writing the mirrored blob %V "
                          "failed: not stored", &f->ctx->digest);
            f->failed = 1;
        }

        if (f->up && len && f->received == f->length) {
            /* the last byte waits for the digest */
            f->held = *(b->last - 1);
            b->last--;
        }
    }

    if (!f->streaming) {
        return NGX_OK;
    }

    return ngx_http_next_body_filter(r, in);
}


static ngx_int_t
ngx_http_oci_fetch_collect(ngx_http_request_t *r, ngx_http_oci_fetch_t *f,
    u_char *p, size_t len)
{
    u_char  *mem;
    size_t   size;

    if (f->too_big || len == 0) {
        return NGX_OK;
    }

    if (f->mem_len + len > f->mem_max) {
        f->too_big = 1;
        return NGX_OK;
    }

    if (f->mem_len + len > f->mem_cap) {
        /* what the answer said it holds, else doubled as it comes */
        size = (f->length > 0 && (size_t) f->length <= f->mem_max)
               ? (size_t) f->length : 4096;

        while (size < f->mem_len + len) {
            size *= 2;
        }

        if (size > f->mem_max) {
            size = f->mem_max;
        }

        mem = ngx_pnalloc(r->main->pool, size);
        if (mem == NULL) {
            return NGX_ERROR;
        }

        if (f->mem_len) {
            ngx_memcpy(mem, f->mem, f->mem_len);
        }

        f->mem = mem;
        f->mem_cap = size;
    }

    ngx_memcpy(f->mem + f->mem_len, p, len);
    f->mem_len += len;

    return NGX_OK;
}
