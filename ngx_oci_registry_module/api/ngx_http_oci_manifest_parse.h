
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_MANIFEST_PARSE_H_INCLUDED_
#define _NGX_HTTP_OCI_MANIFEST_PARSE_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_json.h"


/*
 * Manifest validation: pure functions over the pushed bytes (no request,
 * no I/O), fuzzed by t/fuzz/fuzz_manifest.c.
 */


#define NGX_HTTP_OCI_MT_OCI_MANIFEST                                          \
    "application/vnd.oci.image.manifest.v1+json"
#define NGX_HTTP_OCI_MT_OCI_INDEX                                             \
    "application/vnd.oci.image.index.v1+json"
#define NGX_HTTP_OCI_MT_DOCKER_MANIFEST                                       \
    "application/vnd.docker.distribution.manifest.v2+json"
#define NGX_HTTP_OCI_MT_DOCKER_LIST                                           \
    "application/vnd.docker.distribution.manifest.list.v2+json"


typedef struct {
    ngx_str_t                   media_type;
    ngx_str_t                   artifact_type;  /* or config's mediaType */
    ngx_str_t                   subject;        /* digest, or empty */
    ngx_array_t                 blobs;          /* ngx_str_t digests */
    ngx_array_t                 manifests;      /* ngx_str_t digests */
    yajl_val                    annotations;
    yajl_val                    root;           /* freed with the pool */
    unsigned                    known:1;
    unsigned                    is_index:1;
} ngx_http_oci_manifest_t;


/*
 * NGX_OK: acceptable; NGX_DECLINED: MANIFEST_INVALID, *err says why;
 * NGX_ERROR: out of memory.
 */
ngx_int_t ngx_http_oci_manifest_parse(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_str_t *content_type, ngx_http_oci_manifest_t *m,
    char **err);
ngx_int_t ngx_http_oci_media_type_json(ngx_str_t *mt);
ngx_int_t ngx_http_oci_manifest_descriptor(ngx_pool_t *pool,
    ngx_http_oci_manifest_t *m, ngx_str_t *digest, size_t size,
    ngx_str_t *out);


#endif /* _NGX_HTTP_OCI_MANIFEST_PARSE_H_INCLUDED_ */
