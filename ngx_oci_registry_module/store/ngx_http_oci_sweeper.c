
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"


/*
 * The sweep's schedule, in one worker: every half of the shortest upload
 * TTL, each root's _uploads is swept (ngx_http_oci_sweep_run()), in the
 * thread pool when the root has one.  The timer is cancelable: it never
 * delays a worker's exit.
 */


static void ngx_http_oci_sweeper(ngx_event_t *ev);
static void ngx_http_oci_sweep_start(ngx_http_oci_storage_t *st,
    ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_oci_sweep_thread(void *data, ngx_log_t *log);
static void ngx_http_oci_sweep_done(ngx_event_t *ev);
#endif
static void ngx_http_oci_sweep_report(ngx_http_oci_storage_t *st,
    ngx_log_t *log);
static ngx_msec_t ngx_http_oci_sweep_interval(ngx_http_oci_main_conf_t *omcf);


void
ngx_http_oci_sweeper_start(ngx_http_oci_main_conf_t *omcf, ngx_log_t *log)
{
    omcf->log = log;
    omcf->sweeper.handler = ngx_http_oci_sweeper;
    omcf->sweeper.data = omcf;
    omcf->sweeper.log = log;
    omcf->sweeper.cancelable = 1;

    ngx_add_timer(&omcf->sweeper, ngx_http_oci_sweep_interval(omcf));
}


static void
ngx_http_oci_sweeper(ngx_event_t *ev)
{
    ngx_http_oci_main_conf_t  *omcf = ev->data;

    ngx_uint_t               i;
    ngx_http_oci_storage_t  *st;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    st = omcf->storages.elts;

    for (i = 0; i < omcf->storages.nelts; i++) {
        ngx_http_oci_sweep_start(&st[i], omcf->log);
    }

    ngx_add_timer(ev, ngx_http_oci_sweep_interval(omcf));
}


/*
 * A sweep of one root's _uploads: in the thread pool when the root has
 * one (a directory of millions of files would stall this worker's
 * clients), else here.  One at a time per root.
 */

static void
ngx_http_oci_sweep_start(ngx_http_oci_storage_t *st, ngx_log_t *log)
{
    if (st->sweeping) {
        return;
    }

    st->sweep.ttl = st->ttl;
    st->sweep.now = ngx_time();

#if (NGX_THREADS)

    if (st->thread_pool) {
        if (st->task == NULL) {
            st->task = ngx_thread_task_alloc(ngx_cycle->pool, 0);
            if (st->task == NULL) {
                return;
            }

            st->task->ctx = &st->sweep;
            st->task->handler = ngx_http_oci_sweep_thread;
            st->task->event.handler = ngx_http_oci_sweep_done;
            st->task->event.data = st;
        }

        st->task->event.log = log;

        if (ngx_thread_task_post(st->thread_pool, st->task) == NGX_OK) {
            st->sweeping = 1;
            return;
        }

        /* the queue is full: next time */
        return;
    }

#endif

    ngx_http_oci_sweep_run(&st->sweep);
    ngx_http_oci_sweep_report(st, log);
}


#if (NGX_THREADS)

static void
ngx_http_oci_sweep_thread(void *data, ngx_log_t *log)
{
    ngx_http_oci_sweep_run(data);
}


static void
ngx_http_oci_sweep_done(ngx_event_t *ev)
{
    ngx_http_oci_storage_t  *st = ev->data;

    st->sweeping = 0;

    ngx_http_oci_sweep_report(st, ev->log);
}

#endif


static void
ngx_http_oci_sweep_report(ngx_http_oci_storage_t *st, ngx_log_t *log)
{
    if (st->sweep.err) {
        ngx_log_error(NGX_LOG_ERR, log, st->sweep.err,
                      "oci registry: sweeping \"%s\": %s failed",
                      st->sweep.dir, st->sweep.failed);
    }

    if (st->sweep.removed) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "oci registry: removed %ui abandoned upload(s) in "
                      "\"%s\"", st->sweep.removed, st->sweep.dir);
    }
}


/* half the shortest TTL, between one second and an hour */

static ngx_msec_t
ngx_http_oci_sweep_interval(ngx_http_oci_main_conf_t *omcf)
{
    time_t                   t;
    ngx_uint_t               i;
    ngx_http_oci_storage_t  *st;

    t = 3600;
    st = omcf->storages.elts;

    for (i = 0; i < omcf->storages.nelts; i++) {
        t = ngx_min(t, st[i].ttl / 2);
    }

    return (ngx_msec_t) ngx_max(t, 1) * 1000;
}
