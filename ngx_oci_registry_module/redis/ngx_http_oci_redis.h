
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REDIS_H_INCLUDED_
#define _NGX_HTTP_OCI_REDIS_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_args.h"
#include "ngx_http_oci_scripts.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


/*
 * The asynchronous Redis client on nginx's event loop: one hiredis
 * context per server and worker.  Generic: it knows requests, not the
 * registry; what a failed command means for a request is the failure
 * handler's (ngx_http_oci_redis_conf_t.fail) to say.
 */


typedef struct ngx_http_oci_redis_s  ngx_http_oci_redis_t;


/*
 * Called with the reply of a command issued for a request.  The reply is
 * freed by hiredis when the handler returns, so anything kept must be
 * copied.  The handler owns the request from then on: it must finalize it
 * or issue another command.  A failed or timed out command never reaches
 * the handler: the failure handler of the server answers the request.
 */
typedef void (*ngx_http_oci_redis_handler_pt)(ngx_http_request_t *r,
    redisReply *reply);

/* answers a request whose command failed or timed out (finalizes it) */
typedef void (*ngx_http_oci_redis_fail_pt)(ngx_http_request_t *r);

/*
 * Called with the reply of a command issued for no request (background
 * work), or with NULL when it failed, timed out or was not sent; not
 * called when the worker is exiting.  The reply is freed after it.
 */
typedef void (*ngx_http_oci_redis_callback_pt)(void *data, redisReply *reply);


/*
 * What a server's commands cost and how they fail, counted by every worker
 * into memory the observer shares (observe/): NULL when metrics are off.
 * The latency histogram's bounds, in microseconds: a reply falls into the
 * first bucket whose bound is not below its latency, or into the last.
 */

#define NGX_HTTP_OCI_REDIS_LATENCY_US                                         \
    { 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,          \
      250000, 500000, 1000000, 2500000 }
#define NGX_HTTP_OCI_REDIS_LATENCY_N  14

typedef enum {
    NGX_HTTP_OCI_REDIS_ERR_REPLY = 0,        /* an error reply */
    NGX_HTTP_OCI_REDIS_ERR_TIMEOUT,          /* no reply in time */
    NGX_HTTP_OCI_REDIS_ERR_LOST,             /* the connection went */
    NGX_HTTP_OCI_REDIS_ERR_UNAVAILABLE,      /* not connected: not sent */
    NGX_HTTP_OCI_REDIS_ERR_N
} ngx_http_oci_redis_err_e;

typedef struct {
    ngx_atomic_t                latency[NGX_HTTP_OCI_REDIS_LATENCY_N + 1];
    ngx_atomic_t                latency_us;  /* the sum */
    ngx_atomic_t                errors[NGX_HTTP_OCI_REDIS_ERR_N];
    ngx_atomic_t                reconnects;  /* attempts after a loss */
} ngx_http_oci_redis_stats_t;


typedef struct {
    u_char                     *host;        /* NUL-terminated IP or path */
    int                         port;
    unsigned                    unix_socket:1;
} ngx_http_oci_redis_addr_t;


/*
 * A server is one address, or a master found through sentinels (which
 * each worker asks, and then follows from master to master), or a Redis
 * Cluster found from its seed nodes (each worker loads the slot map and
 * sends each command to the master of its first key's slot).  With "wait"
 * a write that a request's answer acknowledges is followed by WAIT: the
 * answer waits until that many replicas have it.
 */

struct ngx_http_oci_redis_conf_s {
    ngx_str_t                   addr;        /* as written, for logs */
    ngx_http_oci_redis_addr_t   server;      /* NULL host with sentinels */
    ngx_array_t                *sentinels;   /* ngx_http_oci_redis_addr_t */
    ngx_str_t                   master;      /* the sentinels' name of it */
    ngx_str_t                   sentinel_password;
    ngx_array_t                *cluster;     /* seeds: ..._addr_t */
    ngx_uint_t                  backlog;     /* cluster: events kept */
    ngx_int_t                   db;
    ngx_str_t                   password;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;
    ngx_uint_t                  wait;        /* replicas, 0: no WAIT */
    ngx_msec_t                  wait_timeout;
    const char                 *wait_argv[3];
    size_t                      wait_lens[3];
    ngx_http_oci_redis_fail_pt  fail;

    ngx_http_oci_redis_t       *conn;        /* per worker, init_process */

    /* set by the observer: shared counters, and this process's 0 or 1 */
    ngx_http_oci_redis_stats_t *stats;
    ngx_atomic_t               *up;
};


char *ngx_http_oci_redis_parse(ngx_conf_t *cf,
    ngx_http_oci_redis_conf_t **out);
ngx_int_t ngx_http_oci_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_oci_redis_conf_t *rcf);
void ngx_http_oci_redis_exit_process(ngx_http_oci_redis_conf_t *rcf);

/*
 * Sends one command for the request.  Returns NGX_OK when the command is
 * queued (the handler will run later), or NGX_ERROR when Redis cannot be
 * reached now (the caller answers 503).
 */
ngx_int_t ngx_http_oci_redis_command(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_args_t *args);

/*
 * The same, but a failure (not sent, lost, timed out) is answered by
 * "fail" instead of the server's failure handler: a health check says
 * in its own words that Redis failed.
 */
ngx_int_t ngx_http_oci_redis_probe(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_redis_fail_pt fail, ngx_http_oci_args_t *args);

/*
 * A command, or one of our scripts, for background work: "cb" gets the
 * reply, or NULL.  NGX_ERROR when it cannot be sent now (cb is not
 * called then).  The arguments must stay valid until cb runs: NOSCRIPT,
 * and a cluster's MOVED, ASK and TRYAGAIN, send them again (a request's
 * command likewise, in the request's pool, while it waits).
 */
ngx_int_t ngx_http_oci_redis_call(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_redis_callback_pt cb, void *data, ngx_http_oci_args_t *args);
ngx_int_t ngx_http_oci_redis_call_script(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_redis_callback_pt cb, void *data,
    ngx_http_oci_script_e script, ngx_uint_t nkeys,
    ngx_http_oci_args_t *args);

/* with "wait": WAIT on the master of "key", for background writes there */
ngx_int_t ngx_http_oci_redis_call_wait(ngx_http_oci_redis_conf_t *rcf,
    ngx_str_t *key, ngx_http_oci_redis_callback_pt cb, void *data);

/*
 * On a cluster: the outbox of the repository whose key base is "base"
 * goes to the global slot now, in the background
 */
typedef void (*ngx_http_oci_redis_done_pt)(void *data);

void ngx_http_oci_redis_outbox(ngx_http_oci_redis_conf_t *rcf, u_char *base,
    size_t len);
ngx_int_t ngx_http_oci_redis_outbox_then(ngx_http_oci_redis_conf_t *rcf,
    u_char *base, size_t len, ngx_http_oci_redis_done_pt then, void *data);

/* a reply that outlives its callback, in the pool */
redisReply *ngx_http_oci_redis_copy(ngx_pool_t *pool, redisReply *reply);

/*
 * A command that changes what a request acknowledges (an HDEL): with
 * "wait" its reply reaches the handler only once the replicas have it.
 * Our scripts say so themselves (ngx_http_oci_script_writes).
 */
ngx_int_t ngx_http_oci_redis_write(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_args_t *args);

/*
 * Sends a command whose reply nobody waits for (cleanups from places
 * where no request can wait, such as a pool cleanup).  While Redis is
 * away it is kept (a bounded number of them) and sent after the
 * reconnect.
 */
void ngx_http_oci_redis_fire(ngx_http_oci_redis_conf_t *rcf,
    ngx_http_oci_args_t *args);

/*
 * Runs one of our Lua scripts with EVALSHA (EVAL when Redis does not know
 * it yet).  The arguments are the keys, then the script's arguments; they
 * must stay valid until the handler runs (a builder on the request pool).
 */
ngx_int_t ngx_http_oci_redis_script(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, ngx_uint_t nkeys,
    ngx_http_oci_args_t *args);

/*
 * The same, with a command that undoes it if its reply is lost (a timeout
 * or a dropped connection: it may or may not have run).  The undo is
 * formatted at once and sent after the reconnect.
 */
ngx_int_t ngx_http_oci_redis_script_undo(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, ngx_uint_t nkeys,
    ngx_http_oci_args_t *args, ngx_http_oci_args_t *undo);


#endif /* _NGX_HTTP_OCI_REDIS_H_INCLUDED_ */
