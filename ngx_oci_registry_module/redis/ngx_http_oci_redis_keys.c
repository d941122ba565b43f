
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_redis_keys.h"


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


/* "<prefix>catalog": the registry's only key that is no repository's */

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
