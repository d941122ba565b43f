
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_events.h"
#include "ngx_http_oci_scripts.h"
#include "ngx_http_oci_uploads.h"


/*
 * An endpoint's delivery in the worker that has it, one step at a time:
 *
 *   read   EVENTS_READ: take or renew the lease, then a batch: what was
 *          given out and not acknowledged (a retry, or a dead holder's),
 *          else what is new.  Nothing, or another holder: again after
 *          "poll".  A holder that is a process of ours that died (a
 *          worker killed, nginx killed with -9) loses the lease at once,
 *          as upload locks do, not when it expires.
 *   post   the envelope of the events the filters let through, to the
 *          endpoint; a failure: read the same batch again after a
 *          backoff (doubling from poll up to backoff_max).  The lease is
 *          renewed while the POST runs.
 *   ack    EVENTS_ACK: the batch is done, the stream trimmed to what
 *          some endpoint still needs; then read at once.
 *
 * At least once: a batch is acknowledged only after its 2xx, so a crash
 * in between sends it again.  In order: one holder per endpoint reads
 * the stream in order and posts one batch at a time.
 */


struct ngx_http_oci_delivery_s {
    ngx_http_oci_endpoint_t    *ep;
    ngx_log_t                  *log;
    ngx_str_t                   identity;
    ngx_str_t                   holder;      /* "<identity>:<pid>:events" */
    ngx_str_t                   stale;       /* a dead holder's */
    ngx_str_t                   batch_text;
    ngx_str_t                   lease_text;
    ngx_event_t                 timer;       /* the next read */
    ngx_event_t                 renew;       /* the lease, while posting */
    ngx_pool_t                 *pool;        /* of the step in flight */
    ngx_http_oci_args_t         ack;
    ngx_msec_t                  backoff;
    ngx_uint_t                  posted;      /* events in the POST */
    unsigned                    exiting:1;
};


static void ngx_http_oci_delivery_read(ngx_event_t *ev);
static void ngx_http_oci_delivery_batch(void *data, redisReply *reply);
static ngx_int_t ngx_http_oci_delivery_ids(ngx_http_oci_delivery_t *d,
    redisReply *entries);
static void ngx_http_oci_delivery_sent(void *data, ngx_uint_t status);
static void ngx_http_oci_delivery_ack(ngx_http_oci_delivery_t *d);
static void ngx_http_oci_delivery_acked(void *data, redisReply *reply);
static void ngx_http_oci_delivery_renew(ngx_event_t *ev);
static void ngx_http_oci_delivery_next(ngx_http_oci_delivery_t *d,
    ngx_msec_t after);


ngx_int_t
ngx_http_oci_events_start(ngx_cycle_t *cycle, ngx_http_oci_endpoint_t *ep,
    ngx_str_t *identity)
{
    u_char                   *p;
    ngx_http_oci_delivery_t  *d;

    d = ngx_pcalloc(cycle->pool, sizeof(ngx_http_oci_delivery_t));
    p = ngx_pnalloc(cycle->pool, 2 * NGX_INT_T_LEN + identity->len
                                 + sizeof(":events") + NGX_INT64_LEN
                                 + NGX_HTTP_OCI_HOLDER_MAX);

    if (d == NULL || p == NULL) {
        return NGX_ERROR;
    }

    d->ep = ep;
    d->log = cycle->log;
    d->identity = *identity;
    d->backoff = ep->poll;

    d->holder.data = p;
    d->holder.len = ngx_sprintf(p, "%V:%P:events", identity, ngx_pid) - p;
    p += d->holder.len;

    d->stale.data = p;
    p += NGX_HTTP_OCI_HOLDER_MAX;

    d->batch_text.data = p;
    d->batch_text.len = ngx_sprintf(p, "%ui", ep->batch) - p;
    p += d->batch_text.len;
    d->lease_text.data = p;
    d->lease_text.len = ngx_sprintf(p, "%M", ep->lease) - p;

    d->timer.handler = ngx_http_oci_delivery_read;
    d->timer.data = d;
    d->timer.log = cycle->log;
    d->timer.cancelable = 1;

    d->renew.handler = ngx_http_oci_delivery_renew;
    d->renew.data = d;
    d->renew.log = cycle->log;
    d->renew.cancelable = 1;

    ep->delivery = d;

    /* the connection to Redis is being made: a moment */
    ngx_add_timer(&d->timer, 100);

    return NGX_OK;
}


void
ngx_http_oci_events_stop(ngx_http_oci_endpoint_t *ep)
{
    ngx_http_oci_delivery_t  *d;

    d = ep->delivery;
    if (d == NULL) {
        return;
    }

    d->exiting = 1;

    if (d->timer.timer_set) {
        ngx_del_timer(&d->timer);
    }

    if (d->renew.timer_set) {
        ngx_del_timer(&d->renew);
    }
}


static void
ngx_http_oci_delivery_read(ngx_event_t *ev)
{
    ngx_http_oci_delivery_t  *d = ev->data;

    ngx_http_oci_args_t       a;
    ngx_http_oci_endpoint_t  *ep;

    ep = d->ep;

    if (d->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    d->pool = ngx_create_pool(4096, d->log);
    if (d->pool == NULL) {
        ngx_http_oci_delivery_next(d, ep->poll);
        return;
    }

    if (ngx_http_oci_args_init(&a, d->pool, 7) != NGX_OK) {
        ngx_http_oci_delivery_next(d, ep->poll);
        return;
    }

    ngx_http_oci_args_str(&a, &ep->stream);
    ngx_http_oci_args_str(&a, &ep->lease_key);
    ngx_http_oci_args_str(&a, &ep->name);
    ngx_http_oci_args_str(&a, &d->holder);
    ngx_http_oci_args_str(&a, &d->batch_text);
    ngx_http_oci_args_str(&a, &d->lease_text);
    ngx_http_oci_args_str(&a, &d->stale);

    if (ngx_http_oci_redis_call_script(ep->redis, ngx_http_oci_delivery_batch,
                                       d, NGX_HTTP_OCI_SCRIPT_EVENTS_READ, 2,
                                       &a)
        != NGX_OK)
    {
        ngx_http_oci_delivery_next(d, ep->poll);
    }
}


/* {"STATE"[, entries]} or {"LOCKED", holder} */

static void
ngx_http_oci_delivery_batch(void *data, redisReply *reply)
{
    ngx_http_oci_delivery_t  *d = data;

    ngx_str_t                 body;
    redisReply               *entries;
    ngx_http_oci_endpoint_t  *ep;

    ep = d->ep;
    d->stale.len = 0;

    if (reply != NULL
        && ngx_http_oci_lease_dead(&d->identity, reply, &d->stale) == NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, d->log, 0,
                      "oci registry: events for \"%V\": taking the "
                      "lease of \"%V\", which is gone", &ep->name,
                      &d->stale);
        ngx_http_oci_delivery_next(d, 1);
        return;
    }

    if (reply == NULL
        || ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_STATE)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, d->log, 0,
                          "oci registry: events for \"%V\": %*s", &ep->name,
                          (size_t) reply->len, reply->str);
        }

        /* Redis away, or another node's worker has the endpoint */
        ngx_http_oci_delivery_next(d, ep->poll);
        return;
    }

    if (reply->elements < 2 || reply->element[1]->elements == 0) {
        ngx_http_oci_delivery_next(d, ep->poll);
        return;
    }

    entries = reply->element[1];

    if (ngx_http_oci_delivery_ids(d, entries) != NGX_OK
        || ngx_http_oci_events_envelope(d->pool, ep, entries, &body,
                                        &d->posted)
           != NGX_OK)
    {
        ngx_http_oci_delivery_next(d, ep->poll);
        return;
    }

    if (ep->stats) {
        (void) ngx_atomic_fetch_add(&ep->stats->filtered,
                                    entries->elements - d->posted);
    }

    if (d->posted == 0) {
        ngx_http_oci_delivery_ack(d);
        return;
    }

    if (ngx_http_oci_events_post(ep, &body, d->log,
                                 ngx_http_oci_delivery_sent, d)
        != NGX_OK)
    {
        ngx_http_oci_delivery_sent(d, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_add_timer(&d->renew, ep->lease / 3);
}


/* the EVENTS_ACK arguments: the stream, its counter, the group, the ids */

static ngx_int_t
ngx_http_oci_delivery_ids(ngx_http_oci_delivery_t *d, redisReply *entries)
{
    size_t        i;
    u_char       *id;
    redisReply   *e;

    if (ngx_http_oci_args_init(&d->ack, d->pool, 3 + entries->elements)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&d->ack, &d->ep->stream);
    ngx_http_oci_args_str(&d->ack, &d->ep->dropped);
    ngx_http_oci_args_str(&d->ack, &d->ep->name);

    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            return NGX_ERROR;
        }

        /* the reply is freed after this callback: the ids are copied */

        id = ngx_pnalloc(d->pool, e->element[0]->len);
        if (id == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(id, e->element[0]->str, e->element[0]->len);
        ngx_http_oci_args_add(&d->ack, id, e->element[0]->len);
    }

    return d->ack.failed ? NGX_ERROR : NGX_OK;
}


static void
ngx_http_oci_delivery_sent(void *data, ngx_uint_t status)
{
    ngx_http_oci_delivery_t  *d = data;

    ngx_http_oci_endpoint_t  *ep;

    ep = d->ep;

    if (d->renew.timer_set) {
        ngx_del_timer(&d->renew);
    }

    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        if (ep->stats) {
            (void) ngx_atomic_fetch_add(&ep->stats->delivered, d->posted);
        }

        d->backoff = ep->poll;
        ngx_http_oci_delivery_ack(d);
        return;
    }

    if (ep->stats) {
        (void) ngx_atomic_fetch_add(&ep->stats->failures, 1);
    }

    ngx_log_error(NGX_LOG_WARN, d->log, 0,
                  "oci registry: events for \"%V\": %V answered %ui, "
                  "again in %M ms", &ep->name, &ep->uri, status, d->backoff);

    ngx_http_oci_delivery_next(d, d->backoff);

    d->backoff = ngx_min(d->backoff * 2, ep->backoff_max);
}


static void
ngx_http_oci_delivery_ack(ngx_http_oci_delivery_t *d)
{
    if (d->exiting
        || ngx_http_oci_redis_call_script(d->ep->redis,
                                          ngx_http_oci_delivery_acked, d,
                                          NGX_HTTP_OCI_SCRIPT_EVENTS_ACK, 2,
                                          &d->ack)
           != NGX_OK)
    {
        /* not acknowledged: the batch is read and sent again */
        ngx_http_oci_delivery_next(d, d->ep->poll);
    }
}


/* {length, dropped}: what the stream holds, what it could not */

static void
ngx_http_oci_delivery_acked(void *data, redisReply *reply)
{
    ngx_http_oci_delivery_t  *d = data;

    ngx_http_oci_endpoint_t  *ep;

    ep = d->ep;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_oci_delivery_next(d, ep->poll);
        return;
    }

    if (ep->stats) {
        ep->stats->backlog = (ngx_atomic_uint_t) reply->element[0]->integer;
        ep->stats->dropped = (ngx_atomic_uint_t) reply->element[1]->integer;
    }

    /* more may be waiting: at once */
    ngx_http_oci_delivery_next(d, 1);
}


/* a POST may take longer than the lease: it is kept while it runs */

static void
ngx_http_oci_delivery_renew(ngx_event_t *ev)
{
    ngx_http_oci_delivery_t  *d = ev->data;

    size_t               lens[6];
    const char          *argv[6];
    ngx_str_t           *script;
    ngx_http_oci_args_t  a;

    script = &ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_RENEW];

    ngx_http_oci_args_init_fixed(&a, argv, lens, 6);

    ngx_http_oci_args_lit(&a, "EVAL");
    ngx_http_oci_args_str(&a, script);
    ngx_http_oci_args_lit(&a, "1");
    ngx_http_oci_args_str(&a, &d->ep->lease_key);
    ngx_http_oci_args_str(&a, &d->holder);
    ngx_http_oci_args_str(&a, &d->lease_text);

    ngx_http_oci_redis_fire(d->ep->redis, &a);

    ngx_add_timer(ev, d->ep->lease / 3);
}


/* the step is over: its pool goes, the next read is due "after" ms */

static void
ngx_http_oci_delivery_next(ngx_http_oci_delivery_t *d, ngx_msec_t after)
{
    if (d->pool) {
        ngx_destroy_pool(d->pool);
        d->pool = NULL;
    }

    if (d->exiting) {
        return;
    }

    ngx_add_timer(&d->timer, after);
}
