
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_OBSERVE_H_INCLUDED_
#define _NGX_HTTP_OCI_OBSERVE_H_INCLUDED_


/*
 * Seeing the registry: Prometheus metrics from counters in one shared
 * memory zone (every worker's traffic in one answer), liveness and
 * readiness checks.  The third module of the library,
 * ngx_http_oci_observe_module; the other subsystems only count into the
 * structures their own headers define (ngx_http_oci_redis_stats_t,
 * ngx_http_oci_auth_stats_t), which this one places in the zone.
 */


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_auth.h"
#include "ngx_http_oci_events.h"


/* what a request is counted under: the endpoint families of the API */
typedef enum {
    NGX_HTTP_OCI_FAM_BASE = 0,
    NGX_HTTP_OCI_FAM_CATALOG,
    NGX_HTTP_OCI_FAM_TAGS,
    NGX_HTTP_OCI_FAM_MANIFESTS,
    NGX_HTTP_OCI_FAM_BLOBS,
    NGX_HTTP_OCI_FAM_UPLOADS,
    NGX_HTTP_OCI_FAM_REFERRERS,
    NGX_HTTP_OCI_FAM_LIFECYCLE,
    NGX_HTTP_OCI_FAM_GC,
    NGX_HTTP_OCI_FAM_UNKNOWN,                /* no such endpoint */
    NGX_HTTP_OCI_FAM_N
} ngx_http_oci_family_e;

typedef enum {
    NGX_HTTP_OCI_METH_GET = 0,
    NGX_HTTP_OCI_METH_HEAD,
    NGX_HTTP_OCI_METH_PUT,
    NGX_HTTP_OCI_METH_POST,
    NGX_HTTP_OCI_METH_PATCH,
    NGX_HTTP_OCI_METH_DELETE,
    NGX_HTTP_OCI_METH_OTHER,
    NGX_HTTP_OCI_METH_N
} ngx_http_oci_method_e;

/* 1xx to 5xx, and anything else (index 0) */
#define NGX_HTTP_OCI_CLASS_N         6

/* request durations: nginx's clock has milliseconds */
#define NGX_HTTP_OCI_DURATION_MS                                              \
    { 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 }
#define NGX_HTTP_OCI_DURATION_N      12

/*
 * Process slots: each worker counts its gauges (uploads in flight, its
 * Redis connections) in a slot of its own, so that a worker that dies
 * takes its share with it: a slot whose process is gone is not summed.
 * Enough for the workers of a reload and of the one before.
 */
#define NGX_HTTP_OCI_PROCS           256


typedef struct {
    ngx_atomic_t                requests[NGX_HTTP_OCI_FAM_N]
                                        [NGX_HTTP_OCI_METH_N]
                                        [NGX_HTTP_OCI_CLASS_N];
    ngx_atomic_t                duration[NGX_HTTP_OCI_FAM_N]
                                        [NGX_HTTP_OCI_DURATION_N + 1];
    ngx_atomic_t                duration_ms[NGX_HTTP_OCI_FAM_N];
    ngx_atomic_t                received[NGX_HTTP_OCI_FAM_N];
    ngx_atomic_t                sent[NGX_HTTP_OCI_FAM_N];
} ngx_http_oci_http_stats_t;


typedef struct {
    ngx_atomic_t                pid;         /* 0: free */
    ngx_atomic_t                uploads;     /* requests with a body */
    ngx_atomic_t                redis_up[1]; /* one per Redis server */
} ngx_http_oci_proc_t;


/*
 * Pulls and pushes of one repository: an open-addressing table, a slot
 * taken by whoever counts a new name first (state 0 -> 1, the name is
 * written, 1 -> 2), at most repositories_max of them; the rest count as
 * one.
 */
typedef struct {
    ngx_atomic_t                state;
    ngx_uint_t                  hash;
    ngx_atomic_t                pulls;
    ngx_atomic_t                pushes;
    size_t                      len;
    u_char                      name[NGX_HTTP_OCI_MAX_NAME];
} ngx_http_oci_repo_stats_t;


/*
 * The zone: this header, then the Redis servers' counters, the process
 * slots and the repository table
 */
typedef struct {
    uint32_t                    layout;      /* what it was laid out for */
    ngx_http_oci_http_stats_t   http;
    ngx_http_oci_auth_stats_t   auth;
    ngx_http_oci_lc_stats_t     lifecycle;
    ngx_http_oci_gc_stats_t     gc;
    ngx_http_oci_mirror_stats_t mirror;
    ngx_atomic_t                repos_used;
    ngx_atomic_t                other_pulls;
    ngx_atomic_t                other_pushes;
} ngx_http_oci_observed_t;


typedef struct {
    ngx_flag_t                  metrics;     /* some location serves them */
    ngx_uint_t                  repos_max;
    ngx_array_t                 endpoints;   /* ngx_http_oci_endpoint_t */
    ngx_cycle_t                *cycle;
    ngx_shm_zone_t             *zone;
    uint32_t                    layout;
    size_t                      bytes;       /* of the zone's block */

    /* in the zone, NULL without metrics */
    ngx_http_oci_observed_t    *sh;
    ngx_http_oci_redis_stats_t *redis;       /* [nredis] */
    ngx_uint_t                  nredis;
    ngx_http_oci_endpoint_stats_t  *events;  /* [endpoints.nelts] */
    u_char                     *procs;       /* [NGX_HTTP_OCI_PROCS] */
    size_t                      proc_size;
    ngx_http_oci_repo_stats_t  *repos;       /* [nrepos], a power of 2 */
    ngx_uint_t                  nrepos;

    ngx_http_oci_proc_t        *self;        /* this worker's slot */
} ngx_http_oci_observe_main_conf_t;


typedef struct {
    ngx_flag_t                  ready;       /* oci_registry_ready here */
    ngx_msec_t                  ready_timeout;
    off_t                       ready_min_free;

    /* what readiness checks: the registry's settings where it is */
    ngx_http_oci_redis_conf_t  *redis;
    u_char                     *uploads;     /* <root>/_uploads */
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
} ngx_http_oci_observe_loc_conf_t;


#define ngx_http_oci_proc(omcf, i)                                            \
    ((ngx_http_oci_proc_t *) ((omcf)->procs + (i) * (omcf)->proc_size))


/* ngx_http_oci_metrics.c: counting */
ngx_int_t ngx_http_oci_metrics_init(ngx_conf_t *cf);
ngx_http_oci_family_e ngx_http_oci_family(ngx_http_oci_route_e type);
ngx_uint_t ngx_http_oci_proc_alive(ngx_http_oci_proc_t *p);

/* ngx_http_oci_metrics_text.c: the exposition */
ngx_int_t ngx_http_oci_metrics_handler(ngx_http_request_t *r);

/* ngx_http_oci_health.c */
ngx_int_t ngx_http_oci_live_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oci_ready_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_oci_observe_module;


#endif /* _NGX_HTTP_OCI_OBSERVE_H_INCLUDED_ */
