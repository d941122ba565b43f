
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_MIRROR_TEXT_H_INCLUDED_
#define _NGX_HTTP_OCI_MIRROR_TEXT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * What an upstream says that the mirror must read: its WWW-Authenticate
 * challenge and its token endpoint's JSON.  Bytes in, no request: the
 * parsers are fuzzed (t/fuzz/fuzz_mirror.c).
 */


#define NGX_HTTP_OCI_TOKEN_MAX       8192


typedef struct {
    ngx_str_t                   scheme;
    ngx_str_t                   realm;
    ngx_str_t                   service;
    ngx_str_t                   scope;
} ngx_http_oci_challenge_t;


/* <scheme> key="value", key=value, ...: NGX_OK or NGX_ERROR */
ngx_int_t ngx_http_oci_challenge_parse(ngx_str_t *text,
    ngx_http_oci_challenge_t *c);

/*
 * {"token": ..., "expires_in": s} (or "access_token"): the token, only
 * visible ASCII (it goes in a header), and how long to keep it
 */
ngx_int_t ngx_http_oci_token_parse(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *token, ngx_int_t *ttl);


#endif /* _NGX_HTTP_OCI_MIRROR_TEXT_H_INCLUDED_ */
