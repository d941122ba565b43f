
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * Commands that must not be forgotten while Redis is away: the
 * fire-and-forget ones (a lock released from a pool cleanup) and the
 * undo of a command whose reply was lost, formatted by hiredis and kept
 * (a bounded number per worker and server) for the next connection,
 * which sends them right behind its setup (ngx_http_oci_redis.c).
 */


static void ngx_http_oci_redis_deferred_reply(redisAsyncContext *ac,
    void *rep, void *data);


/*
 * Not connected now, or the connection drops before the reply: the
 * command is kept and sent after the reconnect (see ..._deferred_t).
 */

void
ngx_http_oci_redis_fire(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_args_t *args)
{
    ngx_http_oci_redis_t           *redis;
    ngx_http_oci_redis_deferred_t  *d;

    if (args->failed) {
        return;
    }

    redis = ngx_http_oci_redis_route(rcf, (int) args->n, args->argv,
                                     args->lens);

    if (redis == NULL) {
        /* a cluster with no node up: kept by the first seed's */
        redis = rcf->conn;
    }

    if (redis == NULL || redis->exiting) {
        return;
    }

    d = ngx_http_oci_redis_format(redis, args);
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


ngx_http_oci_redis_deferred_t *
ngx_http_oci_redis_format(ngx_http_oci_redis_t *redis,
    ngx_http_oci_args_t *cmd)
{
    int                             len;
    ngx_http_oci_redis_deferred_t  *d;

    d = ngx_alloc(sizeof(ngx_http_oci_redis_deferred_t), redis->log);
    if (d == NULL) {
        return NULL;
    }

    len = redisFormatCommandArgv(&d->cmd, (int) cmd->n, cmd->argv,
                                 cmd->lens);
    if (len <= 0) {
        ngx_free(d);
        return NULL;
    }

    d->redis = redis;
    d->len = len;

    return d;
}


/* keeps a command for the next connection; bounded, the oldest stay */

void
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


void
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
