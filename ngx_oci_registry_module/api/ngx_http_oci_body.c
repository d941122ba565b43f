
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_body.h"
#include "ngx_http_oci_store.h"
#include "ngx_http_oci_reply.h"


/*
 * Request bodies of uploads and manifests go through our request body
 * filter, at the head of nginx's chain: blob bytes into the request's
 * sink (hashed and written to the upload file as they arrive), manifest
 * bytes into one buffer up to the size limit.  The buffers are consumed
 * here and never reach nginx's save filter, so no client_body temp file
 * is written and memory stays at one client_body_buffer_size per upload,
 * whatever the blob size.  Only the final empty buffer is passed on: the
 * save filter must see last_buf to mark the body complete.  This works
 * the same for HTTP/1.x (Content-Length or chunked) and HTTP/2.
 */


static ngx_int_t ngx_http_oci_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_oci_body_take(ngx_http_request_t *r,
    ngx_http_oci_body_t *body, u_char *p, size_t len);


/*
 * nginx keeps the next filter in a static variable by convention; it is
 * set once at configuration time and is the same for every cycle
 */
static ngx_http_request_body_filter_pt  ngx_http_oci_next_body_filter;


ngx_int_t
ngx_http_oci_body_init(ngx_conf_t *cf)
{
    ngx_http_oci_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_oci_body_filter;

    return NGX_OK;
}


void
ngx_http_oci_body_to_sink(ngx_http_oci_ctx_t *ctx, ngx_http_oci_sink_t *sink)
{
    ctx->body.mode = NGX_HTTP_OCI_BODY_SINK;
    ctx->body.sink = sink;
}


void
ngx_http_oci_body_to_memory(ngx_http_oci_ctx_t *ctx, u_char *mem, size_t max)
{
    ctx->body.mode = NGX_HTTP_OCI_BODY_MEMORY;
    ctx->body.mem = mem;
    ctx->body.mem_len = 0;
    ctx->body.mem_max = max;
}


ngx_int_t
ngx_http_oci_body_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt done)
{
    ngx_int_t  rc;

    r->request_body_in_file_only = 0;
    r->request_body_in_single_buf = 0;

    rc = ngx_http_read_client_request_body(r, done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_oci_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                len;
    ngx_buf_t            *b;
    ngx_uint_t            last;
    ngx_chain_t          *cl;
    ngx_http_oci_ctx_t   *ctx;
    ngx_http_oci_body_t  *body;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ctx == NULL || ctx->body.mode == NGX_HTTP_OCI_BODY_NONE) {
        return ngx_http_oci_next_body_filter(r, in);
    }

    body = &ctx->body;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        len = b->last - b->pos;

        /*
         * After an error the rest of the body is read and dropped, so
         * that the client gets our JSON answer rather than a reset; an
         * error returned from here would end in nginx's HTML error page.
         */

        if (len && body->status == 0) {
            body->status = ngx_http_oci_body_take(r, body, b->pos, len);

            /* what was dropped after an error is not counted */

            if (body->status == 0) {
                body->received += len;
            }
        }

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return ngx_http_oci_next_body_filter(r, NULL);
    }

    body->eof = ngx_calloc_buf(r->pool);
    if (body->eof == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->eof->last_buf = 1;
    body->eof_link.buf = body->eof;
    body->eof_link.next = NULL;

    return ngx_http_oci_next_body_filter(r, &body->eof_link);
}


/*
 * 0, or the status to answer: 413 for more than the memory limit or an
 * upload whose end no longer fits an off_t, 416 for more bytes than
 * Content-Range announced, 507 for a full disk (the upload can be
 * resumed from its last acknowledged offset once there is room), 500 for
 * other write errors.
 */

static ngx_uint_t
ngx_http_oci_body_take(ngx_http_request_t *r, ngx_http_oci_body_t *body,
    u_char *p, size_t len)
{
    if (body->mode == NGX_HTTP_OCI_BODY_MEMORY) {
        if (len > body->mem_max - body->mem_len) {
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        ngx_memcpy(body->mem + body->mem_len, p, len);
        body->mem_len += len;

        return 0;
    }

    switch (ngx_http_oci_sink_write(body->sink, p, len)) {

    case NGX_OK:
        return 0;

    case NGX_DECLINED:
        return NGX_HTTP_RANGE_NOT_SATISFIABLE;

    case NGX_ABORT:
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;

    default:
        return ngx_http_oci_errno_status(r->connection->log,
                                         body->sink->err, "writing upload",
                                         body->sink->name);
    }
}


/*
 * Writes a body that was read into memory (an eager PUT that turned out
 * not to be the whole blob) through the sink, as if it were arriving now
 */

void
ngx_http_oci_body_replay(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    ngx_http_oci_body_t  *body;

    body = &ctx->body;

    body->status = ngx_http_oci_body_take(r, body, body->mem, body->mem_len);
    body->received = body->status ? 0 : body->mem_len;
}
