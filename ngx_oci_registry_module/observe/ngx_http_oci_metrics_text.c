
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_observe.h"


/*
 * GET /metrics (oci_registry_metrics): the counters of every worker in
 * Prometheus's text exposition format, version 0.0.4.  Written into a
 * chain of buffers as the zone is read: its size depends on how many
 * series have samples.
 */


#define NGX_HTTP_OCI_EXPO_BUF        16384
#define NGX_HTTP_OCI_EXPO_LINE       1024


typedef struct {
    ngx_http_request_t         *r;
    ngx_chain_t                *out;
    ngx_chain_t               **last;
    ngx_buf_t                  *b;
    ngx_uint_t                  failed;
} ngx_http_oci_expo_t;


static void ngx_http_oci_expo_http(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_gauges(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_redis(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_repos(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_events(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_mirror(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_gc(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_lifecycle(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf);
static void ngx_http_oci_expo_histogram(ngx_http_oci_expo_t *e, char *name,
    char *label, ngx_str_t *value, ngx_atomic_t *buckets,
    const uint64_t *bounds_us, ngx_uint_t n, uint64_t sum_us);
static void ngx_http_oci_expo_head(ngx_http_oci_expo_t *e, char *name,
    char *type, char *help);
static void ngx_http_oci_expo_printf(ngx_http_oci_expo_t *e,
    const char *fmt, ...);
static u_char *ngx_http_oci_expo_seconds(u_char *p, uint64_t us);


static ngx_str_t  ngx_http_oci_families[] = {
    ngx_string("base"), ngx_string("catalog"), ngx_string("tags"),
    ngx_string("manifests"), ngx_string("blobs"), ngx_string("uploads"),
    ngx_string("referrers"), ngx_string("lifecycle"), ngx_string("gc"),
    ngx_string("unknown")
};

static ngx_str_t  ngx_http_oci_methods[] = {
    ngx_string("GET"), ngx_string("HEAD"), ngx_string("PUT"),
    ngx_string("POST"), ngx_string("PATCH"), ngx_string("DELETE"),
    ngx_string("other")
};

static ngx_str_t  ngx_http_oci_classes[] = {
    ngx_string("other"), ngx_string("1xx"), ngx_string("2xx"),
    ngx_string("3xx"), ngx_string("4xx"), ngx_string("5xx")
};

static ngx_str_t  ngx_http_oci_redis_errors[] = {
    ngx_string("reply"), ngx_string("timeout"), ngx_string("lost"),
    ngx_string("unavailable")
};

static ngx_str_t  ngx_http_oci_decisions[] = {
    ngx_string("allowed"), ngx_string("denied"), ngx_string("challenged")
};

static ngx_str_t  ngx_http_oci_expo_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


ngx_int_t
ngx_http_oci_metrics_handler(ngx_http_request_t *r)
{
    off_t                              len;
    ngx_int_t                          rc;
    ngx_chain_t                       *cl;
    ngx_http_oci_expo_t                e;
    ngx_http_oci_observe_main_conf_t  *omcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_observe_module);

    if (omcf->sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&e, sizeof(ngx_http_oci_expo_t));
    e.r = r;
    e.last = &e.out;

    ngx_http_oci_expo_http(&e, omcf);
    ngx_http_oci_expo_gauges(&e, omcf);
    ngx_http_oci_expo_redis(&e, omcf);
    ngx_http_oci_expo_repos(&e, omcf);
    ngx_http_oci_expo_events(&e, omcf);
    ngx_http_oci_expo_lifecycle(&e, omcf);
    ngx_http_oci_expo_gc(&e, omcf);
    ngx_http_oci_expo_mirror(&e, omcf);

    if (e.failed || e.b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e.b->last_buf = (r == r->main) ? 1 : 0;
    e.b->last_in_chain = 1;

    len = 0;

    for (cl = e.out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_oci_expo_type;
    r->headers_out.content_type_len = ngx_http_oci_expo_type.len;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, e.out);
}


static void
ngx_http_oci_expo_http(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    char                       *name;
    ngx_uint_t                  f, m, c, i;
    uint64_t                    bounds[NGX_HTTP_OCI_DURATION_N];
    ngx_http_oci_http_stats_t  *st;

    static const ngx_msec_t  ms[] = NGX_HTTP_OCI_DURATION_MS;

    st = &omcf->sh->http;

    ngx_http_oci_expo_head(e, "oci_registry_http_requests_total", "counter",
                           "Requests answered by the registry, by endpoint "
                           "family, method and status class.");

    for (f = 0; f < NGX_HTTP_OCI_FAM_N; f++) {
        for (m = 0; m < NGX_HTTP_OCI_METH_N; m++) {
            for (c = 0; c < NGX_HTTP_OCI_CLASS_N; c++) {
                if (st->requests[f][m][c] == 0) {
                    continue;
                }

                ngx_http_oci_expo_printf(e,
                    "oci_registry_http_requests_total{family=\"%V\","
                    "method=\"%V\",status=\"%V\"} %uA\n",
                    &ngx_http_oci_families[f], &ngx_http_oci_methods[m],
                    &ngx_http_oci_classes[c], st->requests[f][m][c]);
            }
        }
    }

    for (i = 0; i < NGX_HTTP_OCI_DURATION_N; i++) {
        bounds[i] = (uint64_t) ms[i] * 1000;
    }

    name = "oci_registry_http_request_duration_seconds";

    ngx_http_oci_expo_head(e, name, "histogram",
                           "Time from the request's first byte to its "
                           "log phase, by endpoint family.");

    for (f = 0; f < NGX_HTTP_OCI_FAM_N; f++) {
        ngx_http_oci_expo_histogram(e, name, "family",
                                    &ngx_http_oci_families[f],
                                    st->duration[f], bounds,
                                    NGX_HTTP_OCI_DURATION_N,
                                    (uint64_t) st->duration_ms[f] * 1000);
    }

    ngx_http_oci_expo_head(e, "oci_registry_http_received_bytes_total",
                           "counter",
                           "Bytes of requests (line, headers and body), by "
                           "endpoint family.");

    for (f = 0; f < NGX_HTTP_OCI_FAM_N; f++) {
        if (st->received[f]) {
            ngx_http_oci_expo_printf(e,
                "oci_registry_http_received_bytes_total{family=\"%V\"} %uA\n",
                &ngx_http_oci_families[f], st->received[f]);
        }
    }

    ngx_http_oci_expo_head(e, "oci_registry_http_sent_bytes_total",
                           "counter",
                           "Bytes of responses (headers and body), by "
                           "endpoint family.");

    for (f = 0; f < NGX_HTTP_OCI_FAM_N; f++) {
        if (st->sent[f]) {
            ngx_http_oci_expo_printf(e,
                "oci_registry_http_sent_bytes_total{family=\"%V\"} %uA\n",
                &ngx_http_oci_families[f], st->sent[f]);
        }
    }

    ngx_http_oci_expo_head(e, "oci_registry_auth_decisions_total", "counter",
                           "Decisions of the token verifier.");

    for (i = 0; i < NGX_HTTP_OCI_AUTH_DECISIONS; i++) {
        ngx_http_oci_expo_printf(e,
            "oci_registry_auth_decisions_total{decision=\"%V\"} %uA\n",
            &ngx_http_oci_decisions[i], omcf->sh->auth.decisions[i]);
    }
}


/* the gauges: summed over the slots of live processes */

static void
ngx_http_oci_expo_gauges(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t            i, workers;
    ngx_atomic_int_t      uploads;
    ngx_http_oci_proc_t  *p;

    workers = 0;
    uploads = 0;

    for (i = 0; i < NGX_HTTP_OCI_PROCS; i++) {
        p = ngx_http_oci_proc(omcf, i);

        if (ngx_http_oci_proc_alive(p)) {
            workers++;
            uploads += (ngx_atomic_int_t) p->uploads;
        }
    }

    ngx_http_oci_expo_head(e, "oci_registry_workers", "gauge",
                           "Worker processes counting into these metrics "
                           "(those of a reload still finishing included).");
    ngx_http_oci_expo_printf(e, "oci_registry_workers %ui\n", workers);

    ngx_http_oci_expo_head(e, "oci_registry_uploads_in_flight", "gauge",
                           "Requests bringing blob bytes now.");
    ngx_http_oci_expo_printf(e, "oci_registry_uploads_in_flight %A\n",
                             ngx_max(uploads, 0));
}


static void
ngx_http_oci_expo_redis(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    char                        *name;
    ngx_uint_t                   i, k, j, up;
    ngx_http_oci_proc_t         *p;
    ngx_http_oci_main_conf_t    *rmcf;
    ngx_http_oci_redis_conf_t  **rcf;
    ngx_http_oci_redis_stats_t  *st;

    static const uint64_t  bounds[] = NGX_HTTP_OCI_REDIS_LATENCY_US;

    rmcf = ngx_http_get_module_main_conf(e->r, ngx_http_oci_registry_module);
    rcf = rmcf->redis.elts;

    name = "oci_registry_redis_command_duration_seconds";

    ngx_http_oci_expo_head(e, name, "histogram",
                           "Time from sending a command to its reply, by "
                           "Redis server.");

    for (i = 0; i < omcf->nredis; i++) {
        st = &omcf->redis[i];
        ngx_http_oci_expo_histogram(e, name, "redis", &rcf[i]->addr,
                                    st->latency, bounds,
                                    NGX_HTTP_OCI_REDIS_LATENCY_N,
                                    st->latency_us);
    }

    ngx_http_oci_expo_head(e, "oci_registry_redis_errors_total", "counter",
                           "Commands that failed: an error reply, a reply "
                           "not in time (the connection is dropped), a "
                           "connection lost with commands in flight, or no "
                           "connection to send on.");

    for (i = 0; i < omcf->nredis; i++) {
        for (k = 0; k < NGX_HTTP_OCI_REDIS_ERR_N; k++) {
            ngx_http_oci_expo_printf(e,
                "oci_registry_redis_errors_total{redis=\"%V\",kind=\"%V\"} "
                "%uA\n", &rcf[i]->addr, &ngx_http_oci_redis_errors[k],
                omcf->redis[i].errors[k]);
        }
    }

    ngx_http_oci_expo_head(e, "oci_registry_redis_reconnects_total",
                           "counter",
                           "Connection attempts after a connection was lost "
                           "or could not be made.");

    for (i = 0; i < omcf->nredis; i++) {
        ngx_http_oci_expo_printf(e,
            "oci_registry_redis_reconnects_total{redis=\"%V\"} %uA\n",
            &rcf[i]->addr, omcf->redis[i].reconnects);
    }

    ngx_http_oci_expo_head(e, "oci_registry_redis_connections", "gauge",
                           "Workers whose connection to the server is up.");

    for (i = 0; i < omcf->nredis; i++) {
        up = 0;

        for (j = 0; j < NGX_HTTP_OCI_PROCS; j++) {
            p = ngx_http_oci_proc(omcf, j);

            if (p->redis_up[i] && ngx_http_oci_proc_alive(p)) {
                up++;
            }
        }

        ngx_http_oci_expo_printf(e,
            "oci_registry_redis_connections{redis=\"%V\"} %ui\n",
            &rcf[i]->addr, up);
    }
}


static void
ngx_http_oci_expo_repos(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t                  i, k;
    ngx_atomic_uint_t           n;
    ngx_http_oci_repo_stats_t  *repo;

    static char  *names[] = { "oci_registry_repository_pulls_total",
                              "oci_registry_repository_pushes_total" };

    for (k = 0; k < 2; k++) {
        ngx_http_oci_expo_head(e, names[k], "counter",
                               k == 0 ? "Manifests read (GET, 2xx), by "
                                        "repository; \"_other\" once "
                                        "oci_registry_metrics_repositories "
                                        "have series."
                                      : "Manifests stored (PUT, 2xx), by "
                                        "repository; \"_other\" once "
                                        "oci_registry_metrics_repositories "
                                        "have series.");

        for (i = 0; i < omcf->nrepos; i++) {
            repo = &omcf->repos[i];

            if (repo->state != 2) {
                continue;
            }

            n = (k == 0) ? repo->pulls : repo->pushes;

            ngx_http_oci_expo_printf(e, "%s{repository=\"%*s\"} %uA\n",
                                     names[k], repo->len, repo->name, n);
        }

        n = (k == 0) ? omcf->sh->other_pulls : omcf->sh->other_pushes;

        ngx_http_oci_expo_printf(e, "%s{repository=\"_other\"} %uA\n",
                                 names[k], n);
    }
}


/* per endpoint; the stream's length and drops as its delivery last saw */

static void
ngx_http_oci_expo_events(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t                      i, k;
    ngx_atomic_uint_t               v;
    ngx_http_oci_endpoint_t        *ep;
    ngx_http_oci_endpoint_stats_t  *st;

    static char  *names[] = {
        "oci_registry_events_delivered_total",
        "oci_registry_events_filtered_total",
        "oci_registry_events_delivery_failures_total",
        "oci_registry_events_backlog",
        "oci_registry_events_dropped_total"
    };

    static char  *types[] = {
        "counter", "counter", "counter", "gauge", "counter"
    };

    static char  *helps[] = {
        "Events POSTed to the endpoint and answered 2xx.",
        "Events the endpoint's filters left out (acknowledged unsent).",
        "POSTs to the endpoint that failed (sent again after a backoff).",
        "Entries in the event stream, as the endpoint's delivery last "
        "saw it.",
        "Events dropped because the stream held oci_registry_events_backlog "
        "entries, as the endpoint's delivery last saw it."
    };

    ep = omcf->endpoints.elts;

    if (omcf->endpoints.nelts == 0) {
        return;
    }

    for (k = 0; k < 5; k++) {
        ngx_http_oci_expo_head(e, names[k], types[k], helps[k]);

        for (i = 0; i < omcf->endpoints.nelts; i++) {
            st = &omcf->events[i];

            v = (k == 0) ? st->delivered : (k == 1) ? st->filtered
                : (k == 2) ? st->failures : (k == 3) ? st->backlog
                : st->dropped;

            ngx_http_oci_expo_printf(e, "%s{endpoint=\"%V\"} %uA\n",
                                     names[k], &ep[i].name, v);
        }
    }
}


/*
 * A histogram's series for one label value, if it has samples: cumulative
 * buckets, the sum, and the count (that of the +Inf bucket, so the two
 * agree however the counters move meanwhile)
 */

static void
ngx_http_oci_expo_histogram(ngx_http_oci_expo_t *e, char *name, char *label,
    ngx_str_t *value, ngx_atomic_t *buckets, const uint64_t *bounds_us,
    ngx_uint_t n, uint64_t sum_us)
{
    u_char             *p;
    ngx_uint_t          i;
    ngx_atomic_uint_t   total, counts[32];
    u_char              le[NGX_INT64_LEN + 8];

    total = 0;

    for (i = 0; i <= n && i < 32; i++) {
        counts[i] = buckets[i];
        total += counts[i];
    }

    if (total == 0) {
        return;
    }

    total = 0;

    for (i = 0; i <= n && i < 32; i++) {
        total += counts[i];

        if (i < n) {
            p = ngx_http_oci_expo_seconds(le, bounds_us[i]);

        } else {
            p = ngx_cpymem(le, "+Inf", 4);
        }

        ngx_http_oci_expo_printf(e, "%s_bucket{%s=\"%V\",le=\"%*s\"} %uA\n",
                                 name, label, value, (size_t) (p - le), le,
                                 total);
    }

    p = ngx_http_oci_expo_seconds(le, sum_us);

    ngx_http_oci_expo_printf(e, "%s_sum{%s=\"%V\"} %*s\n", name, label, value,
                             (size_t) (p - le), le);
    ngx_http_oci_expo_printf(e, "%s_count{%s=\"%V\"} %uA\n", name, label,
                             value, total);
}


static void
ngx_http_oci_expo_head(ngx_http_oci_expo_t *e, char *name, char *type,
    char *help)
{
    ngx_http_oci_expo_printf(e, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                             name, type);
}


/* a line into the chain: a new buffer when the last one cannot take it */

static void
ngx_http_oci_expo_printf(ngx_http_oci_expo_t *e, const char *fmt, ...)
{
    va_list       args;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (e->failed) {
        return;
    }

    b = e->b;

    if (b == NULL || b->end - b->last < NGX_HTTP_OCI_EXPO_LINE) {
        b = ngx_create_temp_buf(e->r->pool, NGX_HTTP_OCI_EXPO_BUF);
        cl = ngx_alloc_chain_link(e->r->pool);

        if (b == NULL || cl == NULL) {
            e->failed = 1;
            return;
        }

        cl->buf = b;
        cl->next = NULL;
        *e->last = cl;
        e->last = &cl->next;
        e->b = b;
    }

    va_start(args, fmt);
    b->last = ngx_vslprintf(b->last, b->end, fmt, args);
    va_end(args);
}


/* microseconds as seconds, without trailing zeros: 100 is "0.0001" */

static u_char *
ngx_http_oci_expo_seconds(u_char *p, uint64_t us)
{
    u_char    *last;
    uint64_t   frac;

    p = ngx_sprintf(p, "%uL", us / 1000000);
    frac = us % 1000000;

    if (frac == 0) {
        return p;
    }

    last = ngx_sprintf(p, ".%06uL", frac);

    while (last[-1] == '0') {
        last--;
    }

    return last;
}


/* what lifecycle runs did, by what started them */

static void
ngx_http_oci_expo_lifecycle(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t                i;
    ngx_http_oci_lc_stats_t  *st;

    static const char  *triggers[] = { "run", "schedule" };

    st = &omcf->sh->lifecycle;

    ngx_http_oci_expo_head(e, "oci_registry_lifecycle_repositories_total",
                           "counter", "Repositories a lifecycle policy was "
                           "applied to, by trigger.");

    for (i = 0; i < 2; i++) {
        ngx_http_oci_expo_printf(e,
            "oci_registry_lifecycle_repositories_total{trigger=\"%s\"} "
            "%uA\n", triggers[i], st->repositories[i]);
    }

    ngx_http_oci_expo_head(e, "oci_registry_lifecycle_expired_images_total",
                           "counter", "Images lifecycle policies expired, "
                           "by trigger.");

    for (i = 0; i < 2; i++) {
        ngx_http_oci_expo_printf(e,
            "oci_registry_lifecycle_expired_images_total{trigger=\"%s\"} "
            "%uA\n", triggers[i], st->images[i]);
    }

    ngx_http_oci_expo_head(e,
                           "oci_registry_lifecycle_expired_referrers_total",
                           "counter", "Referrers deleted with the images "
                           "lifecycle policies expired, by trigger.");

    for (i = 0; i < 2; i++) {
        ngx_http_oci_expo_printf(e,
            "oci_registry_lifecycle_expired_referrers_total{trigger=\"%s\"} "
            "%uA\n", triggers[i], st->referrers[i]);
    }
}


/* what garbage collection passes did */

static void
ngx_http_oci_expo_gc(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t                i;
    ngx_atomic_t             *v[5];
    ngx_http_oci_gc_stats_t  *st;

    static char  *names[] = {
        "oci_registry_gc_unlinked_blobs_total",
        "oci_registry_gc_unlinked_bytes_total",
        "oci_registry_gc_removed_files_total",
        "oci_registry_gc_removed_bytes_total",
        "oci_registry_gc_deleted_referrers_total"
    };

    static char  *helps[] = {
        "Blob links garbage collection removed.",
        "Bytes of the blob links garbage collection removed.",
        "Blob files garbage collection removed.",
        "Bytes of the blob files garbage collection removed.",
        "Referrers of deleted manifests garbage collection deleted."
    };

    st = &omcf->sh->gc;

    v[0] = &st->unlinked;
    v[1] = &st->unlinked_bytes;
    v[2] = &st->files;
    v[3] = &st->bytes;
    v[4] = &st->referrers;

    ngx_http_oci_expo_head(e, "oci_registry_gc_passes_total", "counter",
                           "Garbage collection passes finished, by whether "
                           "they were dry runs.");
    ngx_http_oci_expo_printf(e,
        "oci_registry_gc_passes_total{dry=\"false\"} %uA\n"
        "oci_registry_gc_passes_total{dry=\"true\"} %uA\n",
        st->passes[0], st->passes[1]);

    for (i = 0; i < 5; i++) {
        ngx_http_oci_expo_head(e, names[i], "counter", helps[i]);
        ngx_http_oci_expo_printf(e, "%s %uA\n", names[i], *v[i]);
    }
}


/* what the pull-through mirrors did */

static void
ngx_http_oci_expo_mirror(ngx_http_oci_expo_t *e,
    ngx_http_oci_observe_main_conf_t *omcf)
{
    ngx_uint_t                    k, i;
    ngx_http_oci_mirror_stats_t  *st;

    static char  *kinds[] = { "manifests", "blobs", "tokens" };
    static char  *results[] = { "ok", "not_found", "failed" };

    st = &omcf->sh->mirror;

    ngx_http_oci_expo_head(e, "oci_registry_mirror_hits_total", "counter",
                           "Mirrored manifests and blobs answered from the "
                           "cache, by kind.");

    for (k = 0; k < 2; k++) {
        ngx_http_oci_expo_printf(e,
            "oci_registry_mirror_hits_total{kind=\"%s\"} %uA\n",
            kinds[k], st->hits[k]);
    }

    ngx_http_oci_expo_head(e, "oci_registry_mirror_fetches_total",
                           "counter", "Requests to upstream registries, by "
                           "kind and result (not_found: 404, 401, 403; "
                           "failed: no answer, 5xx, 429, others).");

    for (k = 0; k < 3; k++) {
        for (i = 0; i < 3; i++) {
            ngx_http_oci_expo_printf(e,
                "oci_registry_mirror_fetches_total{kind=\"%s\","
                "result=\"%s\"} %uA\n", kinds[k], results[i],
                st->fetches[k][i]);
        }
    }

    ngx_http_oci_expo_head(e, "oci_registry_mirror_stored_bytes_total",
                           "counter", "Bytes of blobs fetched from upstream "
                           "registries and stored.");
    ngx_http_oci_expo_printf(e, "oci_registry_mirror_stored_bytes_total %uA\n",
                             st->bytes);

    ngx_http_oci_expo_head(e, "oci_registry_mirror_stale_total", "counter",
                           "Cached tags served stale because the upstream "
                           "failed.");
    ngx_http_oci_expo_printf(e, "oci_registry_mirror_stale_total %uA\n",
                             st->stale);

    ngx_http_oci_expo_head(e, "oci_registry_mirror_rejected_total",
                           "counter", "Upstream answers not stored: not "
                           "their digest, short, or invalid.");
    ngx_http_oci_expo_printf(e, "oci_registry_mirror_rejected_total %uA\n",
                             st->rejected);
}
