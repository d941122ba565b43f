
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_events.h"
#include "ngx_http_oci_json.h"


/*
 * The parts of an event the request knows, as script arguments (see
 * ngx_http_oci_events.h): JSON fragments escaped here, so that delivery
 * only joins them.  The envelope is CNCF distribution's
 * (application/vnd.docker.distribution.events.v2+json).
 */


typedef struct {
    ngx_http_request_t         *r;
    ngx_http_oci_ctx_t         *ctx;
    ngx_http_oci_event_t       *ev;
    ngx_str_t                   request_id;
    ngx_str_t                   actor;
    ngx_str_t                   source;
} ngx_http_oci_event_text_t;


static void ngx_http_oci_event_target(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_event_url(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_event_context(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_event_member(ngx_http_oci_text_t *t, char *name,
    ngx_str_t *value);


/* the stream and the counter of entries dropped when it was full */

void
ngx_http_oci_event_keys(ngx_http_oci_args_t *a, ngx_http_oci_loc_conf_t *conf,
    ngx_str_t *outbox)
{
    if (!conf->events) {
        return;
    }

    ngx_http_oci_args_key(a, outbox, "events", NULL);
    ngx_http_oci_args_key(a, outbox, "events:dropped", NULL);
}


void
ngx_http_oci_event_args(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_args_t *a, ngx_http_oci_event_t *ev)
{
    ngx_str_t                    target, url, context;
    ngx_http_variable_value_t   *v;
    ngx_http_oci_main_conf_t    *omcf;
    ngx_http_oci_loc_conf_t     *conf;
    ngx_http_oci_event_text_t    et;
    u_char                       addr[NGX_SOCKADDR_STRLEN];

    conf = ctx->conf;

    if (!conf->events) {
        return;
    }

    ngx_http_oci_args_str(a, &conf->events_backlog_text);

    if (ev == NULL || ev->action == NULL) {
        ngx_http_oci_args_lit(a, "");
        ngx_http_oci_args_lit(a, "");
        ngx_http_oci_args_lit(a, "");
        ngx_http_oci_args_lit(a, "");
        ngx_http_oci_args_lit(a, "");
        ngx_http_oci_args_lit(a, "");
        return;
    }

    ngx_memzero(&et, sizeof(ngx_http_oci_event_text_t));
    et.r = r;
    et.ctx = ctx;
    et.ev = ev;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_registry_module);

    v = ngx_http_get_indexed_variable(r, omcf->request_id);
    if (v && !v->not_found) {
        et.request_id.data = v->data;
        et.request_id.len = v->len;
    }

    if (conf->events_actor
        && ngx_http_complex_value(r, conf->events_actor, &et.actor) != NGX_OK)
    {
        a->failed = 1;
        return;
    }

    et.source.data = addr;
    et.source.len = NGX_SOCKADDR_STRLEN;

    if (ngx_connection_local_sockaddr(r->connection, &et.source, 1)
        != NGX_OK)
    {
        et.source.len = 0;
    }

    if (ngx_http_oci_text_build(r->pool, ngx_http_oci_event_target, &et,
                                &target)
        != NGX_OK
        || ngx_http_oci_text_build(r->pool, ngx_http_oci_event_url, &et, &url)
           != NGX_OK
        || ngx_http_oci_text_build(r->pool, ngx_http_oci_event_context, &et,
                                   &context)
           != NGX_OK)
    {
        a->failed = 1;
        return;
    }

    ngx_http_oci_args_add(a, (u_char *) ev->action, ngx_strlen(ev->action));
    ngx_http_oci_args_str(a, &ctx->route.name);
    ngx_http_oci_args_str(a, &ev->media_type);
    ngx_http_oci_args_str(a, &target);
    ngx_http_oci_args_str(a, &url);
    ngx_http_oci_args_str(a, &context);
}


/* the target's members besides mediaType, digest, repository, url, tag */

static void
ngx_http_oci_event_target(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_event_text_t  *et = data;

    if (et->ev->size >= 0) {
        ngx_http_oci_text_lit(t, ",\"size\":");
        ngx_http_oci_text_number(t, et->ev->size);
        ngx_http_oci_text_lit(t, ",\"length\":");
        ngx_http_oci_text_number(t, et->ev->size);
    }

    if (et->ev->from.len) {
        ngx_http_oci_text_lit(t, ",\"fromRepository\":\"");
        ngx_http_oci_text_json(t, et->ev->from.data, et->ev->from.len);
        ngx_http_oci_text_lit(t, "\"");
    }
}


/* "<scheme>://<host>/v2/<name>/<kind>/": the digest follows */

static void
ngx_http_oci_event_url(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_event_text_t  *et = data;

    ngx_str_t                  *host;
    ngx_http_request_t         *r;
    ngx_http_core_srv_conf_t   *cscf;

    r = et->r;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_http_oci_text_lit(t, "https://");

    } else
#endif
    {
        ngx_http_oci_text_lit(t, "http://");
    }

    if (r->headers_in.host) {
        host = &r->headers_in.host->value;

    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        host = &cscf->server_name;
    }

    ngx_http_oci_text_json(t, host->data, host->len);
    ngx_http_oci_text_lit(t, "/v2/");
    ngx_http_oci_text_json(t, et->ctx->route.name.data,
                           et->ctx->route.name.len);
    ngx_http_oci_text_lit(t, "/");
    ngx_http_oci_text_add(t, (u_char *) et->ev->kind,
                          ngx_strlen(et->ev->kind));
    ngx_http_oci_text_lit(t, "/");
}


/* "request":{...},"actor":{...},"source":{...} */

static void
ngx_http_oci_event_context(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_event_text_t  *et = data;

    ngx_str_t            host, empty = ngx_null_string;
    ngx_http_request_t  *r;

    r = et->r;
    host = ((ngx_cycle_t *) ngx_cycle)->hostname;

    ngx_http_oci_text_lit(t, "\"request\":{");
    ngx_http_oci_event_member(t, "id", &et->request_id);
    ngx_http_oci_text_lit(t, ",");
    ngx_http_oci_event_member(t, "addr", &r->connection->addr_text);
    ngx_http_oci_text_lit(t, ",");
    ngx_http_oci_event_member(t, "host", r->headers_in.host
                                         ? &r->headers_in.host->value
                                         : &empty);
    ngx_http_oci_text_lit(t, ",");
    ngx_http_oci_event_member(t, "method", &r->method_name);
    ngx_http_oci_text_lit(t, ",");
    ngx_http_oci_event_member(t, "useragent", r->headers_in.user_agent
                                              ? &r->headers_in.user_agent
                                                  ->value
                                              : &empty);
    ngx_http_oci_text_lit(t, "},\"actor\":{");

    if (et->actor.len) {
        ngx_http_oci_event_member(t, "name", &et->actor);
    }

    ngx_http_oci_text_lit(t, "},\"source\":{");
    ngx_http_oci_event_member(t, "addr", &et->source);
    ngx_http_oci_text_lit(t, ",");
    ngx_http_oci_event_member(t, "instanceID", &host);
    ngx_http_oci_text_lit(t, "}");
}


static void
ngx_http_oci_event_member(ngx_http_oci_text_t *t, char *name,
    ngx_str_t *value)
{
    ngx_http_oci_text_lit(t, "\"");
    ngx_http_oci_text_add(t, (u_char *) name, ngx_strlen(name));
    ngx_http_oci_text_lit(t, "\":\"");
    ngx_http_oci_text_json(t, value->data, value->len);
    ngx_http_oci_text_lit(t, "\"");
}


/*
 * The event of a change made by background work (a scheduled lifecycle
 * run): no request, so no URL and no client; the actor is "who".
 */

void
ngx_http_oci_event_args_bg(ngx_pool_t *pool, ngx_http_oci_loc_conf_t *conf,
    ngx_str_t *name, char *action, char *who, ngx_http_oci_args_t *a)
{
    u_char     *p, *start;
    size_t      len;
    ngx_str_t  *host;

    if (!conf->events) {
        return;
    }

    host = &((ngx_cycle_t *) ngx_cycle)->hostname;

    len = sizeof("\"request\":{\"method\":\"\",\"useragent\":\"ngx_oci_registry"
                 "\"},\"actor\":{\"name\":\"\"},\"source\":{\"instanceID\":"
                 "\"\"}") + ngx_strlen(who) + 8
          + ngx_http_oci_json_escape_len(host->data, host->len);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        a->failed = 1;
        return;
    }

    ngx_http_oci_args_str(a, &conf->events_backlog_text);
    ngx_http_oci_args_add(a, (u_char *) action, ngx_strlen(action));
    ngx_http_oci_args_str(a, name);
    ngx_http_oci_args_lit(a, "");
    ngx_http_oci_args_lit(a, "");
    ngx_http_oci_args_lit(a, "");

    start = p;
    p = ngx_sprintf(p, "\"request\":{\"method\":\"\",\"useragent\":"
                       "\"ngx_oci_registry\"},\"actor\":{\"name\":\"%s\"},"
                       "\"source\":{\"instanceID\":\"", who);
    p = ngx_http_oci_json_escape(p, host->data, host->len);
    p = ngx_cpymem(p, "\"}", 2);

    ngx_http_oci_args_add(a, start, p - start);
}

