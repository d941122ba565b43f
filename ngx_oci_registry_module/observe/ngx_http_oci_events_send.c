
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_oci_observe.h"


/*
 * One POST of an envelope to an endpoint: a subrequest to its internal
 * location (proxy_pass and the operator's proxy_* directives), as
 * auth_request makes one, only the main request is ours: a request on a
 * connection without a socket, made for this POST and freed after it.
 * The subrequest is header only: its status is all that is read.
 *
 * What the request needs to carry a subrequest: its server's
 * configuration, variables, header lists, a request body (the envelope,
 * with its Content-Length), the client connection's events marked
 * active and tcp_nodelay settled (the upstream would register the ones
 * and set the other on a socket there is none of).
 */


typedef struct {
    ngx_http_request_t         *request;
    ngx_http_oci_sent_pt        done;
    void                       *data;
    ngx_uint_t                  status;
    ngx_event_t                 finish;      /* posted: the end, unwound */
} ngx_http_oci_post_t;


static ngx_http_request_t *ngx_http_oci_fake_request(
    ngx_http_oci_endpoint_t *ep, ngx_log_t *log);
static ngx_int_t ngx_http_oci_post_headers(ngx_http_request_t *r,
    ngx_http_oci_endpoint_t *ep, ngx_str_t *body);
static ngx_int_t ngx_http_oci_post_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static void ngx_http_oci_post_parent(ngx_http_request_t *r);
static void ngx_http_oci_post_finish(ngx_event_t *ev);
static void ngx_http_oci_fake_free(ngx_http_request_t *r);


static ngx_str_t  ngx_http_oci_events_type =
    ngx_string("application/vnd.docker.distribution.events.v2+json");


ngx_int_t
ngx_http_oci_events_post(ngx_http_oci_endpoint_t *ep, ngx_str_t *body,
    ngx_log_t *log, ngx_http_oci_sent_pt done, void *data)
{
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_request_t          *r, *sr;
    ngx_http_oci_post_t         *post;
    ngx_http_post_subrequest_t  *ps;

    r = ngx_http_oci_fake_request(ep, log);
    if (r == NULL) {
        return NGX_ERROR;
    }

    post = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_post_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    r->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));

    if (post == NULL || ps == NULL || b == NULL || cl == NULL
        || r->request_body == NULL
        || ngx_http_oci_post_headers(r, ep, body) != NGX_OK)
    {
        ngx_http_oci_fake_free(r);
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->headers_in.content_length_n = body->len;

    post->request = r;
    post->done = done;
    post->data = data;
    post->finish.handler = ngx_http_oci_post_finish;
    post->finish.data = post;
    post->finish.log = r->connection->log;

    ps->handler = ngx_http_oci_post_done;
    ps->data = post;

    r->write_event_handler = ngx_http_oci_post_parent;
    ngx_http_set_ctx(r, post, ngx_http_oci_observe_module);

    if (ngx_http_subrequest(r, &ep->uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        ngx_http_oci_fake_free(r);
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");
    sr->header_only = 1;

    ngx_http_run_posted_requests(r->connection);

    return NGX_OK;
}


static ngx_http_request_t *
ngx_http_oci_fake_request(ngx_http_oci_endpoint_t *ep, ngx_log_t *log)
{
    ngx_log_t                  *clog;
    ngx_pool_t                 *pool;
    ngx_http_log_ctx_t         *lctx;
    ngx_time_t                 *tp;
    ngx_connection_t           *c, *saved;
    ngx_http_request_t         *r;
    ngx_http_connection_t      *hc;
    ngx_http_core_main_conf_t  *cmcf;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    /* a connection from the free list: ngx_get_connection() wants an fd */

    saved = ngx_cycle->files ? ngx_cycle->files[0] : NULL;
    c = ngx_get_connection(0, log);

    if (ngx_cycle->files) {
        ngx_cycle->files[0] = saved;
    }

    if (c == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    c->fd = (ngx_socket_t) -1;
    c->pool = pool;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->read->active = 1;
    c->write->active = 1;
    c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;
    c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;

    clog = ngx_palloc(pool, sizeof(ngx_log_t));
    lctx = ngx_pcalloc(pool, sizeof(ngx_http_log_ctx_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    hc = ngx_pcalloc(pool, sizeof(ngx_http_connection_t));

    if (clog == NULL || lctx == NULL || r == NULL || hc == NULL) {
        goto failed;
    }

    /* nginx sets the request being run into the log's context */

    lctx->connection = c;
    lctx->request = r;
    lctx->current_request = r;

    *clog = *log;
    clog->connection = c->number;
    clog->data = lctx;
    clog->handler = NULL;
    clog->action = "posting events";
    c->log = clog;
    c->read->log = clog;
    c->write->log = clog;
    c->data = r;

    hc->conf_ctx = ep->conf_ctx;

    r->pool = pool;
    r->connection = c;
    r->http_connection = hc;
    r->signature = NGX_HTTP_MODULE;
    r->main = r;
    r->count = 1;
    r->main_conf = ep->conf_ctx->main_conf;
    r->srv_conf = ep->conf_ctx->srv_conf;
    r->loc_conf = ep->conf_ctx->loc_conf;

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));

    if (r->ctx == NULL || r->variables == NULL
        || ngx_list_init(&r->headers_in.headers, pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        goto failed;
    }

    r->method = NGX_HTTP_POST;
    ngx_str_set(&r->method_name, "POST");
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->http_protocol, "HTTP/1.1");
    r->uri = ep->uri;
    r->unparsed_uri = ep->uri;
    r->request_line = ep->uri;
    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;
    r->read_event_handler = ngx_http_block_reading;

    tp = ngx_timeofday();
    r->start_sec = tp->sec;
    r->start_msec = tp->msec;

    return r;

failed:

    c->pool = NULL;
    c->fd = 0;
    saved = ngx_cycle->files ? ngx_cycle->files[0] : NULL;
    ngx_free_connection(c);

    if (ngx_cycle->files) {
        ngx_cycle->files[0] = saved;
    }

    c->fd = (ngx_socket_t) -1;
    ngx_destroy_pool(pool);

    return NULL;
}


/*
 * The headers the subrequest carries to the endpoint (proxy passes the
 * request's headers on): the envelope's type and, with a secret, its
 * HMAC-SHA256 as "X-Registry-Signature-256: sha256=<hex>"
 */

static ngx_int_t
ngx_http_oci_post_headers(ngx_http_request_t *r,
    ngx_http_oci_endpoint_t *ep, ngx_str_t *body)
{
    u_char           *p;
    unsigned int      len;
    ngx_table_elt_t  *h;
    u_char            mac[EVP_MAX_MD_SIZE];

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Type");
    h->value = ngx_http_oci_events_type;
    h->lowcase_key = (u_char *) "content-type";
    r->headers_in.content_type = h;

    if (ep->secret.len == 0) {
        return NGX_OK;
    }

    if (HMAC(EVP_sha256(), ep->secret.data, (int) ep->secret.len,
             body->data, body->len, mac, &len)
        == NULL)
    {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_in.headers);
    p = ngx_pnalloc(r->pool, sizeof("sha256=") - 1 + 2 * len);

    if (h == NULL || p == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Registry-Signature-256");
    h->lowcase_key = (u_char *) "x-registry-signature-256";
    h->value.data = p;
    p = ngx_cpymem(p, "sha256=", sizeof("sha256=") - 1);
    h->value.len = ngx_hex_dump(p, mac, len) - h->value.data;

    return NGX_OK;
}


/* the subrequest is done: its status, or the error it ended with */

static ngx_int_t
ngx_http_oci_post_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_oci_post_t  *post = data;

    post->status = r->headers_out.status;

    if (post->status == 0) {
        post->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                       : NGX_HTTP_BAD_GATEWAY;
    }

    return rc;
}


/*
 * The main request is run again once its subrequest is done: the rest is
 * done from a posted event, not from under nginx's finalization, which
 * still holds the requests
 */

static void
ngx_http_oci_post_parent(ngx_http_request_t *r)
{
    ngx_http_oci_post_t  *post;

    post = ngx_http_get_module_ctx(r, ngx_http_oci_observe_module);

    if (post->status == 0 || post->finish.posted) {
        return;
    }

    ngx_post_event(&post->finish, &ngx_posted_events);
}


static void
ngx_http_oci_post_finish(ngx_event_t *ev)
{
    ngx_http_oci_post_t  *post = ev->data;

    void                 *data;
    ngx_uint_t            status;
    ngx_http_oci_sent_pt  done;

    done = post->done;
    data = post->data;
    status = post->status;

    ngx_http_oci_fake_free(post->request);

    done(data, status);
}


static void
ngx_http_oci_fake_free(ngx_http_request_t *r)
{
    ngx_pool_t          *pool;
    ngx_connection_t    *c, *saved;
    ngx_http_cleanup_t  *cln;

    c = r->connection;
    pool = r->pool;

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler) {
            cln->handler(cln->data);
        }
    }

    r->cleanup = NULL;
    c->destroyed = 1;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;
    c->pool = NULL;

    ngx_destroy_pool(pool);

    c->fd = 0;
    saved = ngx_cycle->files ? ngx_cycle->files[0] : NULL;
    ngx_free_connection(c);

    if (ngx_cycle->files) {
        ngx_cycle->files[0] = saved;
    }

    c->fd = (ngx_socket_t) -1;
}
