
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_GC_H_INCLUDED_
#define _NGX_HTTP_OCI_GC_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_store.h"


/*
 * Online garbage collection (docs/gc.md): the collector's passes, one
 * process of all nodes at a time, in ngx_http_oci_gc_sched.c (its Lua in
 * redis/ngx_http_oci_scripts_gc.h, its file system work in
 * store/ngx_http_oci_gc_files.c); its endpoints in ngx_http_oci_gc_api.c.
 */


#define NGX_HTTP_OCI_GC_BATCH   500      /* digests per script */


/* a collector, shared by ngx_http_oci_gc_sched.c and _collect.c */

typedef struct ngx_http_oci_gc_s  ngx_http_oci_gc_t;

typedef void (*ngx_http_oci_gc_next_pt)(ngx_http_oci_gc_t *s);

struct ngx_http_oci_gc_s {
    ngx_http_oci_loc_conf_t    *conf;
    ngx_log_t                  *log;
    ngx_event_t                 timer;
    ngx_msec_t                  tick;

    ngx_str_t                   identity;
    ngx_str_t                   holder;      /* <identity>:<pid>:gc */
    ngx_str_t                   stale;       /* a dead holder's */
    u_char                     *stale_buf;

    /* reported with the next step */
    ngx_uint_t                  freed;
    off_t                       freed_bytes;
    u_char                      finished[32];
    size_t                      finished_len;

    /* the step */
    ngx_msec_t                  step_start;
    ngx_pool_t                 *pool;
    ngx_http_oci_gc_fs_t        fs;
    ngx_uint_t                  next;        /* the batch's first file */
    ngx_http_oci_gc_next_pt     after;       /* of the file system work */
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
    ngx_thread_task_t          *task;
#endif
    ngx_str_t                   repo;        /* a cluster's: its work */
    ngx_str_t                   work;
    redisReply                 *held;        /* its reply, during WAIT */

    unsigned                    dry:1;
    unsigned                    walk:1;
    unsigned                    exiting:1;
    unsigned                    repo_done:1; /* this step did a repo's */
};


/* ngx_http_oci_gc_sched.c */
void ngx_http_oci_gc_fs(ngx_http_oci_gc_t *s, ngx_http_oci_gc_op_e op,
    ngx_http_oci_gc_next_pt after);
void ngx_http_oci_gc_end(ngx_http_oci_gc_t *s, ngx_msec_t after);
void ngx_http_oci_gc_step(ngx_http_oci_gc_t *s, redisReply *repo);

/* ngx_http_oci_gc_cluster.c: a repository's work, in its slot */
ngx_int_t ngx_http_oci_gc_repo(ngx_http_oci_gc_t *s, redisReply *reply);

/* ngx_http_oci_gc_collect.c: what a step found, checked and collected */
ngx_int_t ngx_http_oci_gc_files(ngx_http_oci_gc_t *s, redisReply *reply,
    ngx_uint_t from);
void ngx_http_oci_gc_walked(ngx_http_oci_gc_t *s);
void ngx_http_oci_gc_trash(ngx_http_oci_gc_t *s);
void ngx_http_oci_gc_measured(ngx_http_oci_gc_t *s);


/* GET /v2/_gc, POST /v2/_gc/run, GET /v2/<name>/_gc/usage */
ngx_int_t ngx_http_oci_gc(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx);

/* the collector's keys, "<prefix>gc:<suffix>" */
void ngx_http_oci_gc_key(ngx_http_oci_args_t *a, ngx_http_oci_loc_conf_t *c,
    char *suffix);

/* one collector per Redis and key prefix, in worker 0 of each node */
char *ngx_http_oci_gc_add(ngx_conf_t *cf, ngx_http_oci_loc_conf_t *conf,
    ngx_array_t *collectors, ngx_http_oci_storage_t *st);
void ngx_http_oci_gc_start(ngx_array_t *collectors, ngx_log_t *log,
    ngx_str_t *identity);
void ngx_http_oci_gc_stop(ngx_array_t *collectors);


#endif /* _NGX_HTTP_OCI_GC_H_INCLUDED_ */
