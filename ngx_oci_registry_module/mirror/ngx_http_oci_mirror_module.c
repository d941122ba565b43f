
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_mirror.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_grammar.h"


/*
 * The mirrors' configuration and the choice of a request's mirror:
 *
 *     oci_registry_mirror <prefix> <url> [ns=<host>]... [default]
 *                         [ttl=<time>] [auth=<user:password>]
 *                         [credentials=<file>] [push=on|off];
 *     oci_registry_mirror_location <uri>;
 *
 * and the variables the proxy_pass location reads: $oci_mirror_url,
 * $oci_mirror_authorization, $oci_mirror_accept, $oci_mirror_range.
 */


static ngx_int_t ngx_http_oci_mirror_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_oci_mirror_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_oci_mirror_init(ngx_conf_t *cf);
static void *ngx_http_oci_mirror_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oci_mirror_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_oci_mirror_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_http_oci_mirror_t *ngx_http_oci_mirror_find(ngx_http_request_t *r,
    ngx_http_oci_mirror_loc_conf_t *mlcf, ngx_http_oci_ctx_t *ctx,
    ngx_str_t *name, ngx_str_t *ns);


static ngx_command_t  ngx_http_oci_mirror_commands[] = {

    { ngx_string("oci_registry_mirror"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_oci_mirror_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_mirror_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_mirror_loc_conf_t, location),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oci_mirror_module_ctx = {
    ngx_http_oci_mirror_variables,         /* preconfiguration */
    ngx_http_oci_mirror_init,              /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oci_mirror_create_loc_conf,   /* create location configuration */
    ngx_http_oci_mirror_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_oci_mirror_module = {
    NGX_MODULE_V1,
    &ngx_http_oci_mirror_module_ctx,       /* module context */
    ngx_http_oci_mirror_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_oci_mirror_vars[] = {

    { ngx_string("oci_mirror_url"), NULL, ngx_http_oci_mirror_variable,
      offsetof(ngx_http_oci_fetch_t, url),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("oci_mirror_authorization"), NULL,
      ngx_http_oci_mirror_variable,
      offsetof(ngx_http_oci_fetch_t, authorization),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("oci_mirror_accept"), NULL, ngx_http_oci_mirror_variable,
      offsetof(ngx_http_oci_fetch_t, accept),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("oci_mirror_range"), NULL, ngx_http_oci_mirror_variable,
      offsetof(ngx_http_oci_fetch_t, range),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_oci_mirror_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_oci_mirror_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* the fetch of the subrequest asking: empty elsewhere */

static ngx_int_t
ngx_http_oci_mirror_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             *s;
    ngx_http_oci_fetch_t  *f;

    f = ngx_http_get_module_ctx(r, ngx_http_oci_mirror_module);

    if (f == NULL || r == r->main) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) f + data);

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_mirror_init(ngx_conf_t *cf)
{
    return ngx_http_oci_fetch_filters(cf);
}


static void *
ngx_http_oci_mirror_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oci_mirror_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_mirror_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->location = { 0, NULL };
     */

    conf->mirrors = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_oci_mirror_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_oci_mirror_loc_conf_t  *prev = parent;
    ngx_http_oci_mirror_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->mirrors, prev->mirrors, NULL);
    ngx_conf_merge_str_value(conf->location, prev->location, "/_oci_mirror");

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_mirror_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_mirror_loc_conf_t  *mlcf = conf;

    ngx_str_t              *value, *ns, s;
    ngx_uint_t              i;
    ngx_http_oci_mirror_t  *m, *other;

    value = cf->args->elts;

    if (mlcf->mirrors == NGX_CONF_UNSET_PTR) {
        mlcf->mirrors = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_oci_mirror_t));
        if (mlcf->mirrors == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    m = ngx_array_push(mlcf->mirrors);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_http_oci_mirror_t));

    m->prefix = value[1];
    m->ttl = 300;

    if (ngx_http_oci_name_valid(m->prefix.data, m->prefix.len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mirror prefix \"%V\" is not a repository name",
                           &m->prefix);
        return NGX_CONF_ERROR;
    }

    m->url = value[2];

    while (m->url.len && m->url.data[m->url.len - 1] == '/') {
        m->url.len--;
    }

    if (!(m->url.len > sizeof("http://") - 1
          && ngx_strncasecmp(m->url.data, (u_char *) "http://", 7) == 0)
        && !(m->url.len > sizeof("https://") - 1
             && ngx_strncasecmp(m->url.data, (u_char *) "https://", 8) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mirror URL \"%V\" is not http:// or https://",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&m->ns, cf->pool, 1, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ns=", 3) == 0
            && value[i].len > 3)
        {
            ns = ngx_array_push(&m->ns);
            if (ns == NULL) {
                return NGX_CONF_ERROR;
            }

            ns->data = value[i].data + 3;
            ns->len = value[i].len - 3;
            continue;
        }

        if (value[i].len == 7 && ngx_strncmp(value[i].data, "default", 7)
                                 == 0)
        {
            m->deflt = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            m->ttl = ngx_parse_time(&s, 1);
            if (m->ttl == (time_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "auth=", 5) == 0
            && ngx_strlchr(value[i].data + 5, value[i].data + value[i].len,
                           ':'))
        {
            m->auth.data = value[i].data + 5;
            m->auth.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "credentials=", 12) == 0
            && value[i].len > 12)
        {
            m->credentials.data = value[i].data + 12;
            m->credentials.len = value[i].len - 12;

            if (ngx_conf_full_name(cf->cycle, &m->credentials, 1) != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len == 7 && ngx_strncmp(value[i].data, "push=on", 7)
                                 == 0)
        {
            m->push = 1;
            continue;
        }

        if (value[i].len == 8 && ngx_strncmp(value[i].data, "push=off", 8)
                                 == 0)
        {
            continue;
        }

        goto invalid;
    }

    m->ttl_text.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN);
    if (m->ttl_text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    m->ttl_text.len = ngx_sprintf(m->ttl_text.data, "%T", m->ttl)
                      - m->ttl_text.data;

    other = mlcf->mirrors->elts;

    for (i = 0; i + 1 < mlcf->mirrors->nelts; i++) {
        if (other[i].prefix.len == m->prefix.len
            && ngx_strncmp(other[i].prefix.data, m->prefix.data,
                           m->prefix.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate mirror prefix \"%V\"", &m->prefix);
            return NGX_CONF_ERROR;
        }

        if (other[i].deflt && m->deflt) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "only one mirror can be the default");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid mirror parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_oci_mirror_select(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx)
{
    u_char                          *p;
    ngx_str_t                        name, ns, local;
    ngx_http_oci_mirror_t           *m;
    ngx_http_oci_mirrored_t         *mr;
    ngx_http_oci_mirror_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_mirror_module);

    if (mlcf->mirrors == NULL || ctx->route.name.len == 0) {
        return NGX_DECLINED;
    }

    switch (ctx->route.type) {
    case NGX_HTTP_OCI_ROUTE_TAGS:
    case NGX_HTTP_OCI_ROUTE_MANIFEST:
    case NGX_HTTP_OCI_ROUTE_BLOB:
    case NGX_HTTP_OCI_ROUTE_UPLOAD_START:
    case NGX_HTTP_OCI_ROUTE_UPLOAD:
    case NGX_HTTP_OCI_ROUTE_REFERRERS:
        break;
    default:
        return NGX_DECLINED;
    }

    m = ngx_http_oci_mirror_find(r, mlcf, ctx, &name, &ns);
    if (m == NULL) {
        return NGX_DECLINED;
    }

    if (!m->push && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_oci_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       NGX_HTTP_OCI_ERR_UNSUPPORTED,
                                       &m->prefix);
    }

    mr = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_mirrored_t));
    if (mr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mr->mirror = m;
    mr->name = name;
    mr->ns = ns;

    /* the local name: "<prefix>/<upstream name>" */

    if (name.data != ctx->route.name.data + m->prefix.len + 1) {
        local.len = m->prefix.len + 1 + name.len;

        if (local.len > NGX_HTTP_OCI_MAX_NAME) {
            return ngx_http_oci_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_OCI_ERR_NAME_INVALID,
                                           &name);
        }

        local.data = ngx_pnalloc(r->pool, local.len);
        if (local.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(local.data, m->prefix.data, m->prefix.len);
        *p++ = '/';
        ngx_memcpy(p, name.data, name.len);

        ctx->route.name = local;
    }

    if (ns.len
        && ngx_http_oci_add_header(r, "OCI-Namespace", &ns) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mirror = mr;

    return NGX_DECLINED;
}


/*
 * ?ns= first (containerd sends it on every request to a mirror), then
 * the prefix, then the default.  "name" is the upstream's name.
 */

static ngx_http_oci_mirror_t *
ngx_http_oci_mirror_find(ngx_http_request_t *r,
    ngx_http_oci_mirror_loc_conf_t *mlcf, ngx_http_oci_ctx_t *ctx,
    ngx_str_t *name, ngx_str_t *ns)
{
    ngx_str_t              *h, arg;
    ngx_uint_t              i, j;
    ngx_http_oci_mirror_t  *m;

    m = mlcf->mirrors->elts;
    ngx_str_null(ns);

    if (ngx_http_arg(r, (u_char *) "ns", 2, &arg) == NGX_OK && arg.len) {
        for (i = 0; i < mlcf->mirrors->nelts; i++) {
            h = m[i].ns.elts;

            for (j = 0; j < m[i].ns.nelts; j++) {
                if (h[j].len == arg.len
                    && ngx_strncasecmp(h[j].data, arg.data, arg.len) == 0)
                {
                    *name = ctx->route.name;
                    *ns = h[j];
                    return &m[i];
                }
            }
        }
    }

    for (i = 0; i < mlcf->mirrors->nelts; i++) {
        if (ctx->route.name.len > m[i].prefix.len + 1
            && ctx->route.name.data[m[i].prefix.len] == '/'
            && ngx_strncmp(ctx->route.name.data, m[i].prefix.data,
                           m[i].prefix.len) == 0)
        {
            name->data = ctx->route.name.data + m[i].prefix.len + 1;
            name->len = ctx->route.name.len - m[i].prefix.len - 1;
            return &m[i];
        }
    }

    for (i = 0; i < mlcf->mirrors->nelts; i++) {
        if (m[i].deflt) {
            *name = ctx->route.name;
            return &m[i];
        }
    }

    return NULL;
}
