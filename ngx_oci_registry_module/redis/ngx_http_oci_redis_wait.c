
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * "wait": the answer to a write waits until WAIT says that enough
 * replicas have it.
 */


/*
 * A request whose write waits for WAIT: the write's reply (a copy), in
 * the request's pool, on its connection's list of those the WAIT in
 * flight counts, or of those the next one will
 */
typedef struct {
    ngx_queue_t                     queue;
    ngx_http_request_t             *request;
    ngx_http_oci_redis_handler_pt   handler;
    ngx_http_oci_redis_fail_pt      fail;
    redisReply                     *held;
    unsigned                        linked:1;
} ngx_http_oci_redis_waiter_t;


static void ngx_http_oci_redis_wait_send(ngx_http_oci_redis_t *redis);
static void ngx_http_oci_redis_wait_done(void *data, redisReply *reply);
static void ngx_http_oci_redis_waiter_cleanup(void *data);


/*
 * WAIT counts the replicas that have every write its connection sent
 * before it: one WAIT answers for all the writes whose replies came
 * before it was sent.  So a connection has at most one WAIT in flight;
 * the writes answered meanwhile wait for the next, which is sent when it
 * returns.  Replicas that do not come cost one wait_timeout a batch,
 * not one a write, and the commands behind a WAIT wait for one.
 */

void
ngx_http_oci_redis_wait(ngx_http_request_t *r, ngx_http_oci_redis_t *redis,
    redisReply *reply, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_oci_redis_waiter_t  *w;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_redis_waiter_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (w == NULL || cln == NULL) {
        fail(r);
        return;
    }

    w->held = ngx_http_oci_redis_copy(r->pool, reply);
    if (w->held == NULL) {
        fail(r);
        return;
    }

    w->request = r;
    w->handler = handler;
    w->fail = fail;
    w->linked = 1;

    ngx_queue_insert_tail(&redis->queued, &w->queue);

    cln->handler = ngx_http_oci_redis_waiter_cleanup;
    cln->data = w;

    if (!redis->wait_sent) {
        ngx_http_oci_redis_wait_send(redis);
    }
}


/* WAIT for the writes queued; those it cannot be sent for fail */

static void
ngx_http_oci_redis_wait_send(ngx_http_oci_redis_t *redis)
{
    ngx_http_oci_redis_conf_t     *rcf;
    ngx_http_oci_redis_pending_t  *pending;

    if (ngx_queue_empty(&redis->queued)) {
        return;
    }

    rcf = redis->conf;

    ngx_queue_add(&redis->waiting, &redis->queued);
    ngx_queue_init(&redis->queued);

    pending = NULL;

    if (redis->ac != NULL) {
        pending = ngx_alloc(sizeof(ngx_http_oci_redis_pending_t),
                            redis->log);
    }

    if (pending != NULL) {
        ngx_memzero(pending, sizeof(ngx_http_oci_redis_pending_t));

        pending->cb = ngx_http_oci_redis_wait_done;
        pending->data = redis;
        pending->script = NGX_HTTP_OCI_REDIS_PLAIN;
        pending->timer.log = redis->log;

        /* the queue frees it if hiredis does not take it */

        if (ngx_http_oci_redis_queue(redis, pending, 3, rcf->wait_argv,
                                     rcf->wait_lens)
            == NGX_OK)
        {
            redis->wait_sent = 1;
            return;
        }
    }

    ngx_http_oci_redis_wait_done(redis, NULL);
}


static void
ngx_http_oci_redis_wait_done(void *data, redisReply *reply)
{
    ngx_http_oci_redis_t  *redis = data;

    ngx_uint_t                    ok;
    ngx_queue_t                  *q;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_oci_redis_conf_t    *rcf;
    ngx_http_oci_redis_waiter_t  *w;

    rcf = redis->conf;
    redis->wait_sent = 0;

    ok = (reply != NULL && reply->type == REDIS_REPLY_INTEGER
          && reply->integer >= (long long) rcf->wait);

    while (!ngx_queue_empty(&redis->waiting)) {
        q = ngx_queue_head(&redis->waiting);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_oci_redis_waiter_t, queue);
        w->linked = 0;

        r = w->request;
        c = r->connection;

        ngx_http_set_log_request(c->log, r);

        /* the handler may end the request, and w with its pool */

        if (ok) {
            w->handler(r, w->held);

        } else {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "oci registry: redis \"%V\": %L of %ui replicas "
                          "acknowledged the write within %M ms",
                          &rcf->addr,
                          (int64_t) (reply != NULL
                                     && reply->type == REDIS_REPLY_INTEGER
                                     ? reply->integer : -1),
                          rcf->wait, rcf->wait_timeout);

            w->fail(r);
        }

        ngx_http_run_posted_requests(c);
    }

    if (!redis->exiting) {
        ngx_http_oci_redis_wait_send(redis);
    }
}


/* a request that goes while its write waits leaves the list */

static void
ngx_http_oci_redis_waiter_cleanup(void *data)
{
    ngx_http_oci_redis_waiter_t  *w = data;

    if (w->linked) {
        ngx_queue_remove(&w->queue);
        w->linked = 0;
    }
}


/*
 * Background work's WAIT (the collector's unlinks, before their records
 * let go of them): on the connection of the master of "key", after what
 * it sent there.  cb gets WAIT's reply, or NULL.
 */

ngx_int_t
ngx_http_oci_redis_call_wait(ngx_http_oci_redis_conf_t *rcf, ngx_str_t *key,
    ngx_http_oci_redis_callback_pt cb, void *data)
{
    size_t                 lens[2];
    const char            *argv[2];
    ngx_http_oci_redis_t  *redis;

    /* routed as a command on the key would be */

    argv[0] = "EXISTS";
    lens[0] = sizeof("EXISTS") - 1;
    argv[1] = (const char *) key->data;
    lens[1] = key->len;

    redis = ngx_http_oci_redis_route(rcf, 2, argv, lens);

    if (redis == NULL || redis->ac == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_oci_redis_send_at(redis, cb, data,
                                      NGX_HTTP_OCI_REDIS_PLAIN, 3,
                                      rcf->wait_argv, rcf->wait_lens);
}


/* hiredis frees its reply when the callback returns: a copy is held */

redisReply *
ngx_http_oci_redis_copy(ngx_pool_t *pool, redisReply *reply)
{
    size_t       i;
    redisReply  *copy;

    copy = ngx_pcalloc(pool, sizeof(redisReply));
    if (copy == NULL) {
        return NULL;
    }

    copy->type = reply->type;
    copy->integer = reply->integer;

    if (reply->str != NULL) {
        copy->str = ngx_pnalloc(pool, reply->len + 1);
        if (copy->str == NULL) {
            return NULL;
        }

        ngx_memcpy(copy->str, reply->str, reply->len);
        copy->str[reply->len] = '\0';
        copy->len = reply->len;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return copy;
    }

    copy->element = ngx_palloc(pool, reply->elements * sizeof(redisReply *));
    if (copy->element == NULL) {
        return NULL;
    }

    for (i = 0; i < reply->elements; i++) {
        copy->element[i] = ngx_http_oci_redis_copy(pool, reply->element[i]);
        if (copy->element[i] == NULL) {
            return NULL;
        }
    }

    copy->elements = reply->elements;

    return copy;
}
