
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_keys.h"
#include "ngx_http_oci_redis.h"


/*
 * "<prefix>{<name>}:", the base of every key of a repository: the name is
 * the Redis Cluster hash tag, so one repository's keys share a slot and
 * its multi-key scripts stay valid on a cluster
 */

ngx_int_t
ngx_http_oci_key_base(ngx_pool_t *pool, ngx_str_t *prefix, ngx_str_t *name,
    ngx_str_t *base)
{
    base->len = prefix->len + name->len + sizeof("{}:") - 1;
    base->data = ngx_pnalloc(pool, base->len);
    if (base->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(base->data, "%V{%V}:", prefix, name);

    return NGX_OK;
}


/*
 * The prefix of the keys that are no repository's (the catalog, events,
 * the schedules' leases and passes): "<prefix>" on one Redis, where they
 * stay where they always were; "<prefix>{_}:" on a cluster, one hash tag
 * that no repository name can be, so that they share a slot and the
 * scripts that read several of them still run there
 */

ngx_int_t
ngx_http_oci_key_global(ngx_conf_t *cf, ngx_http_oci_loc_conf_t *conf)
{
    if (conf->redis->cluster == NULL) {
        conf->global = conf->key_prefix;
        return NGX_OK;
    }

    conf->global.len = conf->key_prefix.len + sizeof("{_}:") - 1;
    conf->global.data = ngx_pnalloc(cf->pool, conf->global.len);
    if (conf->global.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(conf->global.data, "%V{_}:", &conf->key_prefix);

    return NGX_OK;
}


/*
 * Where a repository's scripts write what changes keys that are no
 * repository's: those keys themselves on one Redis; on a cluster the
 * repository's outbox, "<base>x:" (the same names after it, in the
 * repository's slot), which ngx_http_oci_redis_outbox.c forwards
 */

ngx_int_t
ngx_http_oci_key_outbox(ngx_pool_t *pool, ngx_http_oci_loc_conf_t *conf,
    ngx_str_t *base, ngx_str_t *outbox)
{
    if (conf->redis->cluster == NULL) {
        *outbox = conf->global;
        return NGX_OK;
    }

    outbox->len = base->len + sizeof("x:") - 1;
    outbox->data = ngx_pnalloc(pool, outbox->len);
    if (outbox->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(outbox->data, "%Vx:", base);

    return NGX_OK;
}


/* "<prefix>catalog": the repositories, a key that is no repository's */

ngx_int_t
ngx_http_oci_key_catalog(ngx_pool_t *pool, ngx_str_t *prefix, ngx_str_t *key)
{
    key->len = prefix->len + sizeof("catalog") - 1;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, "%Vcatalog", prefix);

    return NGX_OK;
}


/*
 * "<base>upload:<id>:lock" into buf (NGX_HTTP_OCI_KEY_MAX bytes), on the
 * caller's stack: the lock is also released where no pool is at hand
 */

size_t
ngx_http_oci_key_lock(u_char *buf, ngx_str_t *base, ngx_str_t *id)
{
    return ngx_snprintf(buf, NGX_HTTP_OCI_KEY_MAX, "%Vupload:%V:lock", base,
                        id)
           - buf;
}
