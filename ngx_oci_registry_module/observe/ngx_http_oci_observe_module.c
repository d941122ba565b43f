
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_observe.h"


/*
 * ngx_http_oci_observe_module: the directives of metrics and health, the
 * shared memory zone the counters live in, and each worker's slot in it.
 * Counting is ngx_http_oci_metrics.c, the exposition
 * ngx_http_oci_metrics_text.c, the checks ngx_http_oci_health.c.
 */


static void *ngx_http_oci_observe_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_oci_observe_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_oci_observe_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oci_observe_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_oci_observe_handler_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_oci_observe_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_oci_observe_zone_init(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_oci_observe_attach(ngx_http_oci_observe_main_conf_t *omcf);
static ngx_int_t ngx_http_oci_observe_init_process(ngx_cycle_t *cycle);
static void ngx_http_oci_observe_slot(ngx_cycle_t *cycle,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_observe_exit_process(ngx_cycle_t *cycle);


/* the directive's handler, by the directive */
enum {
    NGX_HTTP_OCI_OBSERVE_METRICS = 0,
    NGX_HTTP_OCI_OBSERVE_LIVE,
    NGX_HTTP_OCI_OBSERVE_READY
};


static ngx_command_t  ngx_http_oci_observe_commands[] = {

    { ngx_string("oci_registry_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_observe_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_OCI_OBSERVE_METRICS,
      NULL },

    { ngx_string("oci_registry_metrics_repositories"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_oci_observe_main_conf_t, repos_max),
      NULL },

    { ngx_string("oci_registry_events_endpoint"),
      NGX_HTTP_SRV_CONF|NGX_CONF_2MORE,
      ngx_http_oci_events_endpoint,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_live"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_observe_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_OCI_OBSERVE_LIVE,
      NULL },

    { ngx_string("oci_registry_ready"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_observe_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_OCI_OBSERVE_READY,
      NULL },

    { ngx_string("oci_registry_ready_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_observe_loc_conf_t, ready_timeout),
      NULL },

    { ngx_string("oci_registry_ready_min_free"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_observe_loc_conf_t, ready_min_free),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oci_observe_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_oci_observe_postconfiguration, /* postconfiguration */

    ngx_http_oci_observe_create_main_conf, /* create main configuration */
    ngx_http_oci_observe_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oci_observe_create_loc_conf,  /* create location configuration */
    ngx_http_oci_observe_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_oci_observe_module = {
    NGX_MODULE_V1,
    &ngx_http_oci_observe_module_ctx,      /* module context */
    ngx_http_oci_observe_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_oci_observe_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_oci_observe_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_oci_observe_zone_name =
    ngx_string("oci_registry_metrics");


static void *
ngx_http_oci_observe_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oci_observe_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_observe_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    omcf->repos_max = NGX_CONF_UNSET_UINT;
    omcf->cycle = cf->cycle;

    if (ngx_array_init(&omcf->endpoints, cf->pool, 1,
                       sizeof(ngx_http_oci_endpoint_t))
        != NGX_OK)
    {
        return NULL;
    }

    return omcf;
}


/*
 * After the http block: the number of Redis servers is known, so the
 * zone's layout is.  A reload with the same layout keeps the counters
 * (Prometheus counters must not reset with a reload); another layout
 * starts them again.
 */

static char *
ngx_http_oci_observe_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_oci_observe_main_conf_t  *omcf = conf;

    u_char                      *p;
    size_t                       size;
    ngx_uint_t                   i;
    ngx_http_oci_main_conf_t    *rmcf;
    ngx_http_oci_redis_conf_t  **rcf;
    ngx_http_oci_endpoint_t     *ep;
    u_char                       sig[NGX_INT_T_LEN * 5];

    ngx_conf_init_uint_value(omcf->repos_max, 100);

    if (!omcf->metrics) {
        return NGX_CONF_OK;
    }

    if (omcf->repos_max == 0 || omcf->repos_max > 100000) {
        return "oci_registry_metrics_repositories must be 1 to 100000";
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oci_registry_module);

    omcf->nredis = rmcf->redis.nelts;
    omcf->proc_size = ngx_align(offsetof(ngx_http_oci_proc_t, redis_up)
                                + ngx_max(omcf->nredis, 1)
                                  * sizeof(ngx_atomic_t),
                                NGX_ALIGNMENT);

    for (omcf->nrepos = 16; omcf->nrepos < 2 * omcf->repos_max;
         omcf->nrepos <<= 1)
    {
        /* a power of 2 at least twice the cap: short probes */
    }

    omcf->bytes = ngx_align(sizeof(ngx_http_oci_observed_t), NGX_ALIGNMENT)
                  + omcf->nredis * sizeof(ngx_http_oci_redis_stats_t)
                  + omcf->endpoints.nelts
                    * sizeof(ngx_http_oci_endpoint_stats_t)
                  + NGX_HTTP_OCI_PROCS * omcf->proc_size
                  + omcf->nrepos * sizeof(ngx_http_oci_repo_stats_t);

    /* the layout's signature: the sizes, and which server is which */

    p = ngx_sprintf(sig, "%uz %ui %ui %ui", omcf->bytes, omcf->nredis,
                    omcf->nrepos, omcf->endpoints.nelts);
    omcf->layout = ngx_crc32_short(sig, p - sig);

    rcf = rmcf->redis.elts;

    for (i = 0; i < omcf->nredis; i++) {
        omcf->layout ^= ngx_crc32_short(rcf[i]->addr.data, rcf[i]->addr.len)
                        + i;
    }

    ep = omcf->endpoints.elts;

    for (i = 0; i < omcf->endpoints.nelts; i++) {
        omcf->layout ^= ngx_crc32_short(ep[i].name.data, ep[i].name.len)
                        + 1000 + i;
    }

    /* the slab pool's own header and page table come out of the zone */

    size = ngx_align(omcf->bytes + 16 * ngx_pagesize, ngx_pagesize);

    omcf->zone = ngx_shared_memory_add(cf, &ngx_http_oci_observe_zone_name,
                                       size, &ngx_http_oci_observe_module);
    if (omcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (omcf->zone->data) {
        return "the zone \"oci_registry_metrics\" is already used";
    }

    omcf->zone->init = ngx_http_oci_observe_zone_init;
    omcf->zone->data = omcf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oci_observe_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_oci_observe_main_conf_t  *old = data;

    ngx_slab_pool_t                   *shpool;
    ngx_http_oci_observe_main_conf_t  *omcf;

    omcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (old && old->sh && old->bytes == omcf->bytes) {
        omcf->sh = old->sh;

        if (omcf->sh->layout != omcf->layout) {
            ngx_memzero(omcf->sh, omcf->bytes);
            omcf->sh->layout = omcf->layout;
        }

        ngx_http_oci_observe_attach(omcf);
        return NGX_OK;
    }

    omcf->sh = ngx_slab_calloc(shpool, omcf->bytes);
    if (omcf->sh == NULL) {
        return NGX_ERROR;
    }

    omcf->sh->layout = omcf->layout;
    shpool->data = omcf->sh;

    ngx_http_oci_observe_attach(omcf);

    return NGX_OK;
}


/* the zone's parts, and the other subsystems' counters pointed into it */

static void
ngx_http_oci_observe_attach(ngx_http_oci_observe_main_conf_t *omcf)
{
    u_char                          *p;
    ngx_uint_t                       i;
    ngx_http_oci_endpoint_t         *ep;
    ngx_http_oci_main_conf_t        *rmcf;
    ngx_http_oci_redis_conf_t      **rcf;
    ngx_http_oci_auth_main_conf_t   *amcf;

    p = (u_char *) omcf->sh
        + ngx_align(sizeof(ngx_http_oci_observed_t), NGX_ALIGNMENT);

    omcf->redis = (ngx_http_oci_redis_stats_t *) p;
    p += omcf->nredis * sizeof(ngx_http_oci_redis_stats_t);

    omcf->events = (ngx_http_oci_endpoint_stats_t *) p;
    p += omcf->endpoints.nelts * sizeof(ngx_http_oci_endpoint_stats_t);

    ep = omcf->endpoints.elts;

    for (i = 0; i < omcf->endpoints.nelts; i++) {
        ep[i].stats = &omcf->events[i];
    }

    omcf->procs = p;
    p += NGX_HTTP_OCI_PROCS * omcf->proc_size;

    omcf->repos = (ngx_http_oci_repo_stats_t *) p;

    rmcf = ngx_http_cycle_get_module_main_conf(omcf->cycle,
                                               ngx_http_oci_registry_module);
    rcf = rmcf->redis.elts;

    for (i = 0; i < omcf->nredis; i++) {
        rcf[i]->stats = &omcf->redis[i];
    }

    rmcf->lc_stats = &omcf->sh->lifecycle;
    rmcf->gc_stats = &omcf->sh->gc;
    rmcf->mirror_stats = &omcf->sh->mirror;

    amcf = ngx_http_cycle_get_module_main_conf(omcf->cycle,
                                               ngx_http_oci_auth_module);
    amcf->stats = &omcf->sh->auth;
}


static void *
ngx_http_oci_observe_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oci_observe_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_observe_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->ready_timeout = NGX_CONF_UNSET_MSEC;
    conf->ready_min_free = NGX_CONF_UNSET;

    return conf;
}


/*
 * Readiness checks what the registry would use here: the Redis server
 * and storage root the location inherits (set them at server level to
 * share them with the registry's location).  The registry's own merge
 * has run for every location before this one (modules merge in turn).
 */

static char *
ngx_http_oci_observe_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_oci_observe_loc_conf_t  *prev = parent;
    ngx_http_oci_observe_loc_conf_t  *conf = child;

    u_char                   *p;
    ngx_str_t                 root;
    ngx_http_oci_loc_conf_t  *rlcf;

    ngx_conf_merge_msec_value(conf->ready_timeout, prev->ready_timeout, 1000);
    ngx_conf_merge_off_value(conf->ready_min_free, prev->ready_min_free,
                             64 * 1024 * 1024);

    if (!conf->ready) {
        return NGX_CONF_OK;
    }

    rlcf = ngx_http_conf_get_module_loc_conf(cf,
                                             ngx_http_oci_registry_module);

    if (rlcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oci_registry_ready\" needs "
                           "\"oci_registry_redis\" to be set");
        return NGX_CONF_ERROR;
    }

    conf->redis = rlcf->redis;

    root = rlcf->storage;

    if (ngx_conf_full_name(cf->cycle, &root, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    conf->uploads = ngx_pnalloc(cf->pool, root.len + sizeof("/_uploads"));
    if (conf->uploads == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(conf->uploads, root.data, root.len);
    ngx_memcpy(p, "/_uploads", sizeof("/_uploads"));

#if (NGX_THREADS)
    conf->thread_pool = rlcf->thread_pool;

    if (conf->thread_pool == NULL) {
        conf->thread_pool = ((ngx_http_core_loc_conf_t *)
                             ngx_http_conf_get_module_loc_conf(cf,
                                 ngx_http_core_module))->thread_pool;
    }
#endif

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_observe_handler_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oci_observe_loc_conf_t  *olcf = conf;

    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_oci_observe_main_conf_t  *omcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    switch (cmd->offset) {

    case NGX_HTTP_OCI_OBSERVE_METRICS:
        omcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_oci_observe_module);
        omcf->metrics = 1;
        clcf->handler = ngx_http_oci_metrics_handler;
        break;

    case NGX_HTTP_OCI_OBSERVE_LIVE:
        clcf->handler = ngx_http_oci_live_handler;
        break;

    default: /* NGX_HTTP_OCI_OBSERVE_READY */
        olcf->ready = 1;
        clcf->handler = ngx_http_oci_ready_handler;
        break;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_oci_observe_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_oci_observe_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oci_observe_module);

    if (ngx_http_oci_events_resolve(cf, &omcf->endpoints) != NGX_OK) {
        return NGX_ERROR;
    }

    /* no metrics location: nothing is counted, nothing costs */

    if (!omcf->metrics) {
        return NGX_OK;
    }

    return ngx_http_oci_metrics_init(cf);
}


/*
 * A worker starts the delivery of the endpoints it has (endpoint i is
 * worker i modulo their number's, on every node; the lease decides which
 * node's), and takes a metrics slot.
 */

static ngx_int_t
ngx_http_oci_observe_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i, workers;
    ngx_core_conf_t                   *ccf;
    ngx_http_oci_endpoint_t           *ep;
    ngx_http_oci_main_conf_t          *rmcf;
    ngx_http_oci_observe_main_conf_t  *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_observe_module);
    if (omcf == NULL) {
        return NGX_OK;
    }

    if (omcf->sh) {
        ngx_http_oci_observe_slot(cycle, omcf);
    }

    if (omcf->endpoints.nelts == 0) {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_registry_module);

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    workers = (ngx_process == NGX_PROCESS_SINGLE)
              ? 1 : (ngx_uint_t) ccf->worker_processes;

    ep = omcf->endpoints.elts;

    for (i = 0; i < omcf->endpoints.nelts; i++) {
        if (i % workers == ngx_worker
            && ngx_http_oci_events_start(cycle, &ep[i], &rmcf->identity)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A worker takes a free slot, or the slot of a process that is gone (a
 * worker that crashed); its gauges start at zero.
 */

static void
ngx_http_oci_observe_slot(ngx_cycle_t *cycle,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t                   i, pass;
    ngx_atomic_uint_t            pid;
    ngx_http_oci_proc_t         *p;
    ngx_http_oci_main_conf_t    *rmcf;
    ngx_http_oci_redis_conf_t  **rcf;

    for (pass = 0; pass < 2 && omcf->self == NULL; pass++) {
        for (i = 0; i < NGX_HTTP_OCI_PROCS; i++) {
            p = ngx_http_oci_proc(omcf, i);
            pid = p->pid;

            if ((pass == 0 && pid != 0)
                || (pass == 1 && (pid == 0 || ngx_http_oci_proc_alive(p))))
            {
                continue;
            }

            if (ngx_atomic_cmp_set(&p->pid, pid, (ngx_atomic_uint_t) ngx_pid))
            {
                omcf->self = p;
                break;
            }
        }
    }

    if (omcf->self == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "oci registry: no metrics slot is free, this "
                      "worker's uploads and Redis connections are not "
                      "counted");
        return;
    }

    p = omcf->self;
    p->uploads = 0;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_registry_module);
    rcf = rmcf->redis.elts;

    for (i = 0; i < omcf->nredis; i++) {
        p->redis_up[i] = 0;
        rcf[i]->up = &p->redis_up[i];
    }
}


/* after the registry's exit: its Redis connections are closed by now */

static void
ngx_http_oci_observe_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_oci_endpoint_t            *ep;
    ngx_http_oci_main_conf_t           *rmcf;
    ngx_http_oci_redis_conf_t         **rcf;
    ngx_http_oci_observe_main_conf_t   *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_observe_module);
    if (omcf == NULL) {
        return;
    }

    ep = omcf->endpoints.elts;

    for (i = 0; i < omcf->endpoints.nelts; i++) {
        ngx_http_oci_events_stop(&ep[i]);
    }

    if (omcf->self == NULL) {
        return;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_registry_module);
    rcf = rmcf->redis.elts;

    for (i = 0; i < omcf->nredis; i++) {
        rcf[i]->up = NULL;
        omcf->self->redis_up[i] = 0;
    }

    omcf->self->uploads = 0;

    ngx_memory_barrier();

    omcf->self->pid = 0;
    omcf->self = NULL;
}
