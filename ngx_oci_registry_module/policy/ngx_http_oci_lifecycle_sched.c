
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_lifecycle.h"
#include "ngx_http_oci_redis_keys.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_uploads.h"


/*
 * oci_registry_lifecycle_interval: every policy in force, applied in the
 * background.  One worker per node tries; a Redis lease makes one
 * process of all nodes do a pass, one repository a step:
 *
 *   step     LIFECYCLE_STEP: take or renew the lease, name the repository
 *            after the pass's cursor in the catalog (or end the pass and
 *            set when the next is due)
 *   policy   the repository's own, else the operator's for its name
 *   images   LIFECYCLE_IMAGES pages, then the same evaluation as a run
 *   expire   LIFECYCLE_EXPIRE per image, at most NGX_HTTP_OCI_LC_RUN_MAX
 *            a step (the rest in the next step, the cursor stays)
 *   done     LIFECYCLE_DONE: the cursor moves past the repository
 *
 * The cursor and the due time are in Redis, so a pass killed with -9
 * goes on where it was: at once when the lease's holder is a process of
 * ours that is gone (as upload locks and event leases are taken), else
 * when the lease expires.  Each step has a pool of its own.
 */


#define NGX_HTTP_OCI_LC_LEASE  30000                 /* ms */
#define NGX_HTTP_OCI_LC_TICK   5000                  /* ms, at most */


typedef struct {
    ngx_http_oci_loc_conf_t    *conf;
    ngx_log_t                  *log;
    ngx_event_t                 timer;
    ngx_msec_t                  tick;

    ngx_str_t                   lease_key;
    ngx_str_t                   pass_key;
    ngx_str_t                   catalog;
    ngx_str_t                   identity;
    ngx_str_t                   holder;      /* <identity>:<pid>:lifecycle */
    ngx_str_t                   stale;       /* a dead holder's */
    ngx_str_t                   lease_text;
    ngx_str_t                   interval_text;

    /* the step */
    ngx_pool_t                 *pool;
    ngx_str_t                   repo;
    ngx_str_t                   base;
    ngx_http_oci_lc_policy_t    policy;
    ngx_array_t                 images;
    ngx_uint_t                  next;
    ngx_uint_t                  todo;
    ngx_uint_t                  expired;
    ngx_uint_t                  referrers;
    unsigned                    more:1;
    unsigned                    applied:1;   /* a policy was in force */
    unsigned                    exiting:1;
} ngx_http_oci_lc_sched_t;


static void ngx_http_oci_lc_tick(ngx_event_t *ev);
static void ngx_http_oci_lc_stepped(void *data, redisReply *reply);
static ngx_int_t ngx_http_oci_lc_locked(ngx_http_oci_lc_sched_t *s,
    redisReply *reply);
static void ngx_http_oci_lc_got_policy(void *data, redisReply *reply);
static void ngx_http_oci_lc_bg_page(ngx_http_oci_lc_sched_t *s);
static void ngx_http_oci_lc_bg_paged(void *data, redisReply *reply);
static void ngx_http_oci_lc_bg_expire(ngx_http_oci_lc_sched_t *s);
static void ngx_http_oci_lc_bg_expired(void *data, redisReply *reply);
static void ngx_http_oci_lc_bg_done(ngx_http_oci_lc_sched_t *s);
static void ngx_http_oci_lc_bg_moved(void *data, redisReply *reply);
static void ngx_http_oci_lc_end(ngx_http_oci_lc_sched_t *s,
    ngx_msec_t after);


/* at configuration time: one schedule per Redis and key prefix */

char *
ngx_http_oci_lc_schedule_add(ngx_conf_t *cf, ngx_http_oci_loc_conf_t *conf,
    ngx_array_t *schedules)
{
    ngx_uint_t                 i;
    ngx_http_oci_lc_sched_t  **sp, *s;

    if (conf->lifecycle_interval == 0) {
        return NGX_CONF_OK;
    }

    sp = schedules->elts;

    for (i = 0; i < schedules->nelts; i++) {
        if (sp[i]->conf->redis == conf->redis
            && sp[i]->conf->key_prefix.len == conf->key_prefix.len
            && ngx_strncmp(sp[i]->conf->key_prefix.data,
                           conf->key_prefix.data, conf->key_prefix.len)
               == 0)
        {
            return NGX_CONF_OK;
        }
    }

    s = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_lc_sched_t));
    sp = ngx_array_push(schedules);
    if (s == NULL || sp == NULL) {
        return NGX_CONF_ERROR;
    }

    *sp = s;
    s->conf = conf;
    s->tick = ngx_min(conf->lifecycle_interval, NGX_HTTP_OCI_LC_TICK);

    return NGX_CONF_OK;
}


/* in the worker that runs them: the keys, the holder, the first tick */

void
ngx_http_oci_lc_schedule_start(ngx_array_t *schedules, ngx_log_t *log,
    ngx_str_t *identity)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *prefix;
    ngx_uint_t                 i;
    ngx_pool_t                *pool;
    ngx_http_oci_lc_sched_t  **sp, *s;

    pool = ((ngx_cycle_t *) ngx_cycle)->pool;
    sp = schedules->elts;

    for (i = 0; i < schedules->nelts; i++) {
        s = sp[i];
        prefix = &s->conf->global;

        len = 2 * (prefix->len + sizeof("lifecycle:lease"))
              + identity->len + sizeof(":lifecycle") + 4 * NGX_INT_T_LEN
              + NGX_HTTP_OCI_HOLDER_MAX;

        p = ngx_pnalloc(pool, len);
        if (p == NULL
            || ngx_http_oci_key_catalog(pool, prefix, &s->catalog) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "oci registry: lifecycle schedule not started");
            continue;
        }

        s->lease_key.data = p;
        p = ngx_sprintf(p, "%Vlifecycle:lease", prefix);
        s->lease_key.len = p - s->lease_key.data;

        s->pass_key.data = p;
        p = ngx_sprintf(p, "%Vlifecycle:pass", prefix);
        s->pass_key.len = p - s->pass_key.data;

        s->holder.data = p;
        p = ngx_sprintf(p, "%V:%P:lifecycle", identity, ngx_pid);
        s->holder.len = p - s->holder.data;

        s->lease_text.data = p;
        p = ngx_sprintf(p, "%d", NGX_HTTP_OCI_LC_LEASE);
        s->lease_text.len = p - s->lease_text.data;

        s->interval_text.data = p;
        p = ngx_sprintf(p, "%M", ngx_max(s->conf->lifecycle_interval / 1000,
                                         (ngx_msec_t) 1));
        s->interval_text.len = p - s->interval_text.data;

        s->stale.data = p;
        s->stale.len = 0;

        s->identity = *identity;
        s->log = log;

        s->timer.handler = ngx_http_oci_lc_tick;
        s->timer.data = s;
        s->timer.log = log;
        s->timer.cancelable = 1;

        /* nodes started together do not ask at the same moment */
        ngx_add_timer(&s->timer, 100 + (ngx_msec_t) ngx_random() % 1000);
    }
}


void
ngx_http_oci_lc_schedule_stop(ngx_array_t *schedules)
{
    ngx_uint_t                 i;
    ngx_http_oci_lc_sched_t  **sp;

    sp = schedules->elts;

    for (i = 0; i < schedules->nelts; i++) {
        sp[i]->exiting = 1;

        if (sp[i]->timer.timer_set) {
            ngx_del_timer(&sp[i]->timer);
        }
    }
}


static void
ngx_http_oci_lc_tick(ngx_event_t *ev)
{
    ngx_http_oci_lc_sched_t  *s = ev->data;

    ngx_http_oci_args_t  a;

    if (s->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    s->pool = ngx_create_pool(4096, s->log);
    if (s->pool == NULL) {
        ngx_add_timer(&s->timer, s->tick);
        return;
    }

    s->more = 0;
    s->next = 0;
    s->expired = 0;
    s->referrers = 0;
    s->applied = 0;

    if (ngx_http_oci_args_init(&a, s->pool, 7) != NGX_OK) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    ngx_http_oci_args_str(&a, &s->lease_key);
    ngx_http_oci_args_str(&a, &s->pass_key);
    ngx_http_oci_args_str(&a, &s->catalog);
    ngx_http_oci_args_str(&a, &s->holder);
    ngx_http_oci_args_str(&a, &s->lease_text);
    ngx_http_oci_args_str(&a, &s->stale);
    ngx_http_oci_args_str(&a, &s->interval_text);

    if (ngx_http_oci_redis_call_script(s->conf->redis,
                                       ngx_http_oci_lc_stepped, s,
                                       NGX_HTTP_OCI_SCRIPT_LIFECYCLE_STEP, 3,
                                       &a)
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
    }
}


static void
ngx_http_oci_lc_stepped(void *data, redisReply *reply)
{
    ngx_http_oci_lc_sched_t  *s = data;

    redisReply           *name;
    ngx_http_oci_args_t   a;

    s->stale.len = 0;

    if (reply != NULL && ngx_http_oci_lc_locked(s, reply) == NGX_OK) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_STATE
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "oci registry: lifecycle schedule: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    name = reply->element[1];

    if (name->len == 0) {
        /* no pass due, or one just ended */
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    s->repo.data = ngx_pnalloc(s->pool, name->len);
    if (s->repo.data == NULL) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    ngx_memcpy(s->repo.data, name->str, name->len);
    s->repo.len = name->len;

    if (ngx_http_oci_key_base(s->pool, &s->conf->key_prefix, &s->repo,
                              &s->base)
        != NGX_OK
        || ngx_http_oci_args_init(&a, s->pool, 2) != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    ngx_http_oci_args_lit(&a, "GET");
    ngx_http_oci_args_key(&a, &s->base, "lifecycle", NULL);

    if (ngx_http_oci_redis_call(s->conf->redis, ngx_http_oci_lc_got_policy, s,
                                &a)
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
    }
}


/* another process has the lease: NGX_OK when that is handled */

static ngx_int_t
ngx_http_oci_lc_locked(ngx_http_oci_lc_sched_t *s, redisReply *reply)
{
    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_LOCKED) {
        return NGX_DECLINED;
    }

    if (ngx_http_oci_lease_dead(&s->identity, reply, &s->stale) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "oci registry: lifecycle schedule: taking the "
                      "lease of \"%V\", which is gone", &s->stale);
        ngx_http_oci_lc_end(s, 1);
        return NGX_OK;
    }

    ngx_http_oci_lc_end(s, s->tick);

    return NGX_OK;
}


static void
ngx_http_oci_lc_got_policy(void *data, redisReply *reply)
{
    ngx_http_oci_lc_sched_t  *s = data;

    u_char                        *text;
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      err;
    ngx_http_oci_lc_configured_t  *lc;

    if (reply == NULL) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    if (reply->type == REDIS_REPLY_STRING) {
        text = (u_char *) reply->str;
        len = reply->len;

    } else {
        lc = ngx_http_oci_lc_configured(s->conf, &s->repo);

        if (lc == NULL) {
            /* no policy in force here */
            ngx_http_oci_lc_bg_done(s);
            return;
        }

        text = lc->text.data;
        len = lc->text.len;
    }

    rc = ngx_http_oci_lc_parse(s->pool, text, len, &s->policy, &err);

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "oci registry: lifecycle policy of \"%V\" "
                          "skipped: %V", &s->repo, &err);
            ngx_http_oci_lc_bg_done(s);
            return;
        }

        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    if (ngx_array_init(&s->images, s->pool, 64,
                       sizeof(ngx_http_oci_lc_image_t))
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    s->applied = 1;

    ngx_http_oci_lc_bg_page(s);
}


static void
ngx_http_oci_lc_bg_page(ngx_http_oci_lc_sched_t *s)
{
    ngx_http_oci_args_t  a;

    if (ngx_http_oci_args_init(&a, s->pool, 3) != NGX_OK) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    ngx_http_oci_args_str(&a, &s->base);
    ngx_http_oci_args_number(&a, (off_t) s->next);
    ngx_http_oci_args_number(&a, 1000);

    if (ngx_http_oci_redis_call_script(s->conf->redis,
                                       ngx_http_oci_lc_bg_paged, s,
                                       NGX_HTTP_OCI_SCRIPT_LIFECYCLE_IMAGES,
                                       1, &a)
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
    }
}


static void
ngx_http_oci_lc_bg_paged(void *data, redisReply *reply)
{
    ngx_http_oci_lc_sched_t  *s = data;

    ngx_int_t  rc;

    rc = (reply == NULL) ? NGX_ABORT
                         : ngx_http_oci_lc_page_add(s->pool, &s->images,
                                                    &s->next, reply);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "oci registry: lifecycle of \"%V\" skipped: more "
                      "than 100000 manifests", &s->repo);
        ngx_http_oci_lc_bg_done(s);
        return;
    }

    if (rc == NGX_AGAIN) {
        ngx_http_oci_lc_bg_page(s);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    if (ngx_http_oci_lc_evaluate(s->pool, &s->policy, s->images.elts,
                                 s->images.nelts, ngx_time())
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    s->todo = s->images.nelts;

    ngx_http_oci_lc_bg_expire(s);
}


/* oldest first, as a run does; what is over the step's bound waits */

static void
ngx_http_oci_lc_bg_expire(ngx_http_oci_lc_sched_t *s)
{
    ngx_http_oci_args_t       a;
    ngx_http_oci_lc_image_t  *im;

    im = NULL;

    while (s->todo > 0) {
        im = &((ngx_http_oci_lc_image_t *) s->images.elts)[--s->todo];

        if (im->expire >= 0) {
            break;
        }

        im = NULL;
    }

    if (im == NULL) {
        ngx_http_oci_lc_bg_done(s);
        return;
    }

    if (s->expired == NGX_HTTP_OCI_LC_RUN_MAX) {
        s->more = 1;
        ngx_http_oci_lc_bg_done(s);
        return;
    }

    if (ngx_http_oci_lc_expire_args(s->pool, &a, &s->base, s->conf, im)
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    ngx_http_oci_event_args_bg(s->pool, s->conf, &s->repo, "delete",
                               "lifecycle", &a);

    if (ngx_http_oci_redis_call_script(s->conf->redis,
                                       ngx_http_oci_lc_bg_expired, s,
                                       NGX_HTTP_OCI_SCRIPT_LIFECYCLE_EXPIRE,
                                       1 + ngx_http_oci_event_nkeys(s->conf),
                                       &a)
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
    }
}


static void
ngx_http_oci_lc_bg_expired(void *data, redisReply *reply)
{
    ngx_http_oci_lc_sched_t  *s = data;

    ngx_http_oci_lc_image_t  *im;

    if (reply == NULL) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    im = &((ngx_http_oci_lc_image_t *) s->images.elts)[s->todo];

    if (ngx_http_oci_script_reply(reply) == NGX_HTTP_OCI_R_DELETED) {
        s->expired++;

        if (reply->elements == 2
            && reply->element[1]->type == REDIS_REPLY_INTEGER)
        {
            s->referrers += (ngx_uint_t) reply->element[1]->integer;
        }

        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "oci registry: lifecycle expired %V@%V (%ui tags) "
                      "by rule %ui, with %L referrers, on schedule",
                      &s->repo, &im->digest, im->ntags,
                      s->policy.rules[im->expire].priority,
                      (int64_t) (reply->elements == 2
                                 && reply->element[1]->type
                                    == REDIS_REPLY_INTEGER
                                 ? reply->element[1]->integer : 0));

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "oci registry: lifecycle script failed: %*s",
                      (size_t) reply->len, reply->str);
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    /* STATE, UNKNOWN: changed since the evaluation, the next pass decides */

    ngx_http_oci_lc_bg_expire(s);
}


/* the repository is done (or, with "more", this step of it) */

static void
ngx_http_oci_lc_bg_done(ngx_http_oci_lc_sched_t *s)
{
    ngx_http_oci_args_t  a;

    ngx_http_oci_lc_counted(1, (s->applied && !s->more) ? 1 : 0, s->expired,
                            s->referrers);

    if (s->more) {
        /* the cursor stays: the next step goes on with this repository */
        ngx_http_oci_lc_end(s, 1);
        return;
    }

    if (ngx_http_oci_args_init(&a, s->pool, 5) != NGX_OK) {
        ngx_http_oci_lc_end(s, s->tick);
        return;
    }

    ngx_http_oci_args_str(&a, &s->lease_key);
    ngx_http_oci_args_str(&a, &s->pass_key);
    ngx_http_oci_args_str(&a, &s->holder);
    ngx_http_oci_args_str(&a, &s->lease_text);
    ngx_http_oci_args_str(&a, &s->repo);

    if (ngx_http_oci_redis_call_script(s->conf->redis,
                                       ngx_http_oci_lc_bg_moved, s,
                                       NGX_HTTP_OCI_SCRIPT_LIFECYCLE_DONE, 2,
                                       &a)
        != NGX_OK)
    {
        ngx_http_oci_lc_end(s, s->tick);
    }
}


static void
ngx_http_oci_lc_bg_moved(void *data, redisReply *reply)
{
    ngx_http_oci_lc_sched_t  *s = data;

    /* the next repository at once, unless the lease went elsewhere */

    ngx_http_oci_lc_end(s, (reply != NULL && ngx_http_oci_script_reply(reply)
                                             == NGX_HTTP_OCI_R_OK)
                           ? 1 : s->tick);
}


static void
ngx_http_oci_lc_end(ngx_http_oci_lc_sched_t *s, ngx_msec_t after)
{
    if (s->pool) {
        ngx_destroy_pool(s->pool);
        s->pool = NULL;
    }

    if (s->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&s->timer, after);
}
