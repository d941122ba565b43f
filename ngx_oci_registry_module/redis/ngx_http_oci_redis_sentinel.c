
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * Finding the master through Redis Sentinel.  Each worker keeps one
 * connection to one of the sentinels: on it, it asks for the master's
 * address ("SENTINEL get-master-addr-by-name") and then subscribes to
 * "+switch-master", so that a failover moves the worker's connection to
 * the new master at once.  When the master's connection is lost the
 * sentinel is asked again (a new link, since a subscribed one takes no
 * other command); when a sentinel fails, the next one is tried.  The
 * master's connection itself checks ROLE before it takes commands (see
 * ngx_http_oci_redis.c).
 */


#define NGX_HTTP_OCI_SENTINEL_BACKOFF_MIN  100
#define NGX_HTTP_OCI_SENTINEL_BACKOFF_MAX  1000


struct ngx_http_oci_redis_sentinel_s {
    ngx_http_oci_redis_t       *redis;
    redisAsyncContext          *ac;
    ngx_connection_t           *connection;
    ngx_uint_t                  current;     /* the sentinel asked */
    ngx_event_t                 retry;       /* another sentinel, later */
    ngx_event_t                 timer;       /* no answer in time */
    ngx_msec_t                  backoff;
    ngx_uint_t                  tries;       /* failed since an answer */
    unsigned                    answered:1;
    unsigned                    again:1;     /* ask the same one at once */
};


static void ngx_http_oci_sentinel_open(ngx_http_oci_redis_sentinel_t *link);
static ngx_int_t ngx_http_oci_sentinel_send(
    ngx_http_oci_redis_sentinel_t *link);
static void ngx_http_oci_sentinel_drop(ngx_http_oci_redis_sentinel_t *link);
static void ngx_http_oci_sentinel_next(ngx_http_oci_redis_sentinel_t *link);
static void ngx_http_oci_sentinel_retry(ngx_event_t *ev);
static void ngx_http_oci_sentinel_timeout(ngx_event_t *ev);
static void ngx_http_oci_sentinel_read(ngx_event_t *ev);
static void ngx_http_oci_sentinel_write(ngx_event_t *ev);
static void ngx_http_oci_sentinel_add_write(void *data);
static void ngx_http_oci_sentinel_del_write(void *data);
static void ngx_http_oci_sentinel_cleanup(void *data);
static void ngx_http_oci_sentinel_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oci_sentinel_auth(redisAsyncContext *ac, void *rep,
    void *data);
static void ngx_http_oci_sentinel_addr(redisAsyncContext *ac, void *rep,
    void *data);
static void ngx_http_oci_sentinel_message(redisAsyncContext *ac, void *rep,
    void *data);
static ngx_int_t ngx_http_oci_sentinel_master(
    ngx_http_oci_redis_sentinel_t *link, u_char *ip, size_t len,
    u_char *port, size_t port_len);


ngx_int_t
ngx_http_oci_redis_sentinel_init(ngx_cycle_t *cycle,
    ngx_http_oci_redis_t *redis)
{
    ngx_http_oci_redis_sentinel_t  *link;

    link = ngx_pcalloc(cycle->pool, sizeof(ngx_http_oci_redis_sentinel_t));
    if (link == NULL) {
        return NGX_ERROR;
    }

    link->redis = redis;
    link->backoff = NGX_HTTP_OCI_SENTINEL_BACKOFF_MIN;

    /* the workers of one host start at different sentinels */
    link->current = (ngx_uint_t) ngx_pid % redis->conf->sentinels->nelts;

    link->retry.handler = ngx_http_oci_sentinel_retry;
    link->retry.data = link;
    link->retry.log = cycle->log;
    link->retry.cancelable = 1;

    link->timer.handler = ngx_http_oci_sentinel_timeout;
    link->timer.data = link;
    link->timer.log = cycle->log;
    link->timer.cancelable = 1;

    redis->sentinel = link;

    ngx_http_oci_sentinel_open(link);

    return NGX_OK;
}


/*
 * The master's connection was lost or refused: ask again, on a new link
 * to the same sentinel, unless a question is already on its way
 */

void
ngx_http_oci_redis_sentinel_ask(ngx_http_oci_redis_t *redis)
{
    ngx_http_oci_redis_sentinel_t  *link;

    link = redis->sentinel;

    if (link->ac == NULL || !link->answered) {
        return;
    }

    link->again = 1;
    ngx_http_oci_sentinel_drop(link);
}


void
ngx_http_oci_redis_sentinel_exit(ngx_http_oci_redis_t *redis)
{
    ngx_http_oci_redis_sentinel_t  *link;

    link = redis->sentinel;

    if (link->retry.timer_set) {
        ngx_del_timer(&link->retry);
    }

    ngx_http_oci_sentinel_drop(link);
}


static void
ngx_http_oci_sentinel_open(ngx_http_oci_redis_sentinel_t *link)
{
    ngx_connection_t           *c;
    redisAsyncContext          *ac;
    ngx_http_oci_redis_t       *redis;
    ngx_http_oci_redis_addr_t  *sentinel;

    redis = link->redis;
    sentinel = redis->conf->sentinels->elts;
    sentinel += link->current;

    link->answered = 0;

    ac = redisAsyncConnect((char *) sentinel->host, sentinel->port);
    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\": sentinel %s:%d: %s",
                      &redis->conf->addr, sentinel->host, sentinel->port,
                      ac ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }

        goto next;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        goto next;
    }

    c->data = link;
    c->read->handler = ngx_http_oci_sentinel_read;
    c->write->handler = ngx_http_oci_sentinel_write;
    c->read->log = redis->log;
    c->write->log = redis->log;

    link->ac = ac;
    link->connection = c;

    ac->data = link;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_oci_redis_ev_add_read;
    ac->ev.delRead = ngx_http_oci_redis_ev_del_read;
    ac->ev.addWrite = ngx_http_oci_sentinel_add_write;
    ac->ev.delWrite = ngx_http_oci_sentinel_del_write;
    ac->ev.cleanup = ngx_http_oci_sentinel_cleanup;

    if (redisAsyncSetConnectCallback(ac, ngx_http_oci_sentinel_connected)
        != REDIS_OK
        || ngx_http_oci_sentinel_send(link) != NGX_OK)
    {
        /* the cleanup goes on with the next sentinel */
        ngx_http_oci_sentinel_drop(link);
        return;
    }

    ngx_add_timer(&link->timer,
                  redis->conf->connect_timeout + redis->conf->timeout);

    return;

next:

    ngx_http_oci_sentinel_next(link);
}


/*
 * The next sentinel in the list: at once while some have not been tried
 * since the last answer, then after a backoff
 */

static void
ngx_http_oci_sentinel_next(ngx_http_oci_redis_sentinel_t *link)
{
    ngx_uint_t  n;

    n = link->redis->conf->sentinels->nelts;

    link->current = (link->current + 1) % n;

    if (++link->tries < n) {
        ngx_http_oci_sentinel_open(link);
        return;
    }

    link->tries = 0;

    if (!link->retry.timer_set) {
        ngx_add_timer(&link->retry, link->backoff);
    }

    link->backoff *= 2;
    if (link->backoff > NGX_HTTP_OCI_SENTINEL_BACKOFF_MAX) {
        link->backoff = NGX_HTTP_OCI_SENTINEL_BACKOFF_MAX;
    }
}


/* [AUTH], the question, then the subscription: written once connected */

static ngx_int_t
ngx_http_oci_sentinel_send(ngx_http_oci_redis_sentinel_t *link)
{
    const char                 *argv[3];
    size_t                      lens[3];
    ngx_http_oci_redis_conf_t  *rcf;

    rcf = link->redis->conf;

    if (rcf->sentinel_password.len) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = (char *) rcf->sentinel_password.data;
        lens[1] = rcf->sentinel_password.len;

        if (redisAsyncCommandArgv(link->ac, ngx_http_oci_sentinel_auth, NULL,
                                  2, argv, lens)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    argv[0] = "SENTINEL";
    lens[0] = 8;
    argv[1] = "get-master-addr-by-name";
    lens[1] = 23;
    argv[2] = (char *) rcf->master.data;
    lens[2] = rcf->master.len;

    if (redisAsyncCommandArgv(link->ac, ngx_http_oci_sentinel_addr, NULL, 3,
                              argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    argv[1] = "+switch-master";
    lens[1] = 14;

    if (redisAsyncCommandArgv(link->ac, ngx_http_oci_sentinel_message, NULL,
                              2, argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_oci_sentinel_drop(ngx_http_oci_redis_sentinel_t *link)
{
    if (link->ac != NULL) {
        redisAsyncFree(link->ac);
    }
}


static void
ngx_http_oci_sentinel_retry(ngx_event_t *ev)
{
    ngx_http_oci_redis_sentinel_t  *link = ev->data;

    if (link->ac != NULL || link->redis->exiting) {
        return;
    }

    ngx_http_oci_sentinel_open(link);
}


static void
ngx_http_oci_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_oci_redis_sentinel_t  *link = ev->data;

    ngx_log_error(NGX_LOG_ERR, ev->log, NGX_ETIMEDOUT,
                  "oci registry: redis \"%V\": sentinel did not answer",
                  &link->redis->conf->addr);

    ngx_http_oci_sentinel_drop(link);
}


/* as for the master's connection: hiredis may free everything in these */

static void
ngx_http_oci_sentinel_read(ngx_event_t *ev)
{
    ngx_connection_t               *c = ev->data;
    ngx_http_oci_redis_sentinel_t  *link = c->data;

    redisAsyncHandleRead(link->ac);
}


static void
ngx_http_oci_sentinel_write(ngx_event_t *ev)
{
    ngx_connection_t               *c = ev->data;
    ngx_http_oci_redis_sentinel_t  *link = c->data;

    redisAsyncHandleWrite(link->ac);
}


/* a few commands per link: the write event is armed as hiredis asks */

static void
ngx_http_oci_sentinel_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active
        && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "oci registry: sentinel add write event failed");
    }
}


static void
ngx_http_oci_sentinel_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis frees the link's context: the next sentinel is tried later,
 * or, when the master's connection asked for it, the same one now
 */

static void
ngx_http_oci_sentinel_cleanup(void *data)
{
    ngx_connection_t               *c = data;
    ngx_http_oci_redis_sentinel_t  *link = c->data;

    redisAsyncContext     *ac;
    ngx_http_oci_redis_t  *redis;

    ac = link->ac;
    redis = link->redis;

    link->ac = NULL;
    link->connection = NULL;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_close_connection(c);

    if (ac != NULL) {
        ac->c.fd = -1;
        ac->ev.data = NULL;
    }

    if (redis->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (link->again) {
        link->again = 0;
        link->backoff = NGX_HTTP_OCI_SENTINEL_BACKOFF_MIN;
        ngx_http_oci_sentinel_open(link);
        return;
    }

    if (link->answered) {
        link->backoff = NGX_HTTP_OCI_SENTINEL_BACKOFF_MIN;
        link->tries = 0;
    }

    ngx_http_oci_sentinel_next(link);
}


static void
ngx_http_oci_sentinel_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_oci_redis_sentinel_t  *link = ac->data;

    ngx_http_oci_redis_addr_t  *sentinel;

    if (status == REDIS_OK) {
        return;
    }

    sentinel = link->redis->conf->sentinels->elts;
    sentinel += link->current;

    ngx_log_error(NGX_LOG_ERR, link->redis->log, 0,
                  "oci registry: redis \"%V\": sentinel %s:%d: %s",
                  &link->redis->conf->addr, sentinel->host, sentinel->port,
                  ac->errstr);
}


static void
ngx_http_oci_sentinel_auth(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply                     *reply = rep;
    ngx_http_oci_redis_sentinel_t  *link = ac->data;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, link->redis->log, 0,
                      "oci registry: redis \"%V\": sentinel AUTH: %*s",
                      &link->redis->conf->addr, (size_t) reply->len,
                      reply->str);
    }
}


/* ["ip", "port"]; nil when this sentinel does not monitor the name */

static void
ngx_http_oci_sentinel_addr(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply                     *reply = rep;
    ngx_http_oci_redis_sentinel_t  *link = ac->data;

    redisReply  **e;

    if (reply == NULL) {
        return;
    }

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || e[0]->type != REDIS_REPLY_STRING
        || e[1]->type != REDIS_REPLY_STRING
        || ngx_http_oci_sentinel_master(link, (u_char *) e[0]->str,
                                        e[0]->len, (u_char *) e[1]->str,
                                        e[1]->len)
           != NGX_OK)
    {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, link->redis->log, 0,
                          "oci registry: redis \"%V\": sentinel: %*s",
                          &link->redis->conf->addr, (size_t) reply->len,
                          reply->str);

        } else {
            ngx_log_error(NGX_LOG_ERR, link->redis->log, 0,
                          "oci registry: redis \"%V\": the sentinel does "
                          "not name the master", &link->redis->conf->addr);
        }

        ngx_http_oci_sentinel_drop(link);
        return;
    }

    link->answered = 1;
    link->tries = 0;
    link->backoff = NGX_HTTP_OCI_SENTINEL_BACKOFF_MIN;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }
}


/* "<name> <old ip> <old port> <new ip> <new port>" */

static void
ngx_http_oci_sentinel_message(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply                     *reply = rep;
    ngx_http_oci_redis_sentinel_t  *link = ac->data;

    u_char      *p, *last, *field[5];
    size_t       len[5];
    ngx_str_t   *master;
    ngx_uint_t   n;
    redisReply  *msg;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len != 7
        || ngx_strncmp(reply->element[0]->str, "message", 7) != 0
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        /* the subscription's confirmation, or nothing */
        return;
    }

    msg = reply->element[2];
    p = (u_char *) msg->str;
    last = p + msg->len;

    for (n = 0; n < 5 && p < last; n++) {
        field[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - field[n];

        if (p < last) {
            p++;
        }
    }

    master = &link->redis->conf->master;

    if (n != 5 || p != last || len[0] != master->len
        || ngx_strncmp(field[0], master->data, master->len) != 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, link->redis->log, 0,
                  "oci registry: redis \"%V\": the sentinels moved the "
                  "master to %*s:%*s", master, len[3], field[3], len[4],
                  field[4]);

    if (ngx_http_oci_sentinel_master(link, field[3], len[3], field[4], len[4])
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, link->redis->log, 0,
                      "oci registry: redis \"%V\": invalid +switch-master "
                      "\"%*s\"", master, (size_t) msg->len, msg->str);
    }
}


/*
 * An address a sentinel announced: numeric only (hiredis would resolve a
 * name with a blocking call), and then the master's connection moves
 */

static ngx_int_t
ngx_http_oci_sentinel_master(ngx_http_oci_redis_sentinel_t *link,
    u_char *ip, size_t len, u_char *port, size_t port_len)
{
    ngx_int_t  n;
#if (NGX_HAVE_INET6)
    u_char     inaddr6[16];
#endif

    n = ngx_atoi(port, port_len);
    if (n < 1 || n > 65535 || len == 0 || len > NGX_SOCKADDR_STRLEN) {
        return NGX_ERROR;
    }

    if (ngx_inet_addr(ip, len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(ip, len, inaddr6) != NGX_OK
#endif
       )
    {
        return NGX_ERROR;
    }

    ngx_http_oci_redis_move(link->redis, ip, len, (int) n);

    return NGX_OK;
}
