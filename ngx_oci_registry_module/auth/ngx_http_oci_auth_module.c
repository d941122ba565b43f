
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_auth.h"


/*
 * ngx_http_oci_auth_module: token auth, the nginx way.  The registry
 * location is protected by auth_request; the verifier
 * (ngx_http_oci_auth_verify.c) is the handler of the location the
 * subrequest goes to, and answers 2xx, 401 with a Bearer challenge
 * (auth_request copies WWW-Authenticate to the client's 401), or 403.
 * The OCI error body is written by oci_registry_auth_error
 * (ngx_http_oci_auth_error.c) in the named location the registry's
 * error_page points to; the token endpoint is ngx_http_oci_token.c.
 * This file: the directives, the configuration and the variables.
 */


static ngx_int_t ngx_http_oci_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_oci_auth_add_variables(ngx_conf_t *cf);
static void *ngx_http_oci_auth_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_oci_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_oci_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_oci_auth_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_error(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_signing_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_oci_auth_anonymous_pull(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_command_t  ngx_http_oci_auth_commands[] = {

    { ngx_string("oci_registry_auth_verify"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_auth_verify,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_auth_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_oci_auth_error,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, realm),
      NULL },

    { ngx_string("oci_registry_auth_service"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, service),
      NULL },

    { ngx_string("oci_registry_auth_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, issuer),
      NULL },

    { ngx_string("oci_registry_auth_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_oci_auth_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oci_auth_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_anonymous_pull"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_oci_auth_anonymous_pull,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, leeway),
      NULL },

    { ngx_string("oci_registry_auth_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, cache_size),
      NULL },

    { ngx_string("oci_registry_auth_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_oci_auth_signing_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_oci_auth_policy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("oci_registry_auth_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, token_ttl),
      NULL },

    { ngx_string("oci_registry_auth_refresh_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, refresh_ttl),
      NULL },

    { ngx_string("oci_registry_auth_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, user),
      NULL },

    { ngx_string("oci_registry_auth_passwd"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_oci_auth_loc_conf_t, passwd),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_oci_auth_module_ctx = {
    ngx_http_oci_auth_add_variables,       /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_oci_auth_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_oci_auth_create_loc_conf,     /* create location configuration */
    ngx_http_oci_auth_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_oci_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_oci_auth_module_ctx,         /* module context */
    ngx_http_oci_auth_commands,            /* module directives */
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


enum {
    NGX_HTTP_OCI_AUTH_VAR_SUBJECT = 0,
    NGX_HTTP_OCI_AUTH_VAR_ACCESS,
    NGX_HTTP_OCI_AUTH_VAR_ERROR
};


static ngx_http_variable_t  ngx_http_oci_auth_vars[] = {

    { ngx_string("oci_auth_subject"), NULL, ngx_http_oci_auth_variable,
      NGX_HTTP_OCI_AUTH_VAR_SUBJECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oci_auth_access"), NULL, ngx_http_oci_auth_variable,
      NGX_HTTP_OCI_AUTH_VAR_ACCESS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("oci_auth_error"), NULL, ngx_http_oci_auth_variable,
      NGX_HTTP_OCI_AUTH_VAR_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_oci_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 scope;
    ngx_uint_t                i;
    ngx_http_oci_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_oci_auth_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_OCI_AUTH_VAR_SUBJECT:
        v->data = ctx->subject.data;
        v->len = ctx->subject.len;
        break;

    case NGX_HTTP_OCI_AUTH_VAR_ACCESS:
        for (i = 0; i < ctx->nneeds; i++) {
            if (ctx->granted[i] & NGX_HTTP_OCI_ACT_MASK) {
                break;
            }
        }

        if (i == ctx->nneeds) {
            /* nothing granted (or nothing needed): an empty value */
            v->len = 0;
            v->data = (u_char *) "";
            break;
        }

        if (ngx_http_oci_scope_text(r->pool, ctx->needs, ctx->nneeds,
                                    ctx->granted, &scope)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        v->data = scope.data;
        v->len = scope.len;
        break;

    default: /* NGX_HTTP_OCI_AUTH_VAR_ERROR */
        v->data = (u_char *) (ctx->error ? ctx->error : "");
        v->len = ngx_strlen(v->data);
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_auth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_oci_auth_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_oci_auth_create_main_conf(ngx_conf_t *cf)
{
    /* its stats are the observer's to set */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_auth_main_conf_t));
}


static void *
ngx_http_oci_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_oci_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->service = { 0, NULL };
     *     conf->issuer = { 0, NULL };
     *     conf->realm = NULL;
     *     conf->signing = NULL;
     *     conf->policy = NULL;
     *     conf->user = NULL;
     *     conf->passwd = { 0, NULL };
     *     conf->cache = NULL;
     */

    conf->verify = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->anonymous = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->cache_size = NGX_CONF_UNSET_UINT;
    conf->token_ttl = NGX_CONF_UNSET;
    conf->refresh_ttl = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_oci_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_oci_auth_loc_conf_t  *prev = parent;
    ngx_http_oci_auth_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->verify, prev->verify, 0);
    ngx_conf_merge_value(conf->token, prev->token, 0);
    ngx_conf_merge_str_value(conf->service, prev->service, "");
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->anonymous, prev->anonymous, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 60);
    ngx_conf_merge_uint_value(conf->cache_size, prev->cache_size, 1024);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 300);
    ngx_conf_merge_sec_value(conf->refresh_ttl, prev->refresh_ttl,
                             7 * 86400);
    ngx_conf_merge_str_value(conf->passwd, prev->passwd, "");

    /* relative to nginx.conf's directory, as auth_basic_user_file is */
    if (conf->passwd.len
        && ngx_conf_full_name(cf->cycle, &conf->passwd, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->realm == NULL) {
        conf->realm = prev->realm;
    }

    if (conf->signing == NULL) {
        conf->signing = prev->signing;
    }

    if (conf->policy == NULL) {
        conf->policy = prev->policy;
    }

    if (conf->user == NULL) {
        conf->user = prev->user;
    }

    if (conf->token_ttl < 60) {
        /* the token spec: clients treat less than 60 s as 60 s */
        conf->token_ttl = 60;
    }

    if (conf->verify) {
        if (conf->keys == NULL || conf->keys->nelts == 0
            || conf->realm == NULL || conf->service.len == 0
            || conf->issuer.len == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oci_registry_auth_verify needs "
                               "oci_registry_auth_realm, _service, _issuer "
                               "and _key or _jwks");
            return NGX_CONF_ERROR;
        }
    }

    /*
     * The identity is whatever nginx authentication established; it is
     * not defaulted to $remote_user, which nginx also fills from a Basic
     * header that nothing has checked: trusting it must be written down.
     */

    if (conf->token) {
        if (conf->signing == NULL || conf->policy == NULL
            || conf->service.len == 0 || conf->issuer.len == 0
            || conf->user == NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oci_registry_auth_token needs "
                               "oci_registry_auth_signing_key, _policy, "
                               "_service, _issuer and _user");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_auth_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->verify != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->verify = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_oci_auth_verify_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_auth_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->token != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->token = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_oci_token_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_auth_error(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_oci_auth_error_handler;

    return NGX_CONF_OK;
}


/* oci_registry_auth_key file.pem [kid] */

static char *
ngx_http_oci_auth_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_str_t           *value;
    ngx_http_oci_key_t  *key;

    if (alcf->keys == NGX_CONF_UNSET_PTR) {
        alcf->keys = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_oci_key_t));
        if (alcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    key = ngx_array_push(alcf->keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    return ngx_http_oci_key_pem(cf, &value[1], 0,
                                cf->args->nelts == 3 ? &value[2] : NULL, key);
}


static char *
ngx_http_oci_auth_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_str_t  *value;

    if (alcf->keys == NGX_CONF_UNSET_PTR) {
        alcf->keys = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_oci_key_t));
        if (alcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    return ngx_http_oci_key_jwks(cf, &value[1], alcf->keys);
}


static char *
ngx_http_oci_auth_signing_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_str_t  *value;

    if (alcf->signing != NULL) {
        return "is duplicate";
    }

    alcf->signing = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_key_t));
    if (alcf->signing == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    return ngx_http_oci_key_pem(cf, &value[1], 1,
                                cf->args->nelts == 3 ? &value[2] : NULL,
                                alcf->signing);
}


static char *
ngx_http_oci_auth_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_str_t  *value;

    if (alcf->policy != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_oci_policy_load(cf, &value[1], &alcf->policy);
}


static char *
ngx_http_oci_auth_anonymous_pull(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oci_auth_loc_conf_t  *alcf = conf;

    ngx_str_t   *value, *glob;
    ngx_uint_t   i;

    if (alcf->anonymous != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    alcf->anonymous = ngx_array_create(cf->pool, cf->args->nelts,
                                       sizeof(ngx_str_t));
    if (alcf->anonymous == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        glob = ngx_array_push(alcf->anonymous);
        if (glob == NULL) {
            return NGX_CONF_ERROR;
        }

        *glob = value[i];
    }

    return NGX_CONF_OK;
}
