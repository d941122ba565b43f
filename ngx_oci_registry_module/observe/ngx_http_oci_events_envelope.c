
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_events.h"
#include "ngx_http_oci_json.h"
#include "ngx_http_oci_auth.h"


/*
 * Stream entries to the envelope CNCF distribution's notifications POST
 * ({"events":[...]}, application/vnd.docker.distribution.events.v2+json),
 * keeping those the endpoint's filters let through.  An entry's fields
 * (api/ngx_http_oci_events.c, and the scripts): a action, r repository,
 * m media type, d digest, t tag, x the target's other members, u its URL
 * up to the digest, q request, actor and source.  The entry's id is the
 * event's, its time the timestamp.
 */


typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   a, r, m, d, t, x, u, q;
} ngx_http_oci_event_entry_t;


typedef struct {
    ngx_http_oci_event_entry_t  *e;
    ngx_uint_t                   n;
} ngx_http_oci_envelope_t;


static ngx_int_t ngx_http_oci_event_entry(redisReply *entry,
    ngx_http_oci_event_entry_t *e);
static ngx_uint_t ngx_http_oci_event_wanted(ngx_http_oci_endpoint_t *ep,
    ngx_http_oci_event_entry_t *e);
static ngx_uint_t ngx_http_oci_event_globs(ngx_array_t *globs,
    ngx_str_t *value);
static void ngx_http_oci_envelope_fill(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_envelope_time(ngx_http_oci_text_t *t,
    ngx_str_t *id);


ngx_int_t
ngx_http_oci_events_envelope(ngx_pool_t *pool, ngx_http_oci_endpoint_t *ep,
    redisReply *entries, ngx_str_t *body, ngx_uint_t *n)
{
    size_t                       i;
    ngx_http_oci_envelope_t      env;
    ngx_http_oci_event_entry_t  *e;

    *n = 0;

    if (entries->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    env.e = ngx_palloc(pool, (entries->elements + 1)
                             * sizeof(ngx_http_oci_event_entry_t));
    if (env.e == NULL) {
        return NGX_ERROR;
    }

    env.n = 0;

    for (i = 0; i < entries->elements; i++) {
        e = &env.e[env.n];

        if (ngx_http_oci_event_entry(entries->element[i], e) != NGX_OK) {
            /* not one of ours: skipped, and acknowledged with the rest */
            continue;
        }

        if (ngx_http_oci_event_wanted(ep, e)) {
            env.n++;
        }
    }

    *n = env.n;

    if (env.n == 0) {
        ngx_str_null(body);
        return NGX_OK;
    }

    return ngx_http_oci_text_build(pool, ngx_http_oci_envelope_fill, &env,
                                   body);
}


/* [id, [field, value, ...]] */

static ngx_int_t
ngx_http_oci_event_entry(redisReply *entry, ngx_http_oci_event_entry_t *e)
{
    size_t       i;
    ngx_str_t   *v;
    redisReply  *f, *k, *val;

    ngx_memzero(e, sizeof(ngx_http_oci_event_entry_t));

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING
        || entry->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_ERROR;
    }

    e->id.data = (u_char *) entry->element[0]->str;
    e->id.len = entry->element[0]->len;

    f = entry->element[1];

    for (i = 0; i + 1 < f->elements; i += 2) {
        k = f->element[i];
        val = f->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING
            || k->len != 1)
        {
            return NGX_ERROR;
        }

        switch (k->str[0]) {
        case 'a': v = &e->a; break;
        case 'r': v = &e->r; break;
        case 'm': v = &e->m; break;
        case 'd': v = &e->d; break;
        case 't': v = &e->t; break;
        case 'x': v = &e->x; break;
        case 'u': v = &e->u; break;
        case 'q': v = &e->q; break;
        default: continue;
        }

        v->data = (u_char *) val->str;
        v->len = val->len;
    }

    return (e->a.len && e->r.len && e->q.len) ? NGX_OK : NGX_ERROR;
}


static ngx_uint_t
ngx_http_oci_event_wanted(ngx_http_oci_endpoint_t *ep,
    ngx_http_oci_event_entry_t *e)
{
    ngx_uint_t  action;

    action = (e->a.len == 4 && ngx_strncmp(e->a.data, "push", 4) == 0)
             ? NGX_HTTP_OCI_EV_PUSH
             : (e->a.len == 4 && ngx_strncmp(e->a.data, "pull", 4) == 0)
             ? NGX_HTTP_OCI_EV_PULL
             : (e->a.len == 5 && ngx_strncmp(e->a.data, "mount", 5) == 0)
             ? NGX_HTTP_OCI_EV_MOUNT
             : NGX_HTTP_OCI_EV_DELETE;

    return (ep->actions & action)
           && ngx_http_oci_event_globs(ep->repositories, &e->r)
           && ngx_http_oci_event_globs(ep->media_types, &e->m);
}


static ngx_uint_t
ngx_http_oci_event_globs(ngx_array_t *globs, ngx_str_t *value)
{
    ngx_uint_t   i;
    ngx_str_t   *g;

    if (globs == NULL) {
        return 1;
    }

    g = globs->elts;

    for (i = 0; i < globs->nelts; i++) {
        if (ngx_http_oci_glob_match(&g[i], value)) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_oci_envelope_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_envelope_t  *env = data;

    ngx_uint_t                   i;
    ngx_http_oci_event_entry_t  *e;

    ngx_http_oci_text_lit(t, "{\"events\":[");

    for (i = 0; i < env->n; i++) {
        e = &env->e[i];

        if (i) {
            ngx_http_oci_text_lit(t, ",");
        }

        ngx_http_oci_text_lit(t, "{\"id\":\"");
        ngx_http_oci_text_json(t, e->id.data, e->id.len);
        ngx_http_oci_text_lit(t, "\",\"timestamp\":\"");
        ngx_http_oci_envelope_time(t, &e->id);
        ngx_http_oci_text_lit(t, "\",\"action\":\"");
        ngx_http_oci_text_json(t, e->a.data, e->a.len);
        ngx_http_oci_text_lit(t, "\",\"target\":{\"mediaType\":\"");
        ngx_http_oci_text_json(t, e->m.data, e->m.len);
        ngx_http_oci_text_lit(t, "\"");

        if (e->d.len) {
            ngx_http_oci_text_lit(t, ",\"digest\":\"");
            ngx_http_oci_text_json(t, e->d.data, e->d.len);
            ngx_http_oci_text_lit(t, "\"");
        }

        ngx_http_oci_text_lit(t, ",\"repository\":\"");
        ngx_http_oci_text_json(t, e->r.data, e->r.len);
        ngx_http_oci_text_lit(t, "\"");

        if (e->d.len && e->u.len) {
            ngx_http_oci_text_lit(t, ",\"url\":\"");
            ngx_http_oci_text_str(t, &e->u);
            ngx_http_oci_text_json(t, e->d.data, e->d.len);
            ngx_http_oci_text_lit(t, "\"");
        }

        if (e->t.len) {
            ngx_http_oci_text_lit(t, ",\"tag\":\"");
            ngx_http_oci_text_json(t, e->t.data, e->t.len);
            ngx_http_oci_text_lit(t, "\"");
        }

        ngx_http_oci_text_str(t, &e->x);
        ngx_http_oci_text_lit(t, "},");
        ngx_http_oci_text_str(t, &e->q);
        ngx_http_oci_text_lit(t, "}");
    }

    ngx_http_oci_text_lit(t, "]}");
}


/* the id's milliseconds, as RFC 3339 in UTC */

static void
ngx_http_oci_envelope_time(ngx_http_oci_text_t *t, ngx_str_t *id)
{
    u_char     *p, *dash;
    int64_t     ms;
    ngx_tm_t    tm;
    u_char      buf[sizeof("1970-01-01T00:00:00.000Z")];

    dash = ngx_strlchr(id->data, id->data + id->len, '-');
    ms = ngx_atoof(id->data, (dash ? dash : id->data + id->len) - id->data);

    if (ms < 0) {
        ms = 0;
    }

    ngx_gmtime((time_t) (ms / 1000), &tm);

    p = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                    (int) (ms % 1000));

    ngx_http_oci_text_add(t, buf, p - buf);
}
