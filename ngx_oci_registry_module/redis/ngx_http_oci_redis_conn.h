
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REDIS_CONN_H_INCLUDED_
#define _NGX_HTTP_OCI_REDIS_CONN_H_INCLUDED_


/* a worker's connection to one server: shared by the adapter's files */


#include "ngx_http_oci_redis.h"


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


typedef struct ngx_http_oci_redis_sentinel_s  ngx_http_oci_redis_sentinel_t;


/* Redis Cluster: its hash slots, and the most masters a worker knows */
#define NGX_HTTP_OCI_REDIS_SLOTS      16384
#define NGX_HTTP_OCI_REDIS_NODES_MAX  64

/* the outboxes' sweep: a SCAN step of this many keys a second */
#define NGX_HTTP_OCI_REDIS_SWEEP_EVERY  1000
#define NGX_HTTP_OCI_REDIS_SWEEP_COUNT  "1000"


/*
 * A worker's view of a cluster: a connection per master it was sent to,
 * and which master serves each slot (an index into "nodes", plus one;
 * 0 for not known, whose commands go to any node for its MOVED)
 */
typedef struct {
    ngx_http_oci_redis_conf_t  *conf;
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_http_oci_redis_t       *nodes[NGX_HTTP_OCI_REDIS_NODES_MAX];
    ngx_uint_t                  nnodes;
    ngx_uint_t                  next;        /* the node asked next */
    ngx_event_t                 refresh;
    ngx_msec_t                  backoff;
    ngx_msec_t                  asked;       /* when, if asking */
    unsigned                    asking:1;    /* CLUSTER SLOTS in flight */
    unsigned                    known:1;     /* a map was loaded */
    unsigned                    exiting:1;

    /* the outboxes' sweep: the node scanned, its SCAN cursor */
    ngx_event_t                 sweep;
    ngx_uint_t                  swept;
    u_char                      cursor[NGX_INT64_LEN + 1];
    u_char                      slots[NGX_HTTP_OCI_REDIS_SLOTS];
} ngx_http_oci_redis_cluster_t;


struct ngx_http_oci_redis_s {
    ngx_http_oci_redis_conf_t  *conf;

    /* the server's address, or the master the sentinels named last */
    ngx_http_oci_redis_addr_t   server;
    u_char                      host[NGX_SOCKADDR_STRLEN + 1];
    ngx_http_oci_redis_sentinel_t  *sentinel;
    ngx_http_oci_redis_cluster_t   *cluster;  /* a node of this cluster */
    u_char                      slot_id;     /* its index there, plus one */

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
    /* writes whose answers wait: for the WAIT in flight, for the next */
    ngx_queue_t                 waiting;
    ngx_queue_t                 queued;

    unsigned                    ready:1;
    unsigned                    exiting:1;
    unsigned                    flushing:1;
    unsigned                    wait_sent:1;

    /* hex SHA1 of each script, for EVALSHA */
    u_char                      sha[NGX_HTTP_OCI_SCRIPT_N][41];
};


/* not a script: a plain command, or one that writes (see "wait") */
#define NGX_HTTP_OCI_REDIS_PLAIN        NGX_HTTP_OCI_SCRIPT_N
#define NGX_HTTP_OCI_REDIS_PLAIN_WRITE  (NGX_HTTP_OCI_SCRIPT_N + 1)


/*
 * A command in flight (ngx_http_oci_redis_command.c).  It is malloc()ed
 * because hiredis may hold it after the request is gone; the request
 * pool cleanup detaches it instead.
 */
typedef struct {
    ngx_http_request_t             *request;
    ngx_http_oci_redis_t           *redis;
    ngx_http_oci_redis_handler_pt   handler;
    ngx_http_oci_redis_fail_pt      fail;

    /* a background command's: no request */
    ngx_http_oci_redis_callback_pt  cb;
    void                           *data;

    ngx_pool_cleanup_t             *cleanup;
    ngx_event_t                     timer;
    uint64_t                        sent;        /* us, if counted */

    /* a script call, kept to retry it as EVAL after NOSCRIPT */
    ngx_uint_t                      script;
    int                             argc;
    const char                    **argv;
    size_t                         *argvlen;

    /* run after a reconnect if this command's reply is lost */
    ngx_http_oci_redis_deferred_t  *undo;

    /* a cluster's: MOVED, ASK and TRYAGAIN followed, and the wait */
    ngx_uint_t                      redirects;
    ngx_event_t                     retry;
} ngx_http_oci_redis_pending_t;


ngx_http_oci_redis_t *ngx_http_oci_redis_new(ngx_pool_t *pool,
    ngx_log_t *log, ngx_http_oci_redis_conf_t *rcf);
ngx_int_t ngx_http_oci_redis_connect(ngx_http_oci_redis_t *redis);
void ngx_http_oci_redis_exit(ngx_http_oci_redis_t *redis);
void ngx_http_oci_redis_schedule(ngx_http_oci_redis_t *redis);
void ngx_http_oci_redis_drop(ngx_http_oci_redis_t *redis);
void ngx_http_oci_redis_move(ngx_http_oci_redis_t *redis, u_char *ip,
    size_t len, int port);
void ngx_http_oci_redis_ev_add_read(void *data);
void ngx_http_oci_redis_ev_del_read(void *data);

/* redis/ngx_http_oci_redis_sentinel.c */
ngx_int_t ngx_http_oci_redis_sentinel_init(ngx_cycle_t *cycle,
    ngx_http_oci_redis_t *redis);
void ngx_http_oci_redis_sentinel_ask(ngx_http_oci_redis_t *redis);
void ngx_http_oci_redis_sentinel_exit(ngx_http_oci_redis_t *redis);
/* redis/ngx_http_oci_redis_command.c */
ngx_int_t ngx_http_oci_redis_send_at(ngx_http_oci_redis_t *redis,
    ngx_http_oci_redis_callback_pt cb, void *data, ngx_uint_t script,
    int argc, const char **argv, size_t *argvlen);
ngx_int_t ngx_http_oci_redis_queue(ngx_http_oci_redis_t *redis,
    ngx_http_oci_redis_pending_t *pending, int argc, const char **argv,
    size_t *argvlen);
/* redis/ngx_http_oci_redis_wait.c */
void ngx_http_oci_redis_wait(ngx_http_request_t *r,
    ngx_http_oci_redis_t *redis, redisReply *reply,
    ngx_http_oci_redis_handler_pt handler, ngx_http_oci_redis_fail_pt fail);
/* redis/ngx_http_oci_redis_cluster.c */
ngx_int_t ngx_http_oci_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_oci_redis_conf_t *rcf);
void ngx_http_oci_redis_cluster_exit(ngx_http_oci_redis_cluster_t *cluster);
ngx_http_oci_redis_t *ngx_http_oci_redis_route(
    ngx_http_oci_redis_conf_t *rcf, int argc, const char **argv,
    size_t *argvlen);
ngx_http_oci_redis_t *ngx_http_oci_redis_redirect(
    ngx_http_oci_redis_cluster_t *cluster, redisReply *reply,
    ngx_uint_t *ask);
void ngx_http_oci_redis_cluster_ready(ngx_http_oci_redis_t *node);
void ngx_http_oci_redis_cluster_lost(ngx_http_oci_redis_t *node);
/* redis/ngx_http_oci_redis_outbox.c */
void ngx_http_oci_redis_outbox_sweep(ngx_event_t *ev);
/* redis/ngx_http_oci_redis_kept.c */
ngx_http_oci_redis_deferred_t *ngx_http_oci_redis_format(
    ngx_http_oci_redis_t *redis, ngx_http_oci_args_t *cmd);
void ngx_http_oci_redis_defer(ngx_http_oci_redis_deferred_t *d);
void ngx_http_oci_redis_send_deferred(ngx_http_oci_redis_t *redis);


#endif /* _NGX_HTTP_OCI_REDIS_CONN_H_INCLUDED_ */
