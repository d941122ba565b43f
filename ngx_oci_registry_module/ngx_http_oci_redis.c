
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_oci_redis.h"


/*
 * One hiredis async context per configured Redis server and worker,
 * driven by nginx's event loop.  hiredis owns the socket buffers and the
 * reply parser; nginx owns the file descriptor's events.  The design and
 * its pitfalls are described in docs/architecture.md.
 */


#define NGX_HTTP_OCI_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_OCI_REDIS_BACKOFF_MAX  1000

/* best-effort commands kept across an outage, per worker and server */
#define NGX_HTTP_OCI_REDIS_DEFERRED_MAX 1024


/*
 * A command formatted by hiredis (RESP text from redisFormatCommandArgv,
 * malloc()ed), to be sent once the connection is up, and sent again
 * after a reconnect if its reply was lost: cleanups that must not be
 * forgotten while Redis is away (a lock to release), and the undo of a
 * command whose reply was lost (a lock that may have been taken).
 */
typedef struct {
    ngx_http_oci_redis_t       *redis;
    char                       *cmd;
    size_t                      len;
} ngx_http_oci_redis_deferred_t;


struct ngx_http_oci_redis_s {
    ngx_http_oci_redis_conf_t  *conf;
    redisAsyncContext          *ac;
    ngx_connection_t           *connection;
    ngx_log_t                  *log;
    ngx_event_t                 reconnect;
    ngx_event_t                 connect_timer;
    ngx_event_t                 flush;       /* posted: write the commands */
    ngx_msec_t                  backoff;
    ngx_http_oci_redis_deferred_t  **deferred;
    ngx_uint_t                  ndeferred;
    ngx_uint_t                  dropped;     /* deferred ones lost, full */
    unsigned                    ready:1;
    unsigned                    exiting:1;
    unsigned                    flushing:1;

    /* hex SHA1 of each script, for EVALSHA */
    u_char                      sha[NGX_HTTP_OCI_SCRIPT_N][41];
};


/*
 * A command in flight.  It is malloc()ed because hiredis may hold it after
 * the request is gone; the request pool cleanup detaches it instead.
 */
typedef struct {
    ngx_http_request_t             *request;
    ngx_http_oci_redis_t           *redis;
    ngx_http_oci_redis_handler_pt   handler;
    ngx_pool_cleanup_t             *cleanup;
    ngx_event_t                     timer;

    /* a script call, kept to retry it as EVAL after NOSCRIPT */
    ngx_uint_t                      script;
    int                             argc;
    const char                    **argv;
    size_t                         *argvlen;

    /* run after a reconnect if this command's reply is lost */
    ngx_http_oci_redis_deferred_t  *undo;
} ngx_http_oci_redis_pending_t;


static ngx_int_t ngx_http_oci_redis_connect(ngx_http_oci_redis_t *redis);
static void ngx_http_oci_redis_schedule(ngx_http_oci_redis_t *redis);
static void ngx_http_oci_redis_drop(ngx_http_oci_redis_t *redis);
static void ngx_http_oci_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_oci_redis_read_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_write_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_add_read(void *data);
static void ngx_http_oci_redis_del_read(void *data);
static void ngx_http_oci_redis_add_write(void *data);
static void ngx_http_oci_redis_del_write(void *data);
static void ngx_http_oci_redis_cleanup(void *data);
static void ngx_http_oci_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oci_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_oci_redis_setup_reply(redisAsyncContext *ac, void *rep,
    void *data);
static void ngx_http_oci_redis_reply(redisAsyncContext *ac, void *rep,
    void *data);
static ngx_int_t ngx_http_oci_redis_send(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_uint_t script, int argc, const char **argv, size_t *argvlen,
    ngx_http_oci_redis_cmd_t *undo);
static ngx_http_oci_redis_deferred_t *ngx_http_oci_redis_format(
    ngx_http_oci_redis_t *redis, ngx_http_oci_redis_cmd_t *cmd);
static void ngx_http_oci_redis_defer(ngx_http_oci_redis_deferred_t *d);
static void ngx_http_oci_redis_send_deferred(ngx_http_oci_redis_t *redis);
static void ngx_http_oci_redis_deferred_reply(redisAsyncContext *ac,
    void *rep, void *data);
static void ngx_http_oci_redis_request_cleanup(void *data);
static void ngx_http_oci_redis_timeout(ngx_event_t *ev);


char *
ngx_http_oci_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_loc_conf_t  *olcf = conf;

    size_t                      len;
    ngx_int_t                   n;
    ngx_str_t                  *value, s;
    ngx_url_t                   u;
    ngx_uint_t                  i;
    ngx_http_oci_main_conf_t   *omcf;
    ngx_http_oci_redis_conf_t  *rcf, **prcf;
    struct sockaddr_un         *saun;

    if (olcf->redis != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->addr = value[1];
    rcf->connect_timeout = 1000;
    rcf->timeout = 2000;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 6379;

    /*
     * hiredis resolves host names with a blocking getaddrinfo(); do it
     * here, once, at configuration time, and hand hiredis a numeric address
     */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in redis address \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0 || u.addrs == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" has no address", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        saun = (struct sockaddr_un *) u.addrs[0].sockaddr;
        len = ngx_strlen(saun->sun_path);

        rcf->host = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->host == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rcf->host, (u_char *) saun->sun_path, len + 1);
        rcf->unix_socket = 1;

    } else {
        rcf->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rcf->host == NULL) {
            return NGX_CONF_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                            rcf->host, NGX_SOCKADDR_STRLEN, 0);
        rcf->host[len] = '\0';
        rcf->port = u.port;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR || n > 65535) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rcf->password.data = value[i].data + 9;
            rcf->password.len = value[i].len - 9;

            if (rcf->password.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rcf->connect_timeout = ngx_parse_time(&s, 0);
            if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rcf->timeout = ngx_parse_time(&s, 0);
            if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_oci_registry_module);

    prcf = ngx_array_push(&omcf->redis);
    if (prcf == NULL) {
        return NGX_CONF_ERROR;
    }

    *prcf = rcf;
    olcf->redis = rcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"%V\"", &value[i],
                       &cmd->name);

    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_oci_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_oci_redis_conf_t *rcf)
{
    u_char                 md[EVP_MAX_MD_SIZE];
    ngx_uint_t             i;
    unsigned int           mdlen;
    ngx_http_oci_redis_t  *redis;

    redis = ngx_pcalloc(cycle->pool, sizeof(ngx_http_oci_redis_t));
    if (redis == NULL) {
        return NGX_ERROR;
    }

    redis->conf = rcf;
    redis->log = cycle->log;
    redis->backoff = NGX_HTTP_OCI_REDIS_BACKOFF_MIN;

    redis->deferred = ngx_palloc(cycle->pool,
                                 NGX_HTTP_OCI_REDIS_DEFERRED_MAX
                                 * sizeof(ngx_http_oci_redis_deferred_t *));
    if (redis->deferred == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_OCI_SCRIPT_N; i++) {
        if (EVP_Digest(ngx_http_oci_scripts[i].data,
                       ngx_http_oci_scripts[i].len, md, &mdlen, EVP_sha1(),
                       NULL)
            != 1)
        {
            return NGX_ERROR;
        }

        ngx_hex_dump(redis->sha[i], md, mdlen);
        redis->sha[i][40] = '\0';
    }

    /* both timers are cancelable: they must not delay a graceful exit */

    redis->reconnect.handler = ngx_http_oci_redis_reconnect_handler;
    redis->reconnect.data = redis;
    redis->reconnect.log = cycle->log;
    redis->reconnect.cancelable = 1;

    redis->connect_timer.handler = ngx_http_oci_redis_connect_timeout;
    redis->connect_timer.data = redis;
    redis->connect_timer.log = cycle->log;
    redis->connect_timer.cancelable = 1;

    rcf->conn = redis;

    if (ngx_http_oci_redis_connect(redis) != NGX_OK) {
        ngx_http_oci_redis_schedule(redis);
    }

    return NGX_OK;
}


void
ngx_http_oci_redis_exit_process(ngx_http_oci_redis_conf_t *rcf)
{
    ngx_http_oci_redis_t  *redis;

    redis = rcf->conn;
    if (redis == NULL) {
        return;
    }

    redis->exiting = 1;

    if (redis->reconnect.timer_set) {
        ngx_del_timer(&redis->reconnect);
    }

    ngx_http_oci_redis_drop(redis);

    /* still not sent: the locks they would release expire instead */

    while (redis->ndeferred) {
        ngx_http_oci_redis_deferred_t  *d;

        d = redis->deferred[--redis->ndeferred];
        redisFreeCommand(d->cmd);
        ngx_free(d);
    }
}


static ngx_int_t
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

    if (rcf->unix_socket) {
        ac = redisAsyncConnectUnix((char *) rcf->host);

    } else {
        ac = redisAsyncConnect((char *) rcf->host, rcf->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\": out of memory",
                      &rcf->addr);
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "oci registry: redis \"%V\" connect failed: %s",
                      &rcf->addr, ac->errstr);
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
    ac->ev.addRead = ngx_http_oci_redis_add_read;
    ac->ev.delRead = ngx_http_oci_redis_del_read;
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
     * Kept commands go right behind SELECT, before any request's: a lock
     * whose reply was lost is released before a retry asks for it.  The
     * old connection's commands, still in Redis's buffers, run first: the
     * new connection is accepted only after them.
     */

    ngx_http_oci_redis_send_deferred(redis);

    ngx_add_timer(&redis->connect_timer, rcf->connect_timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "oci redis connecting to \"%V\"", &rcf->addr);

    return NGX_OK;
}


static void
ngx_http_oci_redis_schedule(ngx_http_oci_redis_t *redis)
{
    if (redis->exiting || redis->reconnect.timer_set || ngx_exiting
        || ngx_terminate || ngx_quit)
    {
        return;
    }

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

static void
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


static void
ngx_http_oci_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_oci_redis_t  *redis = ev->data;

    if (redis->ac != NULL || redis->exiting) {
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

static void
ngx_http_oci_redis_add_read(void *data)
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


static void
ngx_http_oci_redis_del_read(void *data)
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

    redis->ready = 1;
    redis->backoff = NGX_HTTP_OCI_REDIS_BACKOFF_MIN;

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    ngx_log_error(NGX_LOG_INFO, redis->log, 0,
                  "oci registry: redis \"%V\" ready", &redis->conf->addr);
}


ngx_int_t
ngx_http_oci_redis_command(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    int argc, const char **argv, const size_t *argvlen)
{
    return ngx_http_oci_redis_send(r, rcf, handler, NGX_HTTP_OCI_SCRIPT_N,
                                   argc, argv, (size_t *) argvlen, NULL);
}


ngx_int_t
ngx_http_oci_redis_script(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, int nkeys, int argc, const char **argv,
    const size_t *argvlen)
{
    return ngx_http_oci_redis_script_undo(r, rcf, handler, script, nkeys,
                                          argc, argv, argvlen, NULL);
}


ngx_int_t
ngx_http_oci_redis_script_undo(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, int nkeys, int argc, const char **argv,
    const size_t *argvlen, ngx_http_oci_redis_cmd_t *undo)
{
    int             n;
    u_char         *p;
    size_t         *lens;
    const char    **args;

    if (rcf->conn == NULL) {
        return NGX_ERROR;
    }

    args = ngx_palloc(r->pool, (argc + 3) * sizeof(char *));
    lens = ngx_palloc(r->pool, (argc + 3) * sizeof(size_t));
    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

    if (args == NULL || lens == NULL || p == NULL) {
        return NGX_ERROR;
    }

    args[0] = "EVALSHA";
    lens[0] = 7;
    args[1] = (char *) rcf->conn->sha[script];
    lens[1] = 40;
    args[2] = (char *) p;
    lens[2] = ngx_sprintf(p, "%d", nkeys) - p;

    for (n = 0; n < argc; n++) {
        args[n + 3] = argv[n];
        lens[n + 3] = argvlen[n];
    }

    return ngx_http_oci_redis_send(r, rcf, handler, script, argc + 3, args,
                                   lens, undo);
}


static ngx_int_t
ngx_http_oci_redis_send(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_uint_t script, int argc, const char **argv, size_t *argvlen,
    ngx_http_oci_redis_cmd_t *undo)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_oci_redis_t          *redis;
    ngx_http_oci_redis_pending_t  *pending;

    redis = rcf->conn;

    /*
     * While a connection is being made (a worker just started, or Redis
     * just came back) commands queue behind AUTH and SELECT; they fail
     * with it if it fails.  Only without any connection is it 503 now.
     */

    if (redis == NULL || redis->ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "oci registry: redis \"%V\" is not connected",
                      &rcf->addr);
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
    pending->redis = redis;
    pending->handler = handler;
    pending->cleanup = cln;

    pending->timer.handler = ngx_http_oci_redis_timeout;
    pending->timer.data = pending;
    pending->timer.log = r->connection->log;

    pending->script = script;
    pending->argc = argc;
    pending->argv = argv;
    pending->argvlen = argvlen;

    if (undo != NULL) {
        pending->undo = ngx_http_oci_redis_format(redis, undo);
        if (pending->undo == NULL) {
            ngx_free(pending);
            return NGX_ERROR;
        }
    }

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

    cln->handler = ngx_http_oci_redis_request_cleanup;
    cln->data = pending;

    ngx_add_timer(&pending->timer, rcf->timeout);

    return NGX_OK;
}


/*
 * Not connected now, or the connection drops before the reply: the
 * command is kept and sent after the reconnect (see ..._deferred_t).
 */

void
ngx_http_oci_redis_fire(ngx_http_oci_redis_conf_t *rcf, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_oci_redis_t           *redis;
    ngx_http_oci_redis_cmd_t        cmd;
    ngx_http_oci_redis_deferred_t  *d;

    redis = rcf->conn;

    if (redis == NULL || redis->exiting) {
        return;
    }

    cmd.argc = argc;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    d = ngx_http_oci_redis_format(redis, &cmd);
    if (d == NULL) {
        return;
    }

    if (redis->ac == NULL
        || redisAsyncFormattedCommand(redis->ac,
                                      ngx_http_oci_redis_deferred_reply, d,
                                      d->cmd, d->len)
           != REDIS_OK)
    {
        ngx_http_oci_redis_defer(d);
    }
}


static ngx_http_oci_redis_deferred_t *
ngx_http_oci_redis_format(ngx_http_oci_redis_t *redis,
    ngx_http_oci_redis_cmd_t *cmd)
{
    int                             len;
    ngx_http_oci_redis_deferred_t  *d;

    d = ngx_alloc(sizeof(ngx_http_oci_redis_deferred_t), redis->log);
    if (d == NULL) {
        return NULL;
    }

    len = redisFormatCommandArgv(&d->cmd, cmd->argc, cmd->argv,
                                 cmd->argvlen);
    if (len <= 0) {
        ngx_free(d);
        return NULL;
    }

    d->redis = redis;
    d->len = len;

    return d;
}


/* keeps a command for the next connection; bounded, the oldest stay */

static void
ngx_http_oci_redis_defer(ngx_http_oci_redis_deferred_t *d)
{
    ngx_http_oci_redis_t  *redis;

    redis = d->redis;

    if (redis->exiting || redis->ndeferred == NGX_HTTP_OCI_REDIS_DEFERRED_MAX)
    {
        if (!redis->exiting && redis->dropped++ == 0) {
            ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                          "oci registry: redis \"%V\": too many commands "
                          "kept for the reconnect, the locks they would "
                          "release expire instead", &redis->conf->addr);
        }

        redisFreeCommand(d->cmd);
        ngx_free(d);
        return;
    }

    redis->deferred[redis->ndeferred++] = d;
}


static void
ngx_http_oci_redis_send_deferred(ngx_http_oci_redis_t *redis)
{
    ngx_uint_t                      i, n;
    ngx_http_oci_redis_deferred_t  *d;

    n = redis->ndeferred;
    redis->ndeferred = 0;
    redis->dropped = 0;

    for (i = 0; i < n; i++) {
        d = redis->deferred[i];

        if (redisAsyncFormattedCommand(redis->ac,
                                       ngx_http_oci_redis_deferred_reply, d,
                                       d->cmd, d->len)
            != REDIS_OK)
        {
            ngx_http_oci_redis_defer(d);
        }
    }
}


/* any reply: done; none (the connection went): kept for the next one */

static void
ngx_http_oci_redis_deferred_reply(redisAsyncContext *ac, void *rep,
    void *data)
{
    ngx_http_oci_redis_deferred_t  *d = data;

    if (rep == NULL) {
        ngx_http_oci_redis_defer(d);
        return;
    }

    redisFreeCommand(d->cmd);
    ngx_free(d);
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

    ngx_http_oci_redis_drop(redis);
}


static void
ngx_http_oci_redis_reply(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply                    *reply = rep;
    ngx_http_oci_redis_pending_t  *pending = data;

    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_oci_redis_t           *redis;
    ngx_http_oci_redis_handler_pt   handler;

    r = pending->request;
    redis = pending->redis;
    handler = pending->handler;

    /*
     * Redis restarted or flushed its script cache: send the script itself
     * once; its SHA is then known again for everybody
     */

    if (r != NULL && reply != NULL && reply->type == REDIS_REPLY_ERROR
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

    if (pending->timer.timer_set) {
        ngx_del_timer(&pending->timer);
    }

    if (pending->cleanup) {
        pending->cleanup->handler = NULL;
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

    ngx_free(pending);

    if (r == NULL || redis->exiting) {
        return;
    }

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "oci registry: redis \"%V\" unavailable",
                      &redis->conf->addr);

        ngx_http_finalize_request(r,
                                  ngx_http_oci_send_error(r,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          NGX_HTTP_OCI_ERR_UNAVAILABLE,
                                          NULL));

    } else {
        handler(r, reply);
    }

    ngx_http_run_posted_requests(c);
}
