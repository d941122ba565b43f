
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/statvfs.h>

#include "ngx_http_oci_observe.h"
#include "ngx_http_oci_reply.h"


/*
 * Liveness (oci_registry_live): the worker answers.  Readiness
 * (oci_registry_ready): the storage root takes a new file and has
 * oci_registry_ready_min_free bytes free, and Redis answers PING within
 * oci_registry_ready_timeout.  200 or 503, with a JSON body that says
 * which check failed and why.  The storage check runs in the thread pool
 * when there is one: a hung network file system must not hang a worker.
 */


typedef struct {
    u_char                     *dir;
    off_t                       free;
    ngx_err_t                   err;
    char                       *failed;      /* the call that failed */
} ngx_http_oci_storage_check_t;


typedef struct {
    ngx_http_oci_storage_check_t  storage;
    ngx_msec_t                  started;
    ngx_msec_t                  ms;          /* the PING's, or till failed */
    char                       *redis_error;
    ngx_str_t                   redis_reply; /* an error reply's text */
    ngx_event_t                 timer;
    ngx_int_t                   rc;          /* answered in the handler */
    unsigned                    suspended:1;
    unsigned                    answered:1;
} ngx_http_oci_ready_ctx_t;


static void ngx_http_oci_ready_storage(void *data, ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_oci_ready_storage_done(ngx_event_t *ev);
#endif
static void ngx_http_oci_ready_redis(ngx_http_request_t *r,
    ngx_http_oci_ready_ctx_t *ctx);
static void ngx_http_oci_ready_pong(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_oci_ready_lost(ngx_http_request_t *r);
static void ngx_http_oci_ready_timeout(ngx_event_t *ev);
static void ngx_http_oci_ready_cleanup(void *data);
static void ngx_http_oci_ready_answer(ngx_http_request_t *r,
    ngx_http_oci_ready_ctx_t *ctx);
static void ngx_http_oci_health_finalize(ngx_http_request_t *r,
    ngx_http_oci_ready_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_oci_health_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);


ngx_int_t
ngx_http_oci_live_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_oci_health_send(r, NGX_HTTP_OK,
                                    (u_char *) "{\"status\":\"live\"}",
                                    sizeof("{\"status\":\"live\"}") - 1);
}


ngx_int_t
ngx_http_oci_ready_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_pool_cleanup_t               *cln;
    ngx_http_oci_ready_ctx_t         *ctx;
    ngx_http_oci_observe_loc_conf_t  *olcf;
#if (NGX_THREADS)
    ngx_thread_task_t                *task;
#endif

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_observe_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_ready_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_oci_observe_module);

    ctx->storage.dir = olcf->uploads;
    ctx->timer.handler = ngx_http_oci_ready_timeout;
    ctx->timer.data = r;
    ctx->timer.log = r->connection->log;

    cln->handler = ngx_http_oci_ready_cleanup;
    cln->data = ctx;

#if (NGX_THREADS)

    if (olcf->thread_pool) {
        task = ngx_thread_task_alloc(r->pool, 0);
        if (task == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the task touches only ctx->storage */

        task->ctx = &ctx->storage;
        task->handler = ngx_http_oci_ready_storage;
        task->event.handler = ngx_http_oci_ready_storage_done;
        task->event.data = r;
        task->event.log = r->connection->log;

        if (ngx_thread_task_post(olcf->thread_pool, task) == NGX_OK) {
            r->main->blocked++;
            r->main->count++;
            ctx->suspended = 1;
            return NGX_DONE;
        }

        /* the queue is full: here, then */
    }

#endif

    ngx_http_oci_ready_storage(&ctx->storage, r->connection->log);
    ngx_http_oci_ready_redis(r, ctx);

    if (ctx->answered) {
        return ctx->rc;
    }

    r->main->count++;
    ctx->suspended = 1;

    return NGX_DONE;
}


/*
 * A file that has no name (O_TMPFILE) proves the directory takes new
 * files without leaving one behind; its file system's free space is
 * what a blob would be written into.
 */

static void
ngx_http_oci_ready_storage(void *data, ngx_log_t *log)
{
    ngx_http_oci_storage_check_t  *sc = data;

    int             fd;
    struct statvfs  vfs;

    fd = open((char *) sc->dir, O_TMPFILE|O_WRONLY|O_CLOEXEC, 0600);

    if (fd == -1) {
        sc->err = ngx_errno;
        sc->failed = "open(O_TMPFILE)";
        return;
    }

    if (fstatvfs(fd, &vfs) == -1) {
        sc->err = ngx_errno;
        sc->failed = "fstatvfs()";

    } else {
        sc->free = (off_t) vfs.f_bavail * (off_t) vfs.f_frsize;
    }

    (void) close(fd);
}


#if (NGX_THREADS)

static void
ngx_http_oci_ready_storage_done(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_connection_t          *c;
    ngx_http_oci_ready_ctx_t  *ctx;

    c = r->connection;
    r->main->blocked--;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_observe_module);

    ngx_http_oci_ready_redis(r, ctx);

    ngx_http_run_posted_requests(c);
}

#endif


static void
ngx_http_oci_ready_redis(ngx_http_request_t *r, ngx_http_oci_ready_ctx_t *ctx)
{
    size_t                            lens[1];
    const char                       *argv[1];
    ngx_http_oci_args_t               a;
    ngx_http_oci_observe_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_observe_module);

    ngx_http_oci_args_init_fixed(&a, argv, lens, 1);
    ngx_http_oci_args_lit(&a, "PING");

    ctx->started = ngx_current_msec;

    if (ngx_http_oci_redis_probe(r, olcf->redis, ngx_http_oci_ready_pong,
                                 ngx_http_oci_ready_lost, &a)
        != NGX_OK)
    {
        ctx->redis_error = "not connected";
        ngx_http_oci_ready_answer(r, ctx);
        return;
    }

    ngx_add_timer(&ctx->timer, olcf->ready_timeout);
}


static void
ngx_http_oci_ready_pong(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_oci_ready_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_observe_module);

    if (ctx->answered) {
        return;
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        ctx->redis_error = "error reply";

        if (reply->type == REDIS_REPLY_ERROR
            && ngx_http_oci_set_str(r, &ctx->redis_reply,
                                    (u_char *) reply->str,
                                    ngx_min(reply->len, 200))
               != NGX_OK)
        {
            ngx_str_null(&ctx->redis_reply);
        }
    }

    ngx_http_oci_ready_answer(r, ctx);
}


static void
ngx_http_oci_ready_lost(ngx_http_request_t *r)
{
    ngx_http_oci_ready_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_observe_module);

    if (ctx->answered) {
        return;
    }

    ctx->redis_error = "no reply: the connection was lost or timed out";
    ngx_http_oci_ready_answer(r, ctx);
}


static void
ngx_http_oci_ready_timeout(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_connection_t          *c;
    ngx_http_oci_ready_ctx_t  *ctx;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_observe_module);

    ctx->redis_error = "no reply within oci_registry_ready_timeout";
    ngx_http_oci_ready_answer(r, ctx);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_oci_ready_cleanup(void *data)
{
    ngx_http_oci_ready_ctx_t  *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


/*
 * {"status":"ready"|"unready","checks":{"storage":{...},"redis":{...}}},
 * each check with "status":"ok"|"fail" and, failed, an "error"
 */

static void
ngx_http_oci_ready_answer(ngx_http_request_t *r,
    ngx_http_oci_ready_ctx_t *ctx)
{
    u_char                           *p, *body;
    size_t                            len;
    ngx_int_t                         rc;
    ngx_uint_t                        storage_ok, ok;
    ngx_http_oci_observe_loc_conf_t  *olcf;
    u_char                            err[128];

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_observe_module);

    ctx->answered = 1;
    ctx->ms = ngx_current_msec - ctx->started;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    storage_ok = ctx->storage.failed == NULL
                 && ctx->storage.free >= olcf->ready_min_free;
    ok = storage_ok && ctx->redis_error == NULL;

    if (ctx->storage.failed) {
        p = ngx_sprintf(err, "%s: ", ctx->storage.failed);
        p = ngx_strerror(ctx->storage.err, p, err + sizeof(err) - p);

    } else {
        p = ngx_sprintf(err, "free space below oci_registry_ready_min_free");
    }

    len = sizeof("{\"status\":\"unready\",\"checks\":{\"storage\":"
                 "{\"status\":\"fail\",\"path\":\"\",\"free_bytes\":,"
                 "\"min_free_bytes\":,\"error\":\"\"},\"redis\":"
                 "{\"status\":\"fail\",\"server\":\"\",\"ms\":,"
                 "\"error\":\"\"}}}") - 1
          + ngx_http_oci_json_escape_len(ctx->storage.dir,
                                         ngx_strlen(ctx->storage.dir))
          + 2 * NGX_OFF_T_LEN + NGX_INT_T_LEN
          + ngx_http_oci_json_escape_len(err, p - err)
          + ngx_http_oci_json_escape_len(olcf->redis->addr.data,
                                         olcf->redis->addr.len)
          + 64 + ngx_http_oci_json_escape_len(ctx->redis_reply.data,
                                              ctx->redis_reply.len);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        ngx_http_oci_health_finalize(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = p - err;

    p = ngx_sprintf(body, "{\"status\":\"%s\",\"checks\":{\"storage\":"
                    "{\"status\":\"%s\",\"path\":\"",
                    ok ? "ready" : "unready", storage_ok ? "ok" : "fail");
    p = ngx_http_oci_json_escape(p, ctx->storage.dir,
                                 ngx_strlen(ctx->storage.dir));
    p = ngx_sprintf(p, "\",\"free_bytes\":%O,\"min_free_bytes\":%O",
                    ctx->storage.free, olcf->ready_min_free);

    if (!storage_ok) {
        p = ngx_cpymem(p, ",\"error\":\"", sizeof(",\"error\":\"") - 1);
        p = ngx_http_oci_json_escape(p, err, len);
        *p++ = '"';
    }

    p = ngx_sprintf(p, "},\"redis\":{\"status\":\"%s\",\"server\":\"",
                    ctx->redis_error ? "fail" : "ok");
    p = ngx_http_oci_json_escape(p, olcf->redis->addr.data,
                                 olcf->redis->addr.len);
    p = ngx_sprintf(p, "\",\"ms\":%M", ctx->ms);

    if (ctx->redis_error) {
        p = ngx_sprintf(p, ",\"error\":\"%s", ctx->redis_error);

        if (ctx->redis_reply.len) {
            p = ngx_cpymem(p, ": ", 2);
            p = ngx_http_oci_json_escape(p, ctx->redis_reply.data,
                                         ctx->redis_reply.len);
        }

        *p++ = '"';
    }

    p = ngx_cpymem(p, "}}}", 3);

    if (!ok) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: not ready: %*s",
                      (size_t) (p - body), body);
    }

    rc = ngx_http_oci_health_send(r, ok ? NGX_HTTP_OK
                                        : NGX_HTTP_SERVICE_UNAVAILABLE,
                                  body, p - body);

    ngx_http_oci_health_finalize(r, ctx, rc);
}


static void
ngx_http_oci_health_finalize(ngx_http_request_t *r,
    ngx_http_oci_ready_ctx_t *ctx, ngx_int_t rc)
{
    if (ctx->suspended) {
        ngx_http_finalize_request(r, rc);

    } else {
        ctx->rc = rc;                        /* the handler returns it */
    }
}


/* probes must see the answer of now: never cached */

static ngx_int_t
ngx_http_oci_health_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_str_t  value;

    ngx_str_set(&value, "no-store");

    if (ngx_http_oci_add_header(r, "Cache-Control", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&value, "application/json");

    return ngx_http_oci_send_typed(r, status, &value, body, len);
}
