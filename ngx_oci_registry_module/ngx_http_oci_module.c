
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_common.h"
#include "ngx_http_oci_router.h"
#include "ngx_http_oci_body.h"
#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_store.h"
#include "ngx_http_oci_redis.h"
#include "ngx_http_oci_redis_keys.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_lifecycle.h"
#include "ngx_http_oci_gc.h"


/*
 * ngx_http_oci_registry_module: the directives, the configuration, and
 * the processes' start and end.  The request path starts in
 * api/ngx_http_oci_router.c; docs/architecture.md has the map.
 */


static void *ngx_http_oci_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_oci_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oci_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_oci_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_key_prefix(ngx_conf_t *cf, void *post, void *data);
static char *ngx_http_oci_thread_pool_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_oci_postconfiguration(ngx_conf_t *cf);
#if (NGX_THREADS)
static ngx_thread_pool_t *ngx_http_oci_conf_thread_pool(ngx_conf_t *cf,
    ngx_http_oci_loc_conf_t *conf);
#endif
static ngx_int_t ngx_http_oci_init_process(ngx_cycle_t *cycle);
static void ngx_http_oci_exit_process(ngx_cycle_t *cycle);


static ngx_conf_post_handler_pt  ngx_http_oci_key_prefix_p =
    ngx_http_oci_key_prefix;


static ngx_command_t  ngx_http_oci_registry_commands[] = {

    { ngx_string("oci_registry"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_registry,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_storage"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, storage),
      NULL },

    { ngx_string("oci_registry_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_oci_redis_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_key_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, key_prefix),
      &ngx_http_oci_key_prefix_p },

    { ngx_string("oci_registry_manifest_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, manifest_max_size),
      NULL },

    { ngx_string("oci_registry_upload_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, upload_ttl),
      NULL },

    { ngx_string("oci_registry_durable"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, durable),
      NULL },

    { ngx_string("oci_registry_delete"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, delete),
      NULL },

    { ngx_string("oci_registry_lifecycle_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_oci_lc_policy_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_lifecycle_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, lifecycle_interval),
      NULL },

    { ngx_string("oci_registry_gc"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, gc),
      NULL },

    { ngx_string("oci_registry_gc_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, gc_interval),
      NULL },

    { ngx_string("oci_registry_gc_grace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, gc_grace),
      NULL },

    { ngx_string("oci_registry_gc_pace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, gc_pace),
      NULL },

    { ngx_string("oci_registry_gc_referrers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, gc_referrers),
      NULL },

    { ngx_string("oci_registry_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oci_thread_pool_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_referrers_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, referrers_max),
      NULL },

    { ngx_string("oci_registry_uploads_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, uploads_max),
      NULL },

    { ngx_string("oci_registry_events"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, events),
      NULL },

    { ngx_string("oci_registry_events_pulls"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, events_pulls),
      NULL },

    { ngx_string("oci_registry_events_backlog"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, events_backlog),
      NULL },

    { ngx_string("oci_registry_events_actor"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, events_actor),
      NULL },

    { ngx_string("oci_registry_auto_mount"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_loc_conf_t, auto_mount),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oci_registry_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_oci_postconfiguration,        /* postconfiguration */

    ngx_http_oci_create_main_conf,         /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oci_create_loc_conf,          /* create location configuration */
    ngx_http_oci_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_oci_registry_module = {
    NGX_MODULE_V1,
    &ngx_http_oci_registry_module_ctx,     /* module context */
    ngx_http_oci_registry_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_oci_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_oci_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_oci_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_oci_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    omcf->request_id = NGX_CONF_UNSET;

    if (ngx_array_init(&omcf->redis, cf->pool, 1,
                       sizeof(ngx_http_oci_redis_conf_t *))
        != NGX_OK
        || ngx_array_init(&omcf->storages, cf->pool, 1,
                          sizeof(ngx_http_oci_storage_t))
           != NGX_OK
        || ngx_array_init(&omcf->lifecycles, cf->pool, 1, sizeof(void *))
           != NGX_OK
        || ngx_array_init(&omcf->collectors, cf->pool, 1, sizeof(void *))
           != NGX_OK)
    {
        return NULL;
    }

    return omcf;
}


static void *
ngx_http_oci_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oci_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->storage = { 0, NULL };
     *     conf->key_prefix = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->redis = NGX_CONF_UNSET_PTR;
    conf->manifest_max_size = NGX_CONF_UNSET_SIZE;
    conf->upload_ttl = NGX_CONF_UNSET;
    conf->durable = NGX_CONF_UNSET;
    conf->delete = NGX_CONF_UNSET;
    conf->auto_mount = NGX_CONF_UNSET;
    conf->referrers_max = NGX_CONF_UNSET;
    conf->uploads_max = NGX_CONF_UNSET;
    conf->events = NGX_CONF_UNSET;
    conf->events_pulls = NGX_CONF_UNSET;
    conf->events_backlog = NGX_CONF_UNSET;
    conf->events_actor = NGX_CONF_UNSET_PTR;
    conf->lifecycle = NGX_CONF_UNSET_PTR;
    conf->lifecycle_interval = NGX_CONF_UNSET_MSEC;
    conf->gc = NGX_CONF_UNSET;
    conf->gc_interval = NGX_CONF_UNSET_MSEC;
    conf->gc_grace = NGX_CONF_UNSET;
    conf->gc_referrers = NGX_CONF_UNSET;
    conf->gc_pace = NGX_CONF_UNSET;
#if (NGX_THREADS)
    conf->thread_pool = NGX_CONF_UNSET_PTR;
#endif

    return conf;
}


static char *
ngx_http_oci_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_oci_loc_conf_t  *prev = parent;
    ngx_http_oci_loc_conf_t  *conf = child;

    u_char                    *p;
    ngx_str_t                  name;
    ngx_uint_t                 i;
    ngx_http_oci_storage_t    *st;
    ngx_http_oci_main_conf_t  *omcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->storage, prev->storage, "oci_registry");
    ngx_conf_merge_str_value(conf->key_prefix, prev->key_prefix, "oci:");
    ngx_conf_merge_ptr_value(conf->redis, prev->redis, NULL);

    if (conf->redis != NULL && ngx_http_oci_key_global(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_size_value(conf->manifest_max_size,
                              prev->manifest_max_size, 4 * 1024 * 1024);
    ngx_conf_merge_sec_value(conf->upload_ttl, prev->upload_ttl, 86400);
    ngx_conf_merge_value(conf->durable, prev->durable, 1);
    ngx_conf_merge_value(conf->delete, prev->delete, 1);
    ngx_conf_merge_value(conf->auto_mount, prev->auto_mount, 0);
    ngx_conf_merge_value(conf->referrers_max, prev->referrers_max, 10000);
    ngx_conf_merge_value(conf->uploads_max, prev->uploads_max, 1000);
    ngx_conf_merge_value(conf->events, prev->events, 0);
    ngx_conf_merge_value(conf->events_pulls, prev->events_pulls, 0);
    ngx_conf_merge_value(conf->events_backlog, prev->events_backlog, 10000);
    ngx_conf_merge_ptr_value(conf->events_actor, prev->events_actor, NULL);
    ngx_conf_merge_ptr_value(conf->lifecycle, prev->lifecycle, NULL);
    ngx_conf_merge_msec_value(conf->lifecycle_interval,
                              prev->lifecycle_interval, 0);
    ngx_conf_merge_value(conf->gc, prev->gc, 1);
    ngx_conf_merge_msec_value(conf->gc_interval, prev->gc_interval, 0);
    ngx_conf_merge_sec_value(conf->gc_grace, prev->gc_grace, 3600);
    ngx_conf_merge_value(conf->gc_referrers, prev->gc_referrers, 1);
    ngx_conf_merge_value(conf->gc_pace, prev->gc_pace, 9);
#if (NGX_THREADS)
    ngx_conf_merge_ptr_value(conf->thread_pool, prev->thread_pool, NULL);
#endif

    if (conf->manifest_max_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oci_registry_manifest_max_size\" must be "
                           "greater than zero");
        return NGX_CONF_ERROR;
    }

    if (conf->upload_ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oci_registry_upload_ttl\" must be greater "
                           "than zero");
        return NGX_CONF_ERROR;
    }

    /* the scripts take these as text: made once here, not per request */

    conf->fresh = ngx_min(conf->upload_ttl, NGX_HTTP_OCI_FRESH);

    if (conf->gc_pace < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oci_registry_gc_pace\" must not be negative");
        return NGX_CONF_ERROR;
    }

    if (conf->referrers_max <= 0 || conf->uploads_max <= 0
        || conf->events_backlog <= 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oci_registry_referrers_max\", "
                           "\"oci_registry_uploads_max\" and "
                           "\"oci_registry_events_backlog\" must be "
                           "greater than zero");
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, 2 * NGX_TIME_T_LEN + 3 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->upload_ttl_text.data = p;
    p = ngx_sprintf(p, "%T", conf->upload_ttl);
    conf->upload_ttl_text.len = p - conf->upload_ttl_text.data;

    conf->fresh_text.data = p;
    p = ngx_sprintf(p, "%T", conf->fresh);
    conf->fresh_text.len = p - conf->fresh_text.data;

    conf->referrers_max_text.data = p;
    p = ngx_sprintf(p, "%i", conf->referrers_max);
    conf->referrers_max_text.len = p - conf->referrers_max_text.data;

    conf->uploads_max_text.data = p;
    p = ngx_sprintf(p, "%i", conf->uploads_max);
    conf->uploads_max_text.len = p - conf->uploads_max_text.data;

    conf->events_backlog_text.data = p;
    p = ngx_sprintf(p, "%i", conf->events_backlog);
    conf->events_backlog_text.len = p - conf->events_backlog_text.data;

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oci_registry_module);

    if (conf->events && omcf->request_id == NGX_CONF_UNSET) {
        ngx_str_set(&name, "request_id");

        omcf->request_id = ngx_http_get_variable_index(cf, &name);
        if (omcf->request_id == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"oci_registry\" needs \"oci_registry_redis\" "
                           "to be set");
        return NGX_CONF_ERROR;
    }

    /* a cluster's outbox trims the stream as the scripts would */

    if (conf->events
        && conf->redis->backlog < (ngx_uint_t) conf->events_backlog)
    {
        conf->redis->backlog = conf->events_backlog;
    }

    if (ngx_conf_full_name(cf->cycle, &conf->storage, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_oci_lc_schedule_add(cf, conf, &omcf->lifecycles)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* one sweep per storage root, with the longest TTL that uses it */

    st = omcf->storages.elts;

    for (i = 0; i < omcf->storages.nelts; i++) {
        if (st[i].root.len == conf->storage.len
            && ngx_strncmp(st[i].root.data, conf->storage.data,
                           conf->storage.len) == 0)
        {
            st[i].ttl = ngx_max(st[i].ttl, conf->upload_ttl);
#if (NGX_THREADS)
            if (st[i].thread_pool == NULL) {
                st[i].thread_pool = ngx_http_oci_conf_thread_pool(cf, conf);
            }
#endif
            conf->spares = st[i].spares;
            conf->idkey = st[i].idkey;

            /* the collector works on the root with the root's pool */
            return ngx_http_oci_gc_add(cf, conf, &omcf->collectors, &st[i]);
        }
    }

    st = ngx_array_push(&omcf->storages);
    if (st == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(st, sizeof(ngx_http_oci_storage_t));

    st->root = conf->storage;
    st->ttl = conf->upload_ttl;
    st->spares = ngx_http_oci_spares_create(cf->pool, &conf->storage);
    st->idkey = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_idkey_t));
    st->sweep.dir = st->spares ? st->spares->dir : NULL;
#if (NGX_THREADS)
    st->thread_pool = ngx_http_oci_conf_thread_pool(cf, conf);
#endif

    if (st->spares == NULL || st->idkey == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->spares = st->spares;
    conf->idkey = st->idkey;

    return ngx_http_oci_gc_add(cf, conf, &omcf->collectors, st);
}


#if (NGX_THREADS)

/* a location's pool for background work: ours, else that of aio threads */

static ngx_thread_pool_t *
ngx_http_oci_conf_thread_pool(ngx_conf_t *cf, ngx_http_oci_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->thread_pool) {
        return conf->thread_pool;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    return clcf->thread_pool;
}

#endif


/*
 * oci_registry_redis: the server is parsed by the Redis client's own
 * parser; failed commands of our requests are answered 503 with the OCI
 * body
 */

static char *
ngx_http_oci_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_loc_conf_t  *olcf = conf;

    char                        *rv;
    ngx_http_oci_main_conf_t    *omcf;
    ngx_http_oci_redis_conf_t   *rcf, **prcf;

    if (olcf->redis != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    rv = ngx_http_oci_redis_parse(cf, &rcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rcf->fail = ngx_http_oci_unavailable;

    omcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oci_registry_module);

    prcf = ngx_array_push(&omcf->redis);
    if (prcf == NULL) {
        return NGX_CONF_ERROR;
    }

    *prcf = rcf;
    olcf->redis = rcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_loc_conf_t  *olcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    olcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_oci_handler;

    return NGX_CONF_OK;
}


/*
 * The thread pool that commits uploads (fsync, rename, fsync of the
 * directory), independent of "aio threads", which would also move every
 * small blob's sendfile() to a thread.
 */

static char *
ngx_http_oci_thread_pool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
#if (NGX_THREADS)
    ngx_http_oci_loc_conf_t  *olcf = conf;

    ngx_str_t  *value;

    if (olcf->thread_pool != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    olcf->thread_pool = ngx_thread_pool_add(cf, &value[1]);
    if (olcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

#else

    return "requires nginx built with --with-threads";

#endif
}


/*
 * The prefix becomes part of every key; braces would change which part of
 * a key Redis Cluster hashes, and spaces or quotes have no business there.
 */

static char *
ngx_http_oci_key_prefix(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *prefix = data;

    u_char  *p;

    if (prefix->len > 64) {
        return "is too long (64 bytes at most)";
    }

    for (p = prefix->data; p < prefix->data + prefix->len; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '{' || *p == '}'
            || *p == '"' || *p == '\\')
        {
            return "has an invalid character";
        }
    }

    return NGX_CONF_OK;
}


/*
 * At configuration time (in the master, at start and at every reload, so
 * before any worker): the storage roots, see ngx_http_oci_storage_init().
 * Not nginx's path registry: it would chown the directories following
 * links the worker user can plant.  A failure here fails the reload and
 * keeps the running configuration (init_module's would end the master).
 */

static ngx_int_t
ngx_http_oci_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                 i;
    ngx_http_oci_storage_t    *st;
    ngx_http_oci_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oci_registry_module);
    st = omcf->storages.elts;

    for (i = 0; i < omcf->storages.nelts; i++) {
        if (ngx_http_oci_storage_init(cf->cycle, &st[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_oci_body_init(cf);
}


static ngx_int_t
ngx_http_oci_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_http_oci_main_conf_t    *omcf;
    ngx_http_oci_redis_conf_t  **rcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_registry_module);
    if (omcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_oci_process_identity(cycle->pool, cycle->log,
                                      &omcf->identity)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rcf = omcf->redis.elts;

    for (i = 0; i < omcf->redis.nelts; i++) {
        if (ngx_http_oci_redis_init_process(cycle, rcf[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* one worker sweeps abandoned uploads */

    if (omcf->storages.nelts && ngx_worker == 0) {
        ngx_http_oci_sweeper_start(omcf, cycle->log);
    }

    /* and applies the lifecycle policies; a lease shares the work out */

    if (omcf->lifecycles.nelts && ngx_worker == 0) {
        ngx_http_oci_lc_schedule_start(&omcf->lifecycles, cycle->log,
                                       &omcf->identity);
    }

    /* and collects garbage, on a schedule or when asked to */

    if (omcf->collectors.nelts && ngx_worker == 0) {
        ngx_http_oci_gc_start(&omcf->collectors, cycle->log,
                              &omcf->identity);
    }

    return NGX_OK;
}


static void
ngx_http_oci_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_http_oci_main_conf_t    *omcf;
    ngx_http_oci_redis_conf_t  **rcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_oci_registry_module);
    if (omcf == NULL) {
        return;
    }

    ngx_http_oci_lc_schedule_stop(&omcf->lifecycles);
    ngx_http_oci_gc_stop(&omcf->collectors);

    rcf = omcf->redis.elts;

    for (i = 0; i < omcf->redis.nelts; i++) {
        ngx_http_oci_redis_exit_process(rcf[i]);
    }
}
