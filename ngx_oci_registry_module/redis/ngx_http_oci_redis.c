
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * One hiredis async context per configured Redis server and worker,
 * driven by nginx's event loop: the connection, its events, its
 * reconnects.  hiredis owns the socket buffers and the reply parser;
 * nginx owns the file descriptor's events.  Commands are in
 * ngx_http_oci_redis_command.c; the design and its pitfalls are
 * described in docs/architecture.md.
 */


#define NGX_HTTP_OCI_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_OCI_REDIS_BACKOFF_MAX  1000


static void ngx_http_oci_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_oci_redis_read_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_write_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_add_write(void *data);
static void ngx_http_oci_redis_del_write(void *data);
static void ngx_http_oci_redis_cleanup(void *data);
static void ngx_http_oci_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oci_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oci_redis_setup_reply(redisAsyncContext *ac, void *rep,
    void *data);
static void ngx_http_oci_redis_role_reply(redisAsyncContext *ac, void *rep,
    void *data);
static void ngx_http_oci_redis_ready(ngx_http_oci_redis_t *redis);


ngx_int_t
ngx_http_oci_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_oci_redis_conf_t *rcf)
{
    ngx_http_oci_redis_t  *redis;

    if (rcf->cluster != NULL) {
        return ngx_http_oci_redis_cluster_init(cycle, rcf);
    }

    redis = ngx_http_oci_redis_new(cycle->pool, cycle->log, rcf);
    if (redis == NULL) {
        return NGX_ERROR;
    }

    redis->server = rcf->server;
    rcf->conn = redis;

    if (rcf->sentinels != NULL) {
        return ngx_http_oci_redis_sentinel_init(cycle, redis);
    }

    if (ngx_http_oci_redis_connect(redis) != NGX_OK) {
        ngx_http_oci_redis_schedule(redis);
    }

    return NGX_OK;
}


/* a connection's state, not connected: the caller sets its server */

ngx_http_oci_redis_t *
ngx_http_oci_redis_new(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_oci_redis_conf_t *rcf)
{
    u_char                 md[EVP_MAX_MD_SIZE];
    ngx_uint_t             i;
    unsigned int           mdlen;
    ngx_http_oci_redis_t  *redis;

    redis = ngx_pcalloc(pool, sizeof(ngx_http_oci_redis_t));
    if (redis == NULL) {
        return NULL;
    }

    redis->conf = rcf;
    redis->log = log;
    redis->backoff = NGX_HTTP_OCI_REDIS_BACKOFF_MIN;

    ngx_queue_init(&redis->waiting);
    ngx_queue_init(&redis->queued);

    redis->deferred = ngx_palloc(pool,
                                 NGX_HTTP_OCI_REDIS_DEFERRED_MAX
                                 * sizeof(ngx_http_oci_redis_deferred_t *));
    if (redis->deferred == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_OCI_SCRIPT_N; i++) {
        if (EVP_Digest(ngx_http_oci_scripts[i].data,
                       ngx_http_oci_scripts[i].len, md, &mdlen, EVP_sha1(),
                       NULL)
            != 1)
        {
            return NULL;
        }

        ngx_hex_dump(redis->sha[i], md, mdlen);
        redis->sha[i][40] = '\0';
    }

    /* both timers are cancelable: they must not delay a graceful exit */

    redis->reconnect.handler = ngx_http_oci_redis_reconnect_handler;
    redis->reconnect.data = redis;
    redis->reconnect.log = log;
    redis->reconnect.cancelable = 1;

    redis->connect_timer.handler = ngx_http_oci_redis_connect_timeout;
    redis->connect_timer.data = redis;
    redis->connect_timer.log = log;
    redis->connect_timer.cancelable = 1;

    return redis;
}


void
ngx_http_oci_redis_exit_process(ngx_http_oci_redis_conf_t *rcf)
{
    ngx_http_oci_redis_t  *redis;

    redis = rcf->conn;
    if (redis == NULL) {
        return;
    }

    if (redis->cluster != NULL) {
        ngx_http_oci_redis_cluster_exit(redis->cluster);
        return;
    }

    ngx_http_oci_redis_exit(redis);
}


/* a connection of a worker that exits: closed, its kept commands freed */

void
ngx_http_oci_redis_exit(ngx_http_oci_redis_t *redis)
{
    redis->exiting = 1;

    if (redis->reconnect.timer_set) {
        ngx_del_timer(&redis->reconnect);
    }

    ngx_http_oci_redis_drop(redis);

    if (redis->sentinel != NULL) {
        ngx_http_oci_redis_sentinel_exit(redis);
    }

    /* still not sent: the locks they would release expire instead */

    while (redis->ndeferred) {
        ngx_http_oci_redis_deferred_t  *d;

        d = redis->deferred[--redis->ndeferred];
        redisFreeCommand(d->cmd);
        ngx_free(d);
    }
}


ngx_int_t
ngx_http_oci_redis_connect(ngx_http_oci_redis_t *redis)
{
    int                         argc;
    const char                 *argv[2];
    size_t                      argvlen[2];
    u_char                      db[NGX_INT_T_LEN];
    ngx_connection_t           *c;
    redisAsyncContext          *ac;
    ngx_http_oci_redis_conf_t  *rcf;

    rcf = redis->conf;

    if (redis->server.host == NULL) {
        /* the sentinels have not named a master yet */
        return NGX_ERROR;
    }

    if (redis->server.unix_socket) {
        ac = redisAsyncConnectUnix((char *) redis->server.host);

    } else {
        ac = redisAsyncConnect((char *) redis->server.host,
                               redis->server.port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\": out of memory",
                      &rcf->addr);
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\" connect to %s:%d "
                      "failed: %s", &rcf->addr, redis->server.host,
                      redis->server.port, ac->errstr);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = redis;
    c->read->handler = ngx_http_oci_redis_read_handler;
    c->write->handler = ngx_http_oci_redis_write_handler;
    c->read->log = redis->log;
    c->write->log = redis->log;

    redis->ac = ac;
    redis->connection = c;
    redis->ready = 0;

    ac->data = redis;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_oci_redis_ev_add_read;
    ac->ev.delRead = ngx_http_oci_redis_ev_del_read;
    ac->ev.addWrite = ngx_http_oci_redis_add_write;
    ac->ev.delWrite = ngx_http_oci_redis_del_write;
    ac->ev.cleanup = ngx_http_oci_redis_cleanup;

    /* the events must be attached before this: it arms the write event */

    if (redisAsyncSetConnectCallback(ac, ngx_http_oci_redis_connected)
        != REDIS_OK
        || redisAsyncSetDisconnectCallback(ac,
                                      ngx_http_oci_redis_disconnected)
           != REDIS_OK)
    {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    /*
     * AUTH and SELECT are queued now and written once the socket connects;
     * the connection takes requests only after SELECT's reply
     */

    if (rcf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) rcf->password.data;
        argvlen[1] = rcf->password.len;

        if (redisAsyncCommandArgv(ac, ngx_http_oci_redis_setup_reply, NULL,
                                  2, argv, argvlen)
            != REDIS_OK)
        {
            redisAsyncFree(ac);
            return NGX_ERROR;
        }
    }

    argc = 2;
    argv[0] = "SELECT";
    argvlen[0] = 6;
    argv[1] = (char *) db;
    argvlen[1] = ngx_sprintf(db, "%i", rcf->db) - db;

    if (redisAsyncCommandArgv(ac, ngx_http_oci_redis_setup_reply, redis,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    /*
     * A master the sentinels named may have become a replica since (an
     * old master back after a failover): ROLE says, before any request's
     * command is written
     */

    if (rcf->sentinels != NULL) {
        argv[0] = "ROLE";
        argvlen[0] = 4;

        if (redisAsyncCommandArgv(ac, ngx_http_oci_redis_role_reply, redis,
                                  1, argv, argvlen)
            != REDIS_OK)
        {
            redisAsyncFree(ac);
            return NGX_ERROR;
        }
    }

    /*
     * Kept commands go right behind SELECT, before any request's: a lock
     * whose reply was lost is released before a retry asks for it.  The
     * old connection's commands, still in Redis's buffers, run first: the
     * new connection is accepted only after them.
     */

    ngx_http_oci_redis_send_deferred(redis);

    ngx_add_timer(&redis->connect_timer, rcf->connect_timeout);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "oci redis connecting to \"%V\" at %s:%d", &rcf->addr,
                   redis->server.host, redis->server.port);

    return NGX_OK;
}


void
ngx_http_oci_redis_schedule(ngx_http_oci_redis_t *redis)
{
    if (redis->exiting || redis->reconnect.timer_set || ngx_exiting
        || ngx_terminate || ngx_quit)
    {
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "oci redis reconnect to %s:%d in %M ms",
                   redis->server.host, redis->server.port, redis->backoff);

    ngx_add_timer(&redis->reconnect, redis->backoff);

    redis->backoff *= 2;
    if (redis->backoff > NGX_HTTP_OCI_REDIS_BACKOFF_MAX) {
        redis->backoff = NGX_HTTP_OCI_REDIS_BACKOFF_MAX;
    }
}


/*
 * Closes the connection: every command still in flight is answered by
 * hiredis with a NULL reply (503 for its request) and our cleanup hook
 * releases the nginx connection and schedules the reconnect.
 */

void
ngx_http_oci_redis_drop(ngx_http_oci_redis_t *redis)
{
    redisAsyncContext  *ac;

    ac = redis->ac;
    if (ac == NULL) {
        return;
    }

    redis->ready = 0;

    redisAsyncFree(ac);
}


/*
 * The sentinels named the master: connect to it now, leaving the old
 * master if it is another.  Named again while connected to it, nothing.
 */

void
ngx_http_oci_redis_move(ngx_http_oci_redis_t *redis, u_char *ip, size_t len,
    int port)
{
    if (redis->exiting) {
        return;
    }

    if (redis->server.host != NULL && redis->server.port == port
        && ngx_strlen(redis->server.host) == len
        && ngx_strncmp(redis->server.host, ip, len) == 0
        && redis->ac != NULL)
    {
        return;
    }

    ngx_memcpy(redis->host, ip, len);
    redis->host[len] = '\0';

    redis->server.host = redis->host;
    redis->server.port = port;
    redis->server.unix_socket = 0;

    /* its cleanup schedules a reconnect: this one comes first */

    ngx_http_oci_redis_drop(redis);

    if (redis->reconnect.timer_set) {
        ngx_del_timer(&redis->reconnect);
    }

    redis->backoff = NGX_HTTP_OCI_REDIS_BACKOFF_MIN;

    if (ngx_http_oci_redis_connect(redis) != NGX_OK) {
        ngx_http_oci_redis_schedule(redis);
    }
}


static void
ngx_http_oci_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_oci_redis_t  *redis = ev->data;

    if (redis->ac != NULL || redis->exiting) {
        return;
    }

    if (redis->conf->stats) {
        (void) ngx_atomic_fetch_add(&redis->conf->stats->reconnects, 1);
    }

    /* the master may have moved: the sentinels are asked, then it is */

    if (redis->sentinel != NULL) {
        ngx_http_oci_redis_sentinel_ask(redis);
        return;
    }

    if (ngx_http_oci_redis_connect(redis) != NGX_OK) {
        ngx_http_oci_redis_schedule(redis);
    }
}


static void
ngx_http_oci_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_oci_redis_t  *redis = ev->data;

    if (redis->ready) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, redis->log, NGX_ETIMEDOUT,
                  "oci registry: redis \"%V\" connect timed out",
                  &redis->conf->addr);

    ngx_http_oci_redis_drop(redis);
}


/*
 * The event handlers hand control to hiredis and touch nothing afterwards:
 * hiredis may have freed the context, and with it our connection.
 */

static void
ngx_http_oci_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c = ev->data;
    ngx_http_oci_redis_t  *redis = c->data;

    redisAsyncHandleRead(redis->ac);
}


static void
ngx_http_oci_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c = ev->data;
    ngx_http_oci_redis_t  *redis = c->data;

    redisAsyncHandleWrite(redis->ac);
}


/* the posted write; "flushing" makes a partial write arm the event */

static void
ngx_http_oci_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_oci_redis_t  *redis = ev->data;

    if (redis->ac == NULL) {
        return;
    }

    redis->flushing = 1;
    redisAsyncHandleWrite(redis->ac);
    redis->flushing = 0;
}


/*
 * Level-triggered events: hiredis reads at most 16 KiB per call and
 * expects to be called again while data is pending, which an
 * edge-triggered registration would not do.
 */

void
ngx_http_oci_redis_ev_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "oci registry: redis add read event failed");
        }
    }
}


void
ngx_http_oci_redis_ev_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


/*
 * Writing commands: once connected, a command does not arm the write
 * event (two epoll_ctl() calls per write, a fifth of the system calls of
 * a small pull) but posts an event that writes all the commands of this
 * event loop iteration at its end, in one write().  Only a write that
 * would block, or the connect, waits for the descriptor to be writable.
 */

static void
ngx_http_oci_redis_add_write(void *data)
{
    ngx_connection_t      *c = data;
    ngx_http_oci_redis_t  *redis = c->data;

    if (c->write->active) {
        return;
    }

    if (!redis->flushing && redis->ac != NULL
        && (redis->ac->c.flags & REDIS_CONNECTED))
    {
        if (!redis->flush.posted) {
            redis->flush.handler = ngx_http_oci_redis_flush_handler;
            redis->flush.data = redis;
            redis->flush.log = redis->log;
            ngx_post_event(&redis->flush, &ngx_posted_events);
        }

        return;
    }

    if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "oci registry: redis add write event failed");
    }
}


static void
ngx_http_oci_redis_del_write(void *data)
{
    ngx_connection_t      *c = data;
    ngx_http_oci_redis_t  *redis = c->data;

    if (redis->flush.posted && !redis->flushing) {
        ngx_delete_posted_event(&redis->flush);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * Called by hiredis just before it frees the context.  nginx closes the
 * descriptor, so hiredis must not close it again: its fd is set to -1.
 */

static void
ngx_http_oci_redis_cleanup(void *data)
{
    ngx_connection_t      *c = data;
    ngx_http_oci_redis_t  *redis = c->data;
    redisAsyncContext     *ac;

    ac = redis->ac;

    redis->ac = NULL;
    redis->connection = NULL;
    redis->ready = 0;

    if (redis->conf->up && redis->cluster == NULL) {
        *redis->conf->up = 0;
    }

    if (redis->flush.posted) {
        ngx_delete_posted_event(&redis->flush);
    }

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    ngx_close_connection(c);

    if (ac != NULL) {
        ac->c.fd = -1;
        ac->ev.data = NULL;
    }

    ngx_http_oci_redis_schedule(redis);

    if (redis->cluster != NULL && !redis->exiting) {
        ngx_http_oci_redis_cluster_lost(redis);
    }
}


static void
ngx_http_oci_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_oci_redis_t  *redis = ac->data;

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\" connect failed: %s",
                      &redis->conf->addr, ac->errstr);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "oci redis connected to \"%V\"", &redis->conf->addr);
}


static void
ngx_http_oci_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_oci_redis_t  *redis = ac->data;

    if (status != REDIS_OK && !redis->exiting) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\" connection lost: %s",
                      &redis->conf->addr, ac->errstr);
    }
}


static void
ngx_http_oci_redis_setup_reply(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply            *reply = rep;
    ngx_http_oci_redis_t  *redis = ac->data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\" setup failed: %*s",
                      &redis->conf->addr, (size_t) reply->len, reply->str);

        /* freed by hiredis once this callback returns */
        redis->ready = 0;
        redisAsyncFree(ac);
        return;
    }

    if (data == NULL) {
        /* AUTH; SELECT comes next */
        return;
    }

    if (redis->conf->sentinels == NULL) {
        ngx_http_oci_redis_ready(redis);
    }
}


static void
ngx_http_oci_redis_role_reply(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply            *reply = rep;
    ngx_http_oci_redis_t  *redis = ac->data;

    redisReply            *role;

    if (reply == NULL) {
        return;
    }

    role = (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
           ? reply->element[0] : NULL;

    if (role == NULL || role->type != REDIS_REPLY_STRING || role->len != 6
        || ngx_strncmp(role->str, "master", 6) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "oci registry: redis \"%V\": %s:%d is not the "
                      "master any more, asking the sentinels again",
                      &redis->conf->addr, redis->server.host,
                      redis->server.port);

        redis->ready = 0;
        redisAsyncFree(ac);
        return;
    }

    ngx_http_oci_redis_ready(redis);
}


static void
ngx_http_oci_redis_ready(ngx_http_oci_redis_t *redis)
{
    redis->ready = 1;
    redis->backoff = NGX_HTTP_OCI_REDIS_BACKOFF_MIN;

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    if (redis->cluster != NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "oci redis cluster: %s:%d ready",
                       redis->server.host, redis->server.port);

        ngx_http_oci_redis_cluster_ready(redis);
        return;
    }

    if (redis->conf->up) {
        *redis->conf->up = 1;
    }

    if (redis->conf->sentinels != NULL) {
        ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                      "oci registry: redis \"%V\" ready at master %s:%d",
                      &redis->conf->addr, redis->server.host,
                      redis->server.port);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, redis->log, 0,
                  "oci registry: redis \"%V\" ready", &redis->conf->addr);
}
