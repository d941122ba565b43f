
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_AUTH_H_INCLUDED_
#define _NGX_HTTP_OCI_AUTH_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_json.h"

#include <openssl/evp.h>


/*
 * Token auth (ngx_http_oci_auth_module, in the same .so): the verifier
 * auth_request calls, the OCI error page of its 401 and 403, the token
 * endpoint and its access policy.  It depends on common/ only: it never
 * touches Redis or the registry's request context.
 */


/* the JWS algorithms we accept; each is pinned to one key type */
#define NGX_HTTP_OCI_JWT_ES256       1
#define NGX_HTTP_OCI_JWT_RS256       2
#define NGX_HTTP_OCI_JWT_EDDSA       3

/* actions of a scope, as bits */
#define NGX_HTTP_OCI_ACT_PULL        0x01
#define NGX_HTTP_OCI_ACT_PUSH        0x02
#define NGX_HTTP_OCI_ACT_DELETE      0x04
#define NGX_HTTP_OCI_ACT_ANY         0x08    /* "*" */
#define NGX_HTTP_OCI_ACT_MASK        0x0f
/* returned with the granted bits: the token names the resource at all */
#define NGX_HTTP_OCI_ACT_LISTED      0x100

/* a request needs at most two: its repository, and a mount's source */
#define NGX_HTTP_OCI_NEEDS_MAX       2

#define NGX_HTTP_OCI_JWT_MAX         8192
#define NGX_HTTP_OCI_ACCESS_MAX      64


typedef struct {
    ngx_str_t                   type;        /* "repository", "registry" */
    ngx_str_t                   name;
    ngx_uint_t                  actions;
} ngx_http_oci_access_t;


typedef struct {
    /* from the header */
    ngx_uint_t                  alg;
    ngx_str_t                   kid;
    ngx_str_t                   signed_part; /* "<header>.<payload>" */
    ngx_str_t                   payload;     /* base64url, undecoded */
    ngx_str_t                   signature;   /* decoded */

    /* from the claims */
    ngx_str_t                   iss;
    ngx_str_t                   sub;
    ngx_str_t                   aud[4];
    ngx_uint_t                  naud;
    time_t                      exp;         /* -1: absent */
    time_t                      nbf;
    time_t                      iat;
    ngx_array_t                 access;      /* ngx_http_oci_access_t */
} ngx_http_oci_jwt_t;


typedef struct {
    ngx_str_t                   kid;
    ngx_uint_t                  alg;
    EVP_PKEY                   *pkey;
} ngx_http_oci_key_t;


typedef struct ngx_http_oci_policy_s  ngx_http_oci_policy_t;


/* a verifier's request: what it needed, what the token granted */
typedef struct {
    ngx_http_oci_access_t       needs[NGX_HTTP_OCI_NEEDS_MAX];
    ngx_uint_t                  nneeds;
    ngx_uint_t                  granted[NGX_HTTP_OCI_NEEDS_MAX];
    ngx_str_t                   subject;
    char                       *error;       /* for $oci_auth_error */
} ngx_http_oci_auth_ctx_t;


/*
 * The verifier's decisions, counted by every worker into memory the
 * observer shares (observe/); NULL when metrics are off
 */

typedef enum {
    NGX_HTTP_OCI_AUTH_ALLOWED = 0,           /* 2xx */
    NGX_HTTP_OCI_AUTH_DENIED,                /* 403 */
    NGX_HTTP_OCI_AUTH_CHALLENGED,            /* 401: no token, or not one */
    NGX_HTTP_OCI_AUTH_DECISIONS
} ngx_http_oci_auth_decision_e;

typedef struct {
    ngx_atomic_t                decisions[NGX_HTTP_OCI_AUTH_DECISIONS];
} ngx_http_oci_auth_stats_t;

typedef struct {
    ngx_http_oci_auth_stats_t  *stats;
} ngx_http_oci_auth_main_conf_t;


typedef struct {
    /* shared by the verifier and the token endpoint */
    ngx_str_t                   service;
    ngx_str_t                   issuer;

    /* verifier */
    ngx_flag_t                  verify;
    ngx_http_complex_value_t   *realm;
    ngx_array_t                *keys;        /* ngx_http_oci_key_t */
    ngx_array_t                *anonymous;   /* ngx_str_t, NUL-terminated */
    time_t                      leeway;
    ngx_uint_t                  cache_size;
    void                       *cache;       /* per worker, lazily */

    /* token endpoint */
    ngx_flag_t                  token;
    ngx_http_oci_key_t         *signing;
    ngx_http_oci_policy_t      *policy;
    time_t                      token_ttl;
    time_t                      refresh_ttl;
    ngx_http_complex_value_t   *user;
    ngx_str_t                   passwd;
} ngx_http_oci_auth_loc_conf_t;


/* ngx_http_oci_jwt.c: pure parsers, no I/O and no crypto (fuzzable) */
ngx_int_t ngx_http_oci_jwt_locate(u_char *p, size_t len,
    ngx_http_oci_jwt_t *jwt, char **err);
ngx_int_t ngx_http_oci_jwt_split(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_http_oci_jwt_t *jwt, char **err);
ngx_int_t ngx_http_oci_jwt_claims(ngx_pool_t *pool, ngx_http_oci_jwt_t *jwt,
    char **err);
ngx_uint_t ngx_http_oci_jwt_granted(ngx_http_oci_jwt_t *jwt,
    ngx_str_t *type, ngx_str_t *name);
ngx_int_t ngx_http_oci_scope_parse(u_char *p, size_t len,
    ngx_http_oci_access_t *a);
ngx_uint_t ngx_http_oci_actions_parse(u_char *p, size_t len);
void ngx_http_oci_text_actions(ngx_http_oci_text_t *t, ngx_uint_t actions,
    ngx_uint_t json);
ngx_uint_t ngx_http_oci_jwt_alg(u_char *p, size_t len);
ngx_uint_t ngx_http_oci_glob_match(ngx_str_t *glob, ngx_str_t *name);

/* ngx_http_oci_auth_text.c: pure, fuzzable */
ngx_int_t ngx_http_oci_scope_needs(ngx_pool_t *pool, ngx_uint_t method,
    ngx_str_t *uri, ngx_str_t *args, ngx_http_oci_access_t *needs,
    ngx_uint_t *n);
ngx_int_t ngx_http_oci_scope_text(ngx_pool_t *pool,
    ngx_http_oci_access_t *needs, ngx_uint_t n, ngx_uint_t *actions,
    ngx_str_t *out);
ngx_int_t ngx_http_oci_auth_challenge_text(ngx_pool_t *pool,
    ngx_str_t *realm, ngx_str_t *service, ngx_http_oci_access_t *needs,
    ngx_uint_t n, char *error, ngx_str_t *out);
ngx_int_t ngx_http_oci_auth_error_body(ngx_pool_t *pool, ngx_uint_t denied,
    ngx_http_oci_access_t *needs, ngx_uint_t n, ngx_str_t *out);

/* ngx_http_oci_jwk.c: keys, signatures */
char *ngx_http_oci_key_pem(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t private, ngx_str_t *kid, ngx_http_oci_key_t *key);
char *ngx_http_oci_key_jwks(ngx_conf_t *cf, ngx_str_t *file,
    ngx_array_t *keys);
ngx_int_t ngx_http_oci_jwt_verify(ngx_http_oci_key_t *key,
    ngx_http_oci_jwt_t *jwt, ngx_log_t *log);
u_char *ngx_http_oci_read_file(ngx_pool_t *pool, ngx_log_t *log,
    ngx_uint_t level, ngx_str_t *name, size_t max, size_t *len);
u_char *ngx_http_oci_conf_file(ngx_conf_t *cf, ngx_str_t *file, size_t max,
    size_t *len);
ngx_int_t ngx_http_oci_jwt_sign(ngx_pool_t *pool, ngx_http_oci_key_t *key,
    ngx_str_t *claims, ngx_str_t *token);

/* the handlers of the three kinds of location */
ngx_int_t ngx_http_oci_auth_verify_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oci_auth_error_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oci_token_handler(ngx_http_request_t *r);

/* ngx_http_oci_policy.c */
char *ngx_http_oci_policy_load(ngx_conf_t *cf, ngx_str_t *file,
    ngx_http_oci_policy_t **policy);
ngx_uint_t ngx_http_oci_policy_grant(ngx_http_oci_policy_t *policy,
    ngx_str_t *user, ngx_http_oci_access_t *scope);


extern ngx_module_t  ngx_http_oci_auth_module;


#endif /* _NGX_HTTP_OCI_AUTH_H_INCLUDED_ */
