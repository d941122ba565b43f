
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_BLOBS_H_INCLUDED_
#define _NGX_HTTP_OCI_BLOBS_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_args.h"


ngx_int_t ngx_http_oci_blobs(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx);

/* sends the repository's linked blob ctx->route.digest from its file */
ngx_int_t ngx_http_oci_blob_send(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);

/* the headers of a blob's answer (status, size, type, digest, nosniff) */
ngx_int_t ngx_http_oci_blob_headers(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *digest, off_t size);

/*
 * The keys after the repository's base of the scripts that link and
 * unlink blobs (BLOB_LINK, BLOB_CLOSE, BLOB_DELETE): the blob's record,
 * the collector's repositories and orphans, under the repository's
 * outbox prefix (ngx_http_oci_key_outbox())
 */
#define NGX_HTTP_OCI_BLOB_KEYS  3

void ngx_http_oci_blob_keys(ngx_http_oci_args_t *a,
    ngx_http_oci_loc_conf_t *conf, ngx_str_t *outbox, ngx_str_t *digest);


#endif /* _NGX_HTTP_OCI_BLOBS_H_INCLUDED_ */
