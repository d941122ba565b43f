
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_observe.h"
#include "ngx_http_oci_grammar.h"


/*
 * Counting a registry request: a log phase handler (the status and the
 * bytes are final there), and a preaccess one that marks the request as
 * the registry's and keeps the gauge of uploads in flight.  A handful of
 * atomic additions per request, no lock; a repository's first pull or
 * push takes a slot of the table.
 */


static ngx_int_t ngx_http_oci_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_metrics_start(ngx_http_request_t *r);
static void ngx_http_oci_metrics_done(void *data);
static ngx_uint_t ngx_http_oci_metrics_marked(ngx_http_request_t *r);
static ngx_http_oci_family_e ngx_http_oci_request_family(
    ngx_http_request_t *r, ngx_str_t *name);
static ngx_uint_t ngx_http_oci_method_index(ngx_uint_t method);
static ngx_http_oci_repo_stats_t *ngx_http_oci_repo(
    ngx_http_oci_observe_main_conf_t *omcf, ngx_str_t *name);


ngx_int_t
ngx_http_oci_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_oci_metrics_log;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_oci_metrics_start;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_metrics_log(ngx_http_request_t *r)
{
    ngx_msec_int_t                     ms;
    ngx_str_t                          name;
    ngx_uint_t                         f, m, c, i;
    ngx_time_t                        *tp;
    ngx_http_oci_loc_conf_t           *rlcf;
    ngx_http_oci_http_stats_t         *st;
    ngx_http_oci_repo_stats_t         *repo;
    ngx_http_oci_observe_main_conf_t  *omcf;

    static const ngx_msec_int_t  bounds[] = NGX_HTTP_OCI_DURATION_MS;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_observe_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_registry_module);

    if (omcf->sh == NULL || r != r->main) {
        return NGX_OK;
    }

    /* refused by auth_request and answered by an error_page elsewhere */

    if (!rlcf->enable && !ngx_http_oci_metrics_marked(r)) {
        return NGX_OK;
    }

    st = &omcf->sh->http;

    f = ngx_http_oci_request_family(r, &name);
    m = ngx_http_oci_method_index(r->method);
    c = r->headers_out.status / 100;

    if (c >= NGX_HTTP_OCI_CLASS_N) {
        c = 0;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    for (i = 0; i < NGX_HTTP_OCI_DURATION_N; i++) {
        if (ms <= bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&st->requests[f][m][c], 1);
    (void) ngx_atomic_fetch_add(&st->duration[f][i], 1);
    (void) ngx_atomic_fetch_add(&st->duration_ms[f], ms);
    (void) ngx_atomic_fetch_add(&st->received[f], r->request_length);
    (void) ngx_atomic_fetch_add(&st->sent[f], r->connection->sent);

    /* an image pulled is its manifest read, pushed its manifest stored */

    if (f != NGX_HTTP_OCI_FAM_MANIFESTS || c != 2
        || (m != NGX_HTTP_OCI_METH_GET && m != NGX_HTTP_OCI_METH_PUT))
    {
        return NGX_OK;
    }

    repo = ngx_http_oci_repo(omcf, &name);

    if (m == NGX_HTTP_OCI_METH_GET) {
        (void) ngx_atomic_fetch_add(repo ? &repo->pulls
                                         : &omcf->sh->other_pulls, 1);

    } else {
        (void) ngx_atomic_fetch_add(repo ? &repo->pushes
                                         : &omcf->sh->other_pushes, 1);
    }

    return NGX_OK;
}


/*
 * Before access checks, every request of a registry location gets a mark
 * that an internal redirect keeps (a pool cleanup: the module contexts
 * are cleared): a request refused by auth_request and answered by an
 * error_page location is still the registry's.  For a request that
 * brings blob bytes, the same cleanup ends its share of the gauge of
 * uploads in flight, however the request ends.
 */

static ngx_int_t
ngx_http_oci_metrics_start(ngx_http_request_t *r)
{
    ngx_str_t                          name;
    ngx_pool_cleanup_t                *cln;
    ngx_http_oci_loc_conf_t           *rlcf;
    ngx_http_oci_observe_main_conf_t  *omcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_registry_module);

    if (!rlcf->enable || r != r->main || ngx_http_oci_metrics_marked(r)) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_oci_metrics_done;
    cln->data = NULL;

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH|NGX_HTTP_PUT))) {
        return NGX_DECLINED;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_observe_module);

    if (omcf->self != NULL
        && ngx_http_oci_request_family(r, &name) == NGX_HTTP_OCI_FAM_UPLOADS)
    {
        cln->data = (void *) &omcf->self->uploads;
        (void) ngx_atomic_fetch_add(&omcf->self->uploads, 1);
    }

    return NGX_DECLINED;
}


static void
ngx_http_oci_metrics_done(void *data)
{
    ngx_atomic_t  *uploads = data;

    if (uploads) {
        (void) ngx_atomic_fetch_add(uploads, (ngx_atomic_int_t) -1);
    }
}


static ngx_uint_t
ngx_http_oci_metrics_marked(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_oci_metrics_done) {
            return 1;
        }
    }

    return 0;
}


/* from the registry's route when it has one, else from the URI */

static ngx_http_oci_family_e
ngx_http_oci_request_family(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_int_t              rc;
    ngx_http_oci_ctx_t    *ctx;
    ngx_http_oci_err_e     err;
    ngx_http_oci_route_t   rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_registry_module);

    if (ctx != NULL) {
        *name = ctx->route.name;

        return ctx->routed ? ngx_http_oci_family(ctx->route.type)
                           : NGX_HTTP_OCI_FAM_UNKNOWN;
    }

    /* the handler did not run: refused by access checks, say */

    ngx_memzero(&rt, sizeof(ngx_http_oci_route_t));

    rc = ngx_http_oci_route_parse(&r->uri, &rt, &err);

    *name = rt.name;

    return (rc == NGX_DECLINED) ? NGX_HTTP_OCI_FAM_UNKNOWN
                                : ngx_http_oci_family(rt.type);
}


ngx_http_oci_family_e
ngx_http_oci_family(ngx_http_oci_route_e type)
{
    switch (type) {

    case NGX_HTTP_OCI_ROUTE_BASE:
        return NGX_HTTP_OCI_FAM_BASE;

    case NGX_HTTP_OCI_ROUTE_CATALOG:
        return NGX_HTTP_OCI_FAM_CATALOG;

    case NGX_HTTP_OCI_ROUTE_TAGS:
        return NGX_HTTP_OCI_FAM_TAGS;

    case NGX_HTTP_OCI_ROUTE_MANIFEST:
        return NGX_HTTP_OCI_FAM_MANIFESTS;

    case NGX_HTTP_OCI_ROUTE_BLOB:
        return NGX_HTTP_OCI_FAM_BLOBS;

    case NGX_HTTP_OCI_ROUTE_UPLOAD_START:
    case NGX_HTTP_OCI_ROUTE_UPLOAD:
        return NGX_HTTP_OCI_FAM_UPLOADS;

    case NGX_HTTP_OCI_ROUTE_REFERRERS:
        return NGX_HTTP_OCI_FAM_REFERRERS;

    case NGX_HTTP_OCI_ROUTE_LIFECYCLE_POLICY:
    case NGX_HTTP_OCI_ROUTE_LIFECYCLE_PREVIEW:
    case NGX_HTTP_OCI_ROUTE_LIFECYCLE_RUN:
        return NGX_HTTP_OCI_FAM_LIFECYCLE;

    case NGX_HTTP_OCI_ROUTE_GC:
    case NGX_HTTP_OCI_ROUTE_GC_RUN:
    case NGX_HTTP_OCI_ROUTE_GC_USAGE:
        return NGX_HTTP_OCI_FAM_GC;

    default:
        return NGX_HTTP_OCI_FAM_UNKNOWN;
    }
}


static ngx_uint_t
ngx_http_oci_method_index(ngx_uint_t method)
{
    switch (method) {

    case NGX_HTTP_GET:
        return NGX_HTTP_OCI_METH_GET;

    case NGX_HTTP_HEAD:
        return NGX_HTTP_OCI_METH_HEAD;

    case NGX_HTTP_PUT:
        return NGX_HTTP_OCI_METH_PUT;

    case NGX_HTTP_POST:
        return NGX_HTTP_OCI_METH_POST;

    case NGX_HTTP_PATCH:
        return NGX_HTTP_OCI_METH_PATCH;

    case NGX_HTTP_DELETE:
        return NGX_HTTP_OCI_METH_DELETE;

    default:
        return NGX_HTTP_OCI_METH_OTHER;
    }
}


/*
 * The repository's slot, found or taken; NULL once repositories_max
 * names have slots (counted as one "other" then).  Another worker may be
 * writing a name into the slot being probed: it is waited for a while,
 * and a slot whose writer died mid-way is passed by after that.
 */

#define NGX_HTTP_OCI_REPO_FREE       0
#define NGX_HTTP_OCI_REPO_WRITING    1
#define NGX_HTTP_OCI_REPO_NAMED      2
#define NGX_HTTP_OCI_REPO_UNUSED     3       /* taken past the cap */

static ngx_http_oci_repo_stats_t *
ngx_http_oci_repo(ngx_http_oci_observe_main_conf_t *omcf, ngx_str_t *name)
{
    ngx_uint_t                  hash, i, n, spin;
    ngx_http_oci_repo_stats_t  *e;

    if (name->len == 0 || name->len > NGX_HTTP_OCI_MAX_NAME) {
        return NULL;
    }

    hash = ngx_hash_key(name->data, name->len);

    for (n = 0; n < omcf->nrepos; n++) {
        i = (hash + n) & (omcf->nrepos - 1);
        e = &omcf->repos[i];

        if (e->state == NGX_HTTP_OCI_REPO_FREE) {
            if (omcf->sh->repos_used >= omcf->repos_max) {
                return NULL;
            }

            if (ngx_atomic_cmp_set(&e->state, NGX_HTTP_OCI_REPO_FREE,
                                   NGX_HTTP_OCI_REPO_WRITING))
            {
                if ((ngx_uint_t) ngx_atomic_fetch_add(&omcf->sh->repos_used,
                                                      1)
                    >= omcf->repos_max)
                {
                    e->state = NGX_HTTP_OCI_REPO_UNUSED;
                    return NULL;
                }

                e->hash = hash;
                e->len = name->len;
                ngx_memcpy(e->name, name->data, name->len);

                ngx_memory_barrier();

                e->state = NGX_HTTP_OCI_REPO_NAMED;

                return e;
            }

            /* taken meanwhile: by whom is seen below */
        }

        for (spin = 0; e->state == NGX_HTTP_OCI_REPO_WRITING && spin < 1000;
             spin++)
        {
            ngx_cpu_pause();
        }

        if (e->state == NGX_HTTP_OCI_REPO_NAMED && e->hash == hash
            && e->len == name->len
            && ngx_memcmp(e->name, name->data, name->len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


/* a process slot's owner is alive (the same PID namespace: our master's) */

ngx_uint_t
ngx_http_oci_proc_alive(ngx_http_oci_proc_t *p)
{
    ngx_pid_t  pid;

    pid = (ngx_pid_t) p->pid;

    if (pid == 0) {
        return 0;
    }

    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}
