
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_observe.h"
#include "ngx_http_oci_events.h"
#include "ngx_http_oci_auth.h"


/*
 * oci_registry_events_endpoint name uri [secret=file]
 *     [actions=push,pull,delete,mount] [repositories=glob,...]
 *     [media_types=glob,...] [batch=n] [poll=time] [backoff_max=time]
 *     [lease=time];
 *
 * In a server block: the endpoint reads the events of the server's
 * oci_registry_redis and oci_registry_key_prefix, and POSTs to "uri", an
 * internal location of that server.
 */


static char *ngx_http_oci_events_option(ngx_conf_t *cf,
    ngx_http_oci_endpoint_t *ep, ngx_str_t *v);
static ngx_array_t *ngx_http_oci_events_list(ngx_conf_t *cf, u_char *p,
    size_t len);
static ngx_int_t ngx_http_oci_events_key(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *prefix, char *suffix, ngx_str_t *name);


char *
ngx_http_oci_events_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                              *rv;
    u_char                            *p;
    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_oci_endpoint_t           *ep;
    ngx_http_oci_observe_main_conf_t  *omcf;

    value = cf->args->elts;
    omcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_oci_observe_module);

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '-'))
        {
            return "has a name that is not [a-z0-9_-]";
        }
    }

    if (value[1].len == 0 || value[1].len > 64) {
        return "has a name of 1 to 64 characters";
    }

    if (value[2].len == 0 || value[2].data[0] != '/') {
        return "needs the URI of an internal location";
    }

    ep = omcf->endpoints.elts;

    for (i = 0; i < omcf->endpoints.nelts; i++) {
        if (ep[i].name.len == value[1].len
            && ngx_strncmp(ep[i].name.data, value[1].data, value[1].len) == 0)
        {
            return "has a name another endpoint has";
        }
    }

    ep = ngx_array_push(&omcf->endpoints);
    if (ep == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(ep, sizeof(ngx_http_oci_endpoint_t));

    ep->name = value[1];
    ep->uri = value[2];
    ep->actions = NGX_HTTP_OCI_EV_ALL;
    ep->batch = 16;
    ep->poll = 1000;
    ep->backoff_max = 60000;
    ep->lease = 30000;
    ep->conf_ctx = cf->ctx;

    for (i = 3; i < cf->args->nelts; i++) {
        rv = ngx_http_oci_events_option(cf, ep, &value[i]);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_events_option(ngx_conf_t *cf, ngx_http_oci_endpoint_t *ep,
    ngx_str_t *v)
{
    u_char      *s, *e, *p;
    size_t       len;
    ngx_int_t    n;
    ngx_str_t    file, t;
    ngx_msec_t  *msec;

    p = ngx_strlchr(v->data, v->data + v->len, '=');
    if (p == NULL) {
        goto invalid;
    }

    s = p + 1;
    len = v->data + v->len - s;

    if (ngx_strncmp(v->data, "secret=", 7) == 0) {
        file.data = s;
        file.len = len;

        ep->secret.data = ngx_http_oci_conf_file(cf, &file, 4096,
                                                 &ep->secret.len);
        if (ep->secret.data == NULL) {
            return NGX_CONF_ERROR;
        }

        while (ep->secret.len
               && (ep->secret.data[ep->secret.len - 1] == '\n'
                   || ep->secret.data[ep->secret.len - 1] == '\r'))
        {
            ep->secret.len--;
        }

        if (ep->secret.len == 0) {
            return "has an empty secret file";
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "actions=", 8) == 0) {
        ep->actions = 0;

        for (e = s; s < v->data + v->len; s = e + 1) {
            e = ngx_strlchr(s, v->data + v->len, ',');
            if (e == NULL) {
                e = v->data + v->len;
            }

            t.data = s;
            t.len = e - s;

            ep->actions |= (t.len == 4 && ngx_strncmp(s, "push", 4) == 0)
                           ? NGX_HTTP_OCI_EV_PUSH
                           : (t.len == 4 && ngx_strncmp(s, "pull", 4) == 0)
                           ? NGX_HTTP_OCI_EV_PULL
                           : (t.len == 6 && ngx_strncmp(s, "delete", 6) == 0)
                           ? NGX_HTTP_OCI_EV_DELETE
                           : (t.len == 5 && ngx_strncmp(s, "mount", 5) == 0)
                           ? NGX_HTTP_OCI_EV_MOUNT : 0x100;
        }

        if (ep->actions == 0 || ep->actions & 0x100) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "repositories=", 13) == 0
        || ngx_strncmp(v->data, "media_types=", 12) == 0)
    {
        if (len == 0) {
            goto invalid;
        }

        if (v->data[0] == 'r') {
            ep->repositories = ngx_http_oci_events_list(cf, s, len);
            return ep->repositories ? NGX_CONF_OK : NGX_CONF_ERROR;
        }

        ep->media_types = ngx_http_oci_events_list(cf, s, len);
        return ep->media_types ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_strncmp(v->data, "batch=", 6) == 0) {
        n = ngx_atoi(s, len);
        if (n < 1 || n > 1000) {
            return "has a batch outside 1 to 1000";
        }

        ep->batch = n;
        return NGX_CONF_OK;
    }

    msec = (ngx_strncmp(v->data, "poll=", 5) == 0) ? &ep->poll
           : (ngx_strncmp(v->data, "backoff_max=", 12) == 0) ? &ep->backoff_max
           : (ngx_strncmp(v->data, "lease=", 6) == 0) ? &ep->lease : NULL;

    if (msec != NULL) {
        t.data = s;
        t.len = len;
        *msec = ngx_parse_time(&t, 0);

        if (*msec == (ngx_msec_t) NGX_ERROR || *msec == 0) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of "
                       "\"oci_registry_events_endpoint\"", v);

    return NGX_CONF_ERROR;
}


static ngx_array_t *
ngx_http_oci_events_list(ngx_conf_t *cf, u_char *p, size_t len)
{
    u_char       *e, *last;
    ngx_str_t    *g;
    ngx_array_t  *a;

    a = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
    if (a == NULL) {
        return NULL;
    }

    last = p + len;

    for (e = p; p < last; p = e + 1) {
        e = ngx_strlchr(p, last, ',');
        if (e == NULL) {
            e = last;
        }

        g = ngx_array_push(a);
        if (g == NULL) {
            return NULL;
        }

        g->data = p;
        g->len = e - p;
    }

    return a;
}


/*
 * After the configuration is read: each endpoint's Redis and keys, from
 * its server's registry settings (merged by now)
 */

ngx_int_t
ngx_http_oci_events_resolve(ngx_conf_t *cf, ngx_array_t *eps)
{
    ngx_uint_t                i;
    ngx_http_oci_loc_conf_t  *rlcf;
    ngx_http_oci_endpoint_t  *ep;

    ep = eps->elts;

    for (i = 0; i < eps->nelts; i++) {
        rlcf = ep[i].conf_ctx->loc_conf[ngx_http_oci_registry_module.ctx_index];

        if (rlcf->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "oci_registry_events_endpoint \"%V\" needs "
                          "\"oci_registry_redis\" in its server block",
                          &ep[i].name);
            return NGX_ERROR;
        }

        ep[i].redis = rlcf->redis;

        if (ngx_http_oci_events_key(cf->pool, &ep[i].stream,
                                    &rlcf->global, "events", NULL)
            != NGX_OK
            || ngx_http_oci_events_key(cf->pool, &ep[i].dropped,
                                       &rlcf->global, "events:dropped",
                                       NULL)
               != NGX_OK
            || ngx_http_oci_events_key(cf->pool, &ep[i].lease_key,
                                       &rlcf->global, "events:lease:",
                                       &ep[i].name)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_events_key(ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *prefix,
    char *suffix, ngx_str_t *name)
{
    size_t   n;
    u_char  *p;

    n = ngx_strlen(suffix);

    key->len = prefix->len + n + (name ? name->len : 0);
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, prefix->data, prefix->len);
    p = ngx_cpymem(p, suffix, n);

    if (name) {
        ngx_memcpy(p, name->data, name->len);
    }

    return NGX_OK;
}
