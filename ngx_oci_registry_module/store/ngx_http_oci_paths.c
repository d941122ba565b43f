
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"


/*
 * The file system side of blobs:
 *
 *     <root>/blobs/<algorithm>/<first two hex digits>/<hex>
 *     <root>/_uploads/<upload id>
 *
 * Paths are built only from validated digests and from upload ids we
 * generated and validated, never from other client input.
 */


ngx_int_t
ngx_http_oci_blob_path(ngx_pool_t *pool, ngx_str_t *root,
    ngx_http_oci_digest_t *d, ngx_str_t *path)
{
    u_char  *p;

    path->len = root->len + sizeof("/blobs///") - 1 + d->algorithm.len + 2
                + d->hex.len;

    path->data = ngx_pnalloc(pool, path->len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path->data, "%V/blobs/%V/%*s/%V", root, &d->algorithm,
                    (size_t) 2, d->hex.data, &d->hex);
    *p = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_http_oci_upload_path(ngx_pool_t *pool, ngx_str_t *root, ngx_str_t *id,
    ngx_str_t *path)
{
    u_char  *p;

    path->len = root->len + sizeof("/_uploads/") - 1 + id->len;

    path->data = ngx_pnalloc(pool, path->len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path->data, "%V/_uploads/%V", root, id);
    *p = '\0';

    return NGX_OK;
}
