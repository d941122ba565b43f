
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_lifecycle.h"


/*
 * The operator's policies: read and validated with the same parser as a
 * PUT when nginx reads its configuration, so a policy nginx starts with
 * is one the registry would accept (and a bad one fails the start or the
 * reload, naming the file, the rule and the field).
 */


char *
ngx_http_oci_lc_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_oci_loc_conf_t  *olcf = conf;

    u_char                        *p;
    size_t                         size;
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_int_t                      rc;
    ngx_str_t                     *value, err;
    ngx_file_info_t                fi;
    ngx_http_oci_lc_policy_t       policy;
    ngx_http_oci_lc_configured_t  *lc;

    value = cf->args->elts;

    if (olcf->lifecycle == NGX_CONF_UNSET_PTR) {
        olcf->lifecycle = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_oci_lc_configured_t));
        if (olcf->lifecycle == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p != '*' && *p != '/' && *p != '.' && *p != '_' && *p != '-'
            && !(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid repository glob \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0) {
        return "needs a repository glob";
    }

    lc = ngx_array_push(olcf->lifecycle);
    if (lc == NULL) {
        return NGX_CONF_ERROR;
    }

    lc->glob = value[1];
    lc->file = value[2];

    if (ngx_conf_full_name(cf->cycle, &lc->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(lc->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &lc->file);
        return NGX_CONF_ERROR;
    }

    rc = NGX_ERROR;
    size = 0;
    p = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &lc->file);
        goto close;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size == 0 || size > NGX_HTTP_OCI_LC_TEXT_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "lifecycle policy \"%V\": a policy is 1 to 30720 "
                           "bytes of JSON", &lc->file);
        goto close;
    }

    p = ngx_pnalloc(cf->pool, size);
    if (p == NULL) {
        goto close;
    }

    n = ngx_read_fd(fd, p, size);

    if (n == -1 || (size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", &lc->file);
        goto close;
    }

    rc = NGX_OK;

close:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &lc->file);
    }

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    lc->text.data = p;
    lc->text.len = size;

    rc = ngx_http_oci_lc_parse(cf->pool, p, size, &policy, &err);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "lifecycle policy \"%V\": %V", &lc->file, &err);
        return NGX_CONF_ERROR;
    }

    return rc == NGX_OK ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* the first directive whose glob matches the name, or NULL */

ngx_http_oci_lc_configured_t *
ngx_http_oci_lc_configured(ngx_http_oci_loc_conf_t *conf, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_oci_lc_configured_t  *lc;

    if (conf->lifecycle == NULL) {
        return NULL;
    }

    lc = conf->lifecycle->elts;

    for (i = 0; i < conf->lifecycle->nelts; i++) {
        if (ngx_http_oci_lc_glob(lc[i].glob.data,
                                       lc[i].glob.data + lc[i].glob.len,
                                       name->data, name->data + name->len))
        {
            return &lc[i];
        }
    }

    return NULL;
}


void
ngx_http_oci_lc_counted(ngx_uint_t trigger, ngx_uint_t repositories,
    ngx_uint_t images, ngx_uint_t referrers)
{
    ngx_http_oci_lc_stats_t   *st;
    ngx_http_oci_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_oci_registry_module);

    st = omcf ? omcf->lc_stats : NULL;

    if (st == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&st->repositories[trigger], repositories);
    (void) ngx_atomic_fetch_add(&st->images[trigger], images);
    (void) ngx_atomic_fetch_add(&st->referrers[trigger], referrers);
}

