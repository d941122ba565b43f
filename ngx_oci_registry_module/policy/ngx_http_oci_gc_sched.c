
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_gc.h"
#include "ngx_http_oci_uploads.h"


/*
 * The collector: a pass on the schedule of oci_registry_gc_interval, or
 * when POST /v2/_gc/run asked for one.  Worker 0 of each node tries; a
 * Redis lease makes one process of all nodes collect.  The pass's state
 * is in Redis (GC_STEP decides each step), so a collector killed with -9
 * is followed at once by the next one that finds its lease's holder gone,
 * from where it was.  Each step has a pool of its own; its file system
 * work runs in the storage's thread pool when there is one:
 *
 *   FILES   blob files no record names: to their trash names, GC_CONFIRM
 *           (still none: delete; a link came: restore), then finished
 *   WALK    one directory of blobs/: its files older than the grace
 *           period that no record names (GC_CHECK), then as FILES
 *
 * A dry run measures instead of moving anything.
 */


#define NGX_HTTP_OCI_GC_LEASE   30000                /* ms */
#define NGX_HTTP_OCI_GC_TICK    1000                 /* ms, at most */
#define NGX_HTTP_OCI_GC_KEYS    8




static void ngx_http_oci_gc_tick(ngx_event_t *ev);
static void ngx_http_oci_gc_stepped(void *data, redisReply *reply);
static ngx_int_t ngx_http_oci_gc_locked(ngx_http_oci_gc_t *s,
    redisReply *reply);
#if (NGX_THREADS)
static void ngx_http_oci_gc_fs_thread(void *data, ngx_log_t *log);
static void ngx_http_oci_gc_fs_done(ngx_event_t *ev);
#endif
static void ngx_http_oci_gc_report(ngx_http_oci_gc_t *s, redisReply *reply);
static ngx_atomic_uint_t ngx_http_oci_gc_num(ngx_str_t *v);


/* at configuration time: one collector per Redis and key prefix */

char *
ngx_http_oci_gc_add(ngx_conf_t *cf, ngx_http_oci_loc_conf_t *conf,
    ngx_array_t *collectors, ngx_http_oci_storage_t *st)
{
    ngx_uint_t           i;
    ngx_http_oci_gc_t  **sp, *s;

    if (!conf->gc) {
        return NGX_CONF_OK;
    }

    sp = collectors->elts;

    for (i = 0; i < collectors->nelts; i++) {
        if (sp[i]->conf->redis == conf->redis
            && sp[i]->conf->key_prefix.len == conf->key_prefix.len
            && ngx_strncmp(sp[i]->conf->key_prefix.data,
                           conf->key_prefix.data, conf->key_prefix.len)
               == 0)
        {
            return NGX_CONF_OK;
        }
    }

    s = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_gc_t));
    sp = ngx_array_push(collectors);
    if (s == NULL || sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = s;
    s->conf = conf;
    s->tick = conf->gc_interval ? ngx_min(conf->gc_interval,
                                          NGX_HTTP_OCI_GC_TICK)
                                : NGX_HTTP_OCI_GC_TICK;
    s->fs.root = st->root;
#if (NGX_THREADS)
    s->thread_pool = st->thread_pool;
#endif

    return NGX_CONF_OK;
}


void
ngx_http_oci_gc_start(ngx_array_t *collectors, ngx_log_t *log,
    ngx_str_t *identity)
{
    u_char              *p;
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_http_oci_gc_t  **sp, *s;

    pool = ((ngx_cycle_t *) ngx_cycle)->pool;
    sp = collectors->elts;

    for (i = 0; i < collectors->nelts; i++) {
        s = sp[i];

        p = ngx_pnalloc(pool, identity->len + sizeof(":gc") + NGX_INT_T_LEN
                              + NGX_HTTP_OCI_HOLDER_MAX);
        if (p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "oci registry: garbage collector not started");
            continue;
        }

        s->holder.data = p;
        p = ngx_sprintf(p, "%V:%P:gc", identity, ngx_pid);
        s->holder.len = p - s->holder.data;
        s->stale_buf = p;
        s->stale.data = p;
        s->stale.len = 0;

        s->identity = *identity;
        s->log = log;

        s->timer.handler = ngx_http_oci_gc_tick;
        s->timer.data = s;
        s->timer.log = log;
        s->timer.cancelable = 1;

        ngx_add_timer(&s->timer, 100 + (ngx_msec_t) ngx_random() % 1000);
    }
}


void
ngx_http_oci_gc_stop(ngx_array_t *collectors)
{
    ngx_uint_t           i;
    ngx_http_oci_gc_t  **sp;

    sp = collectors->elts;

    for (i = 0; i < collectors->nelts; i++) {
        sp[i]->exiting = 1;

        if (sp[i]->timer.timer_set) {
            ngx_del_timer(&sp[i]->timer);
        }
    }
}


void
ngx_http_oci_gc_key(ngx_http_oci_args_t *a, ngx_http_oci_loc_conf_t *c,
    char *suffix)
{
    ngx_str_t  s;

    s.data = (u_char *) suffix;
    s.len = ngx_strlen(suffix);

    ngx_http_oci_args_key(a, &c->global, "gc:", &s);
}


static void
ngx_http_oci_gc_tick(ngx_event_t *ev)
{
    ngx_http_oci_gc_t  *s = ev->data;

    if (s->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    s->step_start = ngx_current_msec;
    s->repo_done = 0;
    s->pool = ngx_create_pool(4096, s->log);
    if (s->pool == NULL) {
        ngx_add_timer(&s->timer, s->tick);
        return;
    }

    ngx_http_oci_gc_step(s, NULL);
}


/* GC_STEP, with GC_REPO's reply on a cluster (s->repo's s->work) */

void
ngx_http_oci_gc_step(ngx_http_oci_gc_t *s, redisReply *repo)
{
    ngx_uint_t                i, n;
    redisReply               *e;
    ngx_http_oci_args_t       a;
    ngx_http_oci_loc_conf_t  *c;

    c = s->conf;
    n = (repo != NULL) ? 2 + repo->elements : 0;

    if (ngx_http_oci_args_init(&a, s->pool, NGX_HTTP_OCI_GC_KEYS + 12 + n)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    ngx_http_oci_gc_key(&a, c, "lease");
    ngx_http_oci_gc_key(&a, c, "pass");
    ngx_http_oci_gc_key(&a, c, "repos");
    ngx_http_oci_gc_key(&a, c, "orphans");
    ngx_http_oci_gc_key(&a, c, "last");
    ngx_http_oci_gc_key(&a, c, "request");
    ngx_http_oci_gc_key(&a, c, "dry");
    ngx_http_oci_gc_key(&a, c, "indexed");

    ngx_http_oci_args_str(&a, &s->holder);
    ngx_http_oci_args_number(&a, NGX_HTTP_OCI_GC_LEASE);
    ngx_http_oci_args_str(&a, &s->stale);
    ngx_http_oci_args_number(&a, (off_t) (c->gc_interval / 1000));
    ngx_http_oci_args_number(&a, (off_t) c->gc_grace);
    ngx_http_oci_args_str(&a, &c->global);

    if (repo != NULL) {
        ngx_http_oci_args_lit(&a, "repo");

    } else {
        ngx_http_oci_args_add(&a, s->finished, s->finished_len);
    }

    ngx_http_oci_args_number(&a, NGX_HTTP_OCI_GC_BATCH);
    ngx_http_oci_args_flag(&a, c->gc_referrers);
    ngx_http_oci_args_number(&a, (off_t) s->freed);
    ngx_http_oci_args_number(&a, s->freed_bytes);
    ngx_http_oci_args_flag(&a, c->redis->cluster != NULL);

    if (repo != NULL) {
        ngx_http_oci_args_str(&a, &s->repo);
        ngx_http_oci_args_str(&a, &s->work);

        /*
         * copies: a redirect or NOSCRIPT sends the arguments again, after
         * the reply is freed
         */

        for (i = 0; i < repo->elements; i++) {
            e = repo->element[i];

            if (e->type == REDIS_REPLY_INTEGER) {
                ngx_http_oci_args_number(&a, (off_t) e->integer);

            } else {
                ngx_http_oci_args_copy(&a, (u_char *) e->str, e->len);
            }
        }
    }

    if (ngx_http_oci_redis_call_script(c->redis, ngx_http_oci_gc_stepped, s,
                                       NGX_HTTP_OCI_SCRIPT_GC_STEP,
                                       NGX_HTTP_OCI_GC_KEYS, &a)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    /* the arguments were copied: what they report is said */

    s->freed = 0;
    s->freed_bytes = 0;
    s->finished_len = 0;
}


static void
ngx_http_oci_gc_stepped(void *data, redisReply *reply)
{
    ngx_http_oci_gc_t  *s = data;

    redisReply  *e;

    s->stale.len = 0;

    if (reply == NULL) {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "oci registry: garbage collection: %*s",
                      (size_t) reply->len, reply->str);
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    switch (ngx_http_oci_script_reply(reply)) {

    case NGX_HTTP_OCI_R_LOCKED:
        (void) ngx_http_oci_gc_locked(s, reply);
        return;

    case NGX_HTTP_OCI_R_AGAIN:
        ngx_http_oci_gc_end(s, 1);
        return;

    case NGX_HTTP_OCI_R_DONE:
        ngx_http_oci_gc_report(s, reply);
        ngx_http_oci_gc_end(s, s->tick);
        return;

    case NGX_HTTP_OCI_R_FILES:
        if (reply->elements < 3
            || reply->element[1]->type != REDIS_REPLY_STRING)
        {
            break;
        }

        s->dry = (reply->element[1]->len == 1
                  && reply->element[1]->str[0] == '1');
        s->walk = 0;

        if (ngx_http_oci_gc_files(s, reply, 2) != NGX_OK) {
            break;
        }

        if (s->dry) {
            ngx_http_oci_gc_fs(s, NGX_HTTP_OCI_GC_MEASURE,
                               ngx_http_oci_gc_measured);
            return;
        }

        ngx_http_oci_gc_trash(s);
        return;

    case NGX_HTTP_OCI_R_WALK:
        if (reply->elements != 4) {
            break;
        }

        e = reply->element[1];
        if (e->type != REDIS_REPLY_STRING
            || reply->element[2]->type != REDIS_REPLY_STRING
            || reply->element[3]->type != REDIS_REPLY_STRING)
        {
            break;
        }

        s->fs.dir = ngx_atoi((u_char *) e->str, e->len);
        s->fs.since = ngx_atotm((u_char *) reply->element[2]->str,
                                reply->element[2]->len);

        if (s->fs.since == NGX_ERROR) {
            /* before the epoch: the first walk, of everything */
            s->fs.since = 0;
        }

        if (s->fs.dir == (ngx_uint_t) NGX_ERROR || s->fs.dir >= 512
            || ngx_array_init(&s->fs.files, s->pool, 64,
                              sizeof(ngx_http_oci_gc_file_t))
               != NGX_OK)
        {
            break;
        }

        s->dry = (reply->element[3]->len == 1
                  && reply->element[3]->str[0] == '1');
        s->walk = 1;
        s->fs.pool = s->pool;
        s->fs.ndirs = 32;
        s->fs.before = ngx_time() - s->conf->gc_grace;

        ngx_http_oci_gc_fs(s, NGX_HTTP_OCI_GC_WALK, ngx_http_oci_gc_walked);
        return;

    case NGX_HTTP_OCI_R_IDLE:
        ngx_http_oci_gc_end(s, s->tick);
        return;

    case NGX_HTTP_OCI_R_REPO:
        if (s->repo_done) {
            /* one repository's work a step: the next asks again */
            ngx_http_oci_gc_end(s, 1);
            return;
        }

        if (ngx_http_oci_gc_repo(s, reply) != NGX_OK) {
            break;
        }

        return;

    default:
        break;
    }

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "oci registry: garbage collection: unexpected reply");
    ngx_http_oci_gc_end(s, s->tick);
}


/* another process has the lease: taken at once if it is a dead one of ours */

static ngx_int_t
ngx_http_oci_gc_locked(ngx_http_oci_gc_t *s, redisReply *reply)
{
    s->stale.data = s->stale_buf;

    if (ngx_http_oci_lease_dead(&s->identity, reply, &s->stale) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "oci registry: garbage collection: taking the lease "
                      "of \"%V\", which is gone", &s->stale);
        ngx_http_oci_gc_end(s, 1);
        return NGX_OK;
    }

    ngx_http_oci_gc_end(s, s->tick);

    return NGX_OK;
}


/* file system work: in the thread pool if there is one, else here */

void
ngx_http_oci_gc_fs(ngx_http_oci_gc_t *s, ngx_http_oci_gc_op_e op,
    ngx_http_oci_gc_next_pt after)
{
    s->fs.op = op;
    s->after = after;

#if (NGX_THREADS)

    if (s->thread_pool) {
        if (s->task == NULL) {
            s->task = ngx_thread_task_alloc(ngx_cycle->pool, 0);
            if (s->task == NULL) {
                ngx_http_oci_gc_end(s, s->tick);
                return;
            }

            s->task->ctx = &s->fs;
            s->task->handler = ngx_http_oci_gc_fs_thread;
            s->task->event.handler = ngx_http_oci_gc_fs_done;
            s->task->event.data = s;
            s->task->event.log = s->log;
        }

        if (ngx_thread_task_post(s->thread_pool, s->task) != NGX_OK) {
            ngx_http_oci_gc_end(s, s->tick);
        }

        return;
    }

#endif

    ngx_http_oci_gc_fs_run(&s->fs);

    if (s->fs.err) {
        ngx_log_error(NGX_LOG_ERR, s->log, s->fs.err,
                      "oci registry: garbage collection: %s failed",
                      s->fs.failed);
    }

    s->after(s);
}


#if (NGX_THREADS)

static void
ngx_http_oci_gc_fs_thread(void *data, ngx_log_t *log)
{
    ngx_http_oci_gc_fs_run(data);
}


static void
ngx_http_oci_gc_fs_done(ngx_event_t *ev)
{
    ngx_http_oci_gc_t  *s = ev->data;

    if (s->fs.err) {
        ngx_log_error(NGX_LOG_ERR, s->log, s->fs.err,
                      "oci registry: garbage collection: %s failed",
                      s->fs.failed);
    }

    if (s->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_oci_gc_end(s, 0);
        return;
    }

    s->after(s);
}

#endif
/* {"DONE", dry, repositories, unlinked, bytes, files, bytes, referrers} */

static void
ngx_http_oci_gc_report(ngx_http_oci_gc_t *s, redisReply *reply)
{
    ngx_uint_t                 i, dry;
    ngx_str_t                  v[7];
    redisReply                *e;
    ngx_http_oci_gc_stats_t   *st;
    ngx_http_oci_main_conf_t  *omcf;

    if (reply->elements != 8) {
        return;
    }

    for (i = 0; i < 7; i++) {
        e = reply->element[i + 1];

        if (e->type != REDIS_REPLY_STRING) {
            return;
        }

        v[i].data = (u_char *) e->str;
        v[i].len = e->len;
    }

    dry = (v[0].len == 1 && v[0].data[0] == '1');

    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_oci_registry_module);
    st = omcf ? omcf->gc_stats : NULL;

    if (st) {
        (void) ngx_atomic_fetch_add(&st->passes[dry], 1);

        if (!dry) {
            (void) ngx_atomic_fetch_add(&st->unlinked,
                                        ngx_http_oci_gc_num(&v[2]));
            (void) ngx_atomic_fetch_add(&st->unlinked_bytes,
                                        ngx_http_oci_gc_num(&v[3]));
            (void) ngx_atomic_fetch_add(&st->files,
                                        ngx_http_oci_gc_num(&v[4]));
            (void) ngx_atomic_fetch_add(&st->bytes,
                                        ngx_http_oci_gc_num(&v[5]));
            (void) ngx_atomic_fetch_add(&st->referrers,
                                        ngx_http_oci_gc_num(&v[6]));
        }
    }

    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                  "oci registry: garbage collection%s: %V repositories, "
                  "%V blob links (%V bytes) unlinked, %V files (%V bytes) "
                  "removed, %V referrers of deleted subjects deleted",
                  dry ? " (dry run, would be)" : "",
                  &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
}


static ngx_atomic_uint_t
ngx_http_oci_gc_num(ngx_str_t *v)
{
    off_t  n;

    n = ngx_atoof(v->data, v->len);

    return (n == NGX_ERROR) ? 0 : (ngx_atomic_uint_t) n;
}


void
ngx_http_oci_gc_end(ngx_http_oci_gc_t *s, ngx_msec_t after)
{
    ngx_msec_t  took;

    /*
     * The next step of a pass waits oci_registry_gc_pace times as long
     * as this one took (9: the collector, its Redis scripts and its file
     * system work included, keeps to a tenth of the time), and the pulls
     * and pushes get the rest (docs/performance.md, "Garbage collection")
     */

    if (after == 1) {
        took = ngx_current_msec - s->step_start;
        after = ngx_max((ngx_msec_t) s->conf->gc_pace * took, 1);
    }

    if (s->pool) {
        ngx_destroy_pool(s->pool);
        s->pool = NULL;
    }

    if (after == 0 || s->exiting || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    ngx_add_timer(&s->timer, after);
}