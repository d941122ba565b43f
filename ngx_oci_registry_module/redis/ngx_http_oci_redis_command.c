
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * Commands on a worker's connection: for a request (its handler runs
 * with the reply, or the server's failure handler when there is none),
 * scripts by EVALSHA, and background ones; on a cluster, the redirections
 * they follow.  With "wait", a write's reply is held until WAIT says the
 * replicas have it (ngx_http_oci_redis_wait.c).  The fire-and-forget
 * commands and those kept while Redis is away are in
 * ngx_http_oci_redis_kept.c.
 */


/* redirections a command follows, and the pause before a TRYAGAIN's */
#define NGX_HTTP_OCI_REDIS_REDIRECTS_MAX  16
#define NGX_HTTP_OCI_REDIS_RETRY_PAUSE    50


static ngx_int_t ngx_http_oci_redis_plain(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail, ngx_uint_t kind,
    ngx_http_oci_args_t *args);
static ngx_int_t ngx_http_oci_redis_evalsha(ngx_http_oci_redis_conf_t *rcf,
    ngx_uint_t script, ngx_uint_t nkeys, ngx_http_oci_args_t *args);
static ngx_int_t ngx_http_oci_redis_send(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail, ngx_uint_t script, int argc,
    const char **argv, size_t *argvlen, ngx_http_oci_args_t *undo);
static ngx_int_t ngx_http_oci_redis_send_bg(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_redis_callback_pt cb, void *data, ngx_uint_t script,
    int argc, const char **argv, size_t *argvlen);
static ngx_int_t ngx_http_oci_redis_cluster_reply(redisReply *reply,
    ngx_http_oci_redis_pending_t *pending);
static void ngx_http_oci_redis_retry(ngx_event_t *ev);
static uint64_t ngx_http_oci_redis_now(void);
static void ngx_http_oci_redis_count(ngx_http_oci_redis_conf_t *rcf,
    uint64_t sent, redisReply *reply);
static void ngx_http_oci_redis_request_cleanup(void *data);
static void ngx_http_oci_redis_timeout(ngx_event_t *ev);
static void ngx_http_oci_redis_reply(redisAsyncContext *ac, void *rep,
    void *data);
static void ngx_http_oci_redis_answer(ngx_http_request_t *r,
    ngx_http_oci_redis_t *redis, redisReply *reply,
    ngx_http_oci_redis_pending_t *pending);


ngx_int_t
ngx_http_oci_redis_command(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_args_t *args)
{
    return ngx_http_oci_redis_plain(r, rcf, handler, rcf->fail,
                                    NGX_HTTP_OCI_REDIS_PLAIN, args);
}


ngx_int_t
ngx_http_oci_redis_write(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_args_t *args)
{
    return ngx_http_oci_redis_plain(r, rcf, handler, rcf->fail,
                                    NGX_HTTP_OCI_REDIS_PLAIN_WRITE, args);
}


ngx_int_t
ngx_http_oci_redis_probe(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail, ngx_http_oci_args_t *args)
{
    return ngx_http_oci_redis_plain(r, rcf, handler, fail,
                                    NGX_HTTP_OCI_REDIS_PLAIN, args);
}


static ngx_int_t
ngx_http_oci_redis_plain(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail, ngx_uint_t kind,
    ngx_http_oci_args_t *args)
{
    if (args->failed) {
        return NGX_ERROR;
    }

    return ngx_http_oci_redis_send(r, rcf, handler, fail, kind, args->n,
                                   args->argv, args->lens, NULL);
}


ngx_int_t
ngx_http_oci_redis_script(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, ngx_uint_t nkeys, ngx_http_oci_args_t *args)
{
    return ngx_http_oci_redis_script_undo(r, rcf, handler, script, nkeys,
                                          args, NULL);
}


/* a script for a request, by EVALSHA (ngx_http_oci_redis_evalsha) */

ngx_int_t
ngx_http_oci_redis_script_undo(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, ngx_uint_t nkeys, ngx_http_oci_args_t *args,
    ngx_http_oci_args_t *undo)
{
    if (undo != NULL && undo->failed) {
        return NGX_ERROR;
    }

    if (ngx_http_oci_redis_evalsha(rcf, script, nkeys, args) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_oci_redis_send(r, rcf, handler, rcf->fail, script,
                                   args->n + NGX_HTTP_OCI_ARGS_HEAD,
                                   args->argv - NGX_HTTP_OCI_ARGS_HEAD,
                                   args->lens - NGX_HTTP_OCI_ARGS_HEAD,
                                   undo);
}


/*
 * EVALSHA <sha> <nkeys> into the head slots the argument builder keeps
 * before the arguments, so nothing is copied
 */

static ngx_int_t
ngx_http_oci_redis_evalsha(ngx_http_oci_redis_conf_t *rcf,
    ngx_uint_t script, ngx_uint_t nkeys, ngx_http_oci_args_t *args)
{
    u_char       *p;
    size_t       *lens;
    const char  **argv;

    if (rcf->conn == NULL || args->failed || args->pool == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(args->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    argv = args->argv - NGX_HTTP_OCI_ARGS_HEAD;
    lens = args->lens - NGX_HTTP_OCI_ARGS_HEAD;

    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = (char *) rcf->conn->sha[script];
    lens[1] = 40;
    argv[2] = (char *) p;
    lens[2] = ngx_sprintf(p, "%ui", nkeys) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_redis_send(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail, ngx_uint_t script, int argc,
    const char **argv, size_t *argvlen, ngx_http_oci_args_t *undo)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_oci_redis_t          *redis;
    ngx_http_oci_redis_pending_t  *pending;

    redis = ngx_http_oci_redis_route(rcf, argc, argv, argvlen);

    /*
     * While a connection is being made (a worker just started, or Redis
     * just came back) commands queue behind AUTH and SELECT; they fail
     * with it if it fails.  Only without any connection is it 503 now.
     */

    if (redis == NULL || redis->ac == NULL) {
        if (redis != NULL && redis->cluster != NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: redis cluster: the master %s:%d "
                          "is not connected", redis->server.host,
                          redis->server.port);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: redis \"%V\" is not connected",
                          &rcf->addr);
        }

        if (rcf->stats) {
            (void) ngx_atomic_fetch_add(
                &rcf->stats->errors[NGX_HTTP_OCI_REDIS_ERR_UNAVAILABLE], 1);
        }

        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    pending = ngx_alloc(sizeof(ngx_http_oci_redis_pending_t),
                        r->connection->log);
    if (pending == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(pending, sizeof(ngx_http_oci_redis_pending_t));

    pending->request = r;
    pending->handler = handler;
    pending->fail = fail;
    pending->cleanup = cln;
    pending->script = script;
    pending->timer.log = r->connection->log;

    if (undo != NULL) {
        pending->undo = ngx_http_oci_redis_format(redis, undo);
        if (pending->undo == NULL) {
            ngx_free(pending);
            return NGX_ERROR;
        }
    }

    if (ngx_http_oci_redis_queue(redis, pending, argc, argv, argvlen)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_oci_redis_request_cleanup;
    cln->data = pending;

    return NGX_OK;
}


ngx_int_t
ngx_http_oci_redis_call(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_redis_callback_pt cb, void *data, ngx_http_oci_args_t *args)
{
    if (args->failed) {
        return NGX_ERROR;
    }

    return ngx_http_oci_redis_send_bg(rcf, cb, data,
                                      NGX_HTTP_OCI_REDIS_PLAIN, args->n,
                                      args->argv, args->lens);
}


/* the arguments must stay valid until cb runs: NOSCRIPT sends them again */

ngx_int_t
ngx_http_oci_redis_call_script(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_redis_callback_pt cb, void *data,
    ngx_http_oci_script_e script, ngx_uint_t nkeys, ngx_http_oci_args_t *args)
{
    if (ngx_http_oci_redis_evalsha(rcf, script, nkeys, args) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_oci_redis_send_bg(rcf, cb, data, script,
                                      args->n + NGX_HTTP_OCI_ARGS_HEAD,
                                      args->argv - NGX_HTTP_OCI_ARGS_HEAD,
                                      args->lens - NGX_HTTP_OCI_ARGS_HEAD);
}


static ngx_int_t
ngx_http_oci_redis_send_bg(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_redis_callback_pt cb, void *data, ngx_uint_t script,
    int argc, const char **argv, size_t *argvlen)
{
    ngx_http_oci_redis_t  *redis;

    redis = ngx_http_oci_redis_route(rcf, argc, argv, argvlen);

    if (redis == NULL || redis->ac == NULL) {
        if (rcf->stats) {
            (void) ngx_atomic_fetch_add(
                &rcf->stats->errors[NGX_HTTP_OCI_REDIS_ERR_UNAVAILABLE], 1);
        }

        return NGX_ERROR;
    }

    return ngx_http_oci_redis_send_at(redis, cb, data, script, argc, argv,
                                      argvlen);
}


/* background work's command on a connection that is up */

ngx_int_t
ngx_http_oci_redis_send_at(ngx_http_oci_redis_t *redis,
    ngx_http_oci_redis_callback_pt cb, void *data, ngx_uint_t script,
    int argc, const char **argv, size_t *argvlen)
{
    ngx_http_oci_redis_pending_t  *pending;

    pending = ngx_alloc(sizeof(ngx_http_oci_redis_pending_t), redis->log);
    if (pending == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(pending, sizeof(ngx_http_oci_redis_pending_t));

    pending->cb = cb;
    pending->data = data;
    pending->script = script;
    pending->timer.log = redis->log;

    return ngx_http_oci_redis_queue(redis, pending, argc, argv, argvlen);
}


/* hands a command to hiredis, under the server's timeout */

ngx_int_t
ngx_http_oci_redis_queue(ngx_http_oci_redis_t *redis,
    ngx_http_oci_redis_pending_t *pending, int argc, const char **argv,
    size_t *argvlen)
{
    ngx_http_oci_redis_conf_t  *rcf;

    rcf = redis->conf;

    pending->redis = redis;
    pending->timer.handler = ngx_http_oci_redis_timeout;
    pending->timer.data = pending;
    pending->argc = argc;
    pending->argv = argv;
    pending->argvlen = argvlen;
    pending->sent = rcf->stats ? ngx_http_oci_redis_now() : 0;

    if (redisAsyncCommandArgv(redis->ac, ngx_http_oci_redis_reply, pending,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        if (pending->undo) {
            redisFreeCommand(pending->undo->cmd);
            ngx_free(pending->undo);
        }

        ngx_free(pending);
        return NGX_ERROR;
    }

    ngx_add_timer(&pending->timer, rcf->timeout);

    return NGX_OK;
}


/*
 * The request is going away while its command is in flight: keep the
 * pending record for hiredis, but forget the request.
 */

static void
ngx_http_oci_redis_request_cleanup(void *data)
{
    ngx_http_oci_redis_pending_t  *pending = data;

    pending->request = NULL;
    pending->cleanup = NULL;

    if (pending->timer.timer_set) {
        ngx_del_timer(&pending->timer);
    }

    /* waiting to be sent again, it is in no queue of hiredis */

    if (pending->retry.timer_set) {
        ngx_del_timer(&pending->retry);

        if (pending->undo) {
            redisFreeCommand(pending->undo->cmd);
            ngx_free(pending->undo);
        }

        ngx_free(pending);
    }
}


/*
 * Replies arrive in order, so a command that is not answered in time
 * means the connection is stuck: drop it, which fails every command in
 * flight (this one included) with a NULL reply, and reconnect.
 */

static void
ngx_http_oci_redis_timeout(ngx_event_t *ev)
{
    ngx_http_oci_redis_pending_t  *pending = ev->data;

    ngx_http_oci_redis_t  *redis;

    redis = pending->redis;

    ngx_log_error(NGX_LOG_ERR, ev->log, NGX_ETIMEDOUT,
                  "oci registry: redis \"%V\" timed out",
                  &redis->conf->addr);

    if (redis->conf->stats) {
        (void) ngx_atomic_fetch_add(
            &redis->conf->stats->errors[NGX_HTTP_OCI_REDIS_ERR_TIMEOUT], 1);
    }

    ngx_http_oci_redis_drop(redis);
}


static void
ngx_http_oci_redis_reply(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply                    *reply = rep;
    ngx_http_oci_redis_pending_t  *pending = data;

    ngx_connection_t               *c;
    void                           *cbdata;
    ngx_http_request_t             *r;
    ngx_http_oci_redis_t           *redis;
    ngx_http_oci_redis_callback_pt  cb;

    r = pending->request;
    redis = pending->redis;
    cb = pending->cb;
    cbdata = pending->data;

    /*
     * Redis restarted or flushed its script cache: send the script itself
     * once; its SHA is then known again for everybody
     */

    if ((r != NULL || cb != NULL)
        && reply != NULL && reply->type == REDIS_REPLY_ERROR
        && pending->script < NGX_HTTP_OCI_SCRIPT_N
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
        && ngx_strcmp(pending->argv[0], "EVALSHA") == 0)
    {
        pending->argv[0] = "EVAL";
        pending->argvlen[0] = 4;
        pending->argv[1] = (char *) ngx_http_oci_scripts[pending->script].data;
        pending->argvlen[1] = ngx_http_oci_scripts[pending->script].len;

        if (redisAsyncCommandArgv(ac, ngx_http_oci_redis_reply, pending,
                                  pending->argc, pending->argv,
                                  pending->argvlen)
            == REDIS_OK)
        {
            return;
        }
    }

    if (redis->cluster != NULL && (r != NULL || cb != NULL)
        && reply != NULL && reply->type == REDIS_REPLY_ERROR
        && !redis->exiting
        && ngx_http_oci_redis_cluster_reply(reply, pending) == NGX_OK)
    {
        return;
    }

    if (pending->timer.timer_set) {
        ngx_del_timer(&pending->timer);
    }

    if (pending->cleanup) {
        pending->cleanup->handler = NULL;
    }

    if (redis->conf->stats && !redis->exiting) {
        ngx_http_oci_redis_count(redis->conf, pending->sent, reply);
    }

    if (pending->undo) {
        if (reply == NULL) {
            /* it may have run: undone after the reconnect */
            ngx_http_oci_redis_defer(pending->undo);

        } else {
            redisFreeCommand(pending->undo->cmd);
            ngx_free(pending->undo);
        }
    }

    if (redis->exiting) {
        ngx_free(pending);
        return;
    }

    /*
     * A master the sentinels named that is a replica now: the command
     * failed, and the sentinels are asked again (the connection's
     * cleanup); the request is answered 503 as for a lost reply
     */

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && redis->conf->sentinels != NULL
        && reply->len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0)
    {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "oci registry: redis \"%V\": %s:%d is a replica now",
                      &redis->conf->addr, redis->server.host,
                      redis->server.port);

        ngx_http_oci_redis_drop(redis);
        reply = NULL;
    }

    /*
     * On a cluster a repository's script wrote what changes keys that are
     * no repository's to its outbox (KEYS[2] on): forwarded now
     */

    if (redis->cluster != NULL && reply != NULL
        && reply->type != REDIS_REPLY_ERROR
        && pending->script < NGX_HTTP_OCI_SCRIPT_N
        && ngx_http_oci_script_outbox[pending->script]
        && pending->argc > 3
        && ngx_atoi((u_char *) pending->argv[2], pending->argvlen[2])
           > (ngx_int_t) ngx_http_oci_script_outbox[pending->script])
    {
        ngx_http_oci_redis_outbox(redis->conf, (u_char *) pending->argv[3],
                                  pending->argvlen[3]);
    }

    if (cb != NULL) {
        ngx_free(pending);
        cb(cbdata, reply);
        return;
    }

    if (r == NULL) {
        ngx_free(pending);
        return;
    }

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_http_oci_redis_answer(r, redis, reply, pending);

    ngx_http_run_posted_requests(c);
}


/*
 * A cluster's error that is no answer: MOVED and ASK send the command to
 * the node named, TRYAGAIN (a slot half moved) and CLUSTERDOWN send it
 * again after a pause.  NGX_OK when the command goes on.
 */

static ngx_int_t
ngx_http_oci_redis_cluster_reply(redisReply *reply,
    ngx_http_oci_redis_pending_t *pending)
{
    ngx_uint_t             ask;
    ngx_http_oci_redis_t  *node;

    if (pending->redirects++ == NGX_HTTP_OCI_REDIS_REDIRECTS_MAX) {
        return NGX_DECLINED;
    }

    if ((reply->len >= 8 && ngx_strncmp(reply->str, "TRYAGAIN", 8) == 0)
        || (reply->len >= 11
            && ngx_strncmp(reply->str, "CLUSTERDOWN", 11) == 0))
    {
        ngx_log_error(NGX_LOG_INFO, pending->timer.log, 0,
                      "oci registry: redis cluster: %*s: sent again in "
                      "%M ms", ngx_min((size_t) reply->len, 64), reply->str,
                      (ngx_msec_t) NGX_HTTP_OCI_REDIS_RETRY_PAUSE);

        if (pending->timer.timer_set) {
            ngx_del_timer(&pending->timer);
        }

        pending->retry.handler = ngx_http_oci_redis_retry;
        pending->retry.data = pending;
        pending->retry.log = pending->timer.log;

        ngx_add_timer(&pending->retry, NGX_HTTP_OCI_REDIS_RETRY_PAUSE);

        return NGX_OK;
    }

    node = ngx_http_oci_redis_redirect(pending->redis->cluster, reply, &ask);

    if (node == NULL || node->ac == NULL) {
        return NGX_DECLINED;
    }

    if (ask && redisAsyncCommand(node->ac, NULL, NULL, "ASKING")
               != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(node->ac, ngx_http_oci_redis_reply, pending,
                              pending->argc, pending->argv,
                              pending->argvlen)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    /* a timeout now drops the connection the command waits on */

    pending->redis = node;

    return NGX_OK;
}


/* TRYAGAIN's pause is over: the command goes where the map says now */

static void
ngx_http_oci_redis_retry(ngx_event_t *ev)
{
    ngx_http_oci_redis_pending_t  *pending = ev->data;

    ngx_http_oci_redis_t  *node;

    node = ngx_http_oci_redis_route(pending->redis->conf, pending->argc,
                                    pending->argv, pending->argvlen);

    if (node != NULL && node->ac != NULL
        && redisAsyncCommandArgv(node->ac, ngx_http_oci_redis_reply, pending,
                                 pending->argc, pending->argv,
                                 pending->argvlen)
           == REDIS_OK)
    {
        pending->redis = node;
        ngx_add_timer(&pending->timer, node->conf->timeout);
        return;
    }

    /* as if its connection went: the caller gets no reply */

    ngx_http_oci_redis_reply(pending->redis->ac, NULL, pending);
}


/* the request's handler gets the reply, now or after WAIT; or it fails */

static void
ngx_http_oci_redis_answer(ngx_http_request_t *r, ngx_http_oci_redis_t *redis,
    redisReply *reply, ngx_http_oci_redis_pending_t *pending)
{
    ngx_uint_t                      waits;
    ngx_http_oci_redis_fail_pt      fail;
    ngx_http_oci_redis_handler_pt   handler;

    handler = pending->handler;
    fail = pending->fail;

    waits = redis->conf->wait
            && (pending->script == NGX_HTTP_OCI_REDIS_PLAIN_WRITE
                || (pending->script < NGX_HTTP_OCI_SCRIPT_N
                    && ngx_http_oci_script_writes[pending->script]));

    ngx_free(pending);

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oci registry: redis \"%V\" unavailable",
                      &redis->conf->addr);

        fail(r);
        return;
    }

    if (waits && reply->type != REDIS_REPLY_ERROR) {
        ngx_http_oci_redis_wait(r, redis, reply, handler, fail);
        return;
    }

    handler(r, reply);
}


/* a reply's latency, or the lack of one, into the shared counters */

static void
ngx_http_oci_redis_count(ngx_http_oci_redis_conf_t *rcf, uint64_t sent,
    redisReply *reply)
{
    uint64_t                     us;
    ngx_uint_t                   i;
    ngx_http_oci_redis_stats_t  *st;

    static const uint64_t  bounds[] = NGX_HTTP_OCI_REDIS_LATENCY_US;

    st = rcf->stats;

    if (reply == NULL) {
        (void) ngx_atomic_fetch_add(
            &st->errors[NGX_HTTP_OCI_REDIS_ERR_LOST], 1);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        (void) ngx_atomic_fetch_add(
            &st->errors[NGX_HTTP_OCI_REDIS_ERR_REPLY], 1);
    }

    us = ngx_http_oci_redis_now() - sent;

    for (i = 0; i < NGX_HTTP_OCI_REDIS_LATENCY_N; i++) {
        if (us <= bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&st->latency[i], 1);
    (void) ngx_atomic_fetch_add(&st->latency_us, (ngx_atomic_int_t) us);
}


/* microseconds of the monotonic clock: nginx's cached time has ms only */

static uint64_t
ngx_http_oci_redis_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
