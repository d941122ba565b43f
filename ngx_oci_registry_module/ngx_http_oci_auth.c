
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_registry.h"
#include "ngx_http_oci_auth.h"


/*
 * Token auth, the nginx way.  The registry location is protected by
 * auth_request; the verifier below is the handler of the location the
 * subrequest goes to.  It reads the parent's method, URI, arguments and
 * Authorization header (never its body), derives the scope the request
 * needs, checks the bearer JWT, and answers 200, 401 with a Bearer
 * challenge (auth_request copies WWW-Authenticate to the client's 401),
 * or 403.  The OCI error body is written by oci_registry_auth_error in
 * the named location the registry's error_page points to.
 */


/* tokens longer than this are verified every time instead of cached */
#define NGX_HTTP_OCI_AUTH_SLOT       2048


typedef struct {
    uint32_t                    hash;
    uint32_t                    len;
    u_char                     *data;
} ngx_http_oci_auth_slot_t;


typedef struct {
    ngx_http_oci_access_t       needs[NGX_HTTP_OCI_NEEDS_MAX];
    ngx_uint_t                  nneeds;
    ngx_uint_t                  granted[NGX_HTTP_OCI_NEEDS_MAX];
    ngx_str_t                   subject;
    char                       *error;       /* for $oci_auth_error */
} ngx_http_oci_auth_ctx_t;


static ngx_int_t ngx_http_oci_auth_verify_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_oci_auth_check(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *token,
    ngx_http_oci_jwt_t *jwt);
static ngx_int_t ngx_http_oci_auth_cached(ngx_http_oci_auth_loc_conf_t *alcf,
    ngx_str_t *token, ngx_uint_t insert);
static ngx_int_t ngx_http_oci_auth_needs(ngx_http_request_t *m,
    ngx_http_oci_auth_ctx_t *ctx);
static ngx_int_t ngx_http_oci_auth_anonymous(
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_http_oci_auth_ctx_t *ctx);
static ngx_int_t ngx_http_oci_auth_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_oci_auth_reply(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_http_oci_auth_challenge(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_http_oci_auth_ctx_t *ctx,
    char *error);
static ngx_int_t ngx_http_oci_auth_error_handler(ngx_http_request_t *r);

static ngx_int_t ngx_http_oci_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_oci_auth_add_variables(ngx_conf_t *cf);
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

    NULL,                                  /* create main configuration */
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


static ngx_str_t  ngx_http_oci_repository = ngx_string("repository");


static ngx_int_t
ngx_http_oci_auth_verify_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      token;
    ngx_uint_t                     i, missing, listed;
    ngx_http_oci_jwt_t             jwt;
    ngx_http_oci_auth_ctx_t       *ctx;
    ngx_http_oci_auth_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_auth_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_auth_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_oci_auth_module);

    /* what the client asked for is the main request, not this subrequest */
    if (ngx_http_oci_auth_needs(r->main, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_auth_anonymous(alcf, ctx) == NGX_OK) {
        return ngx_http_oci_auth_reply(r, NGX_HTTP_NO_CONTENT);
    }

    if (ngx_http_oci_auth_bearer(r, &token) != NGX_OK) {
        return ngx_http_oci_auth_challenge(r, alcf, ctx, NULL);
    }

    rc = ngx_http_oci_auth_check(r, alcf, &token, &jwt);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_oci_auth_challenge(r, alcf, ctx, "invalid_token");
    }

    ctx->subject = jwt.sub;
    missing = 0;
    listed = 1;

    for (i = 0; i < ctx->nneeds; i++) {
        ctx->granted[i] = ngx_http_oci_jwt_granted(&jwt, &ctx->needs[i].type,
                                                   &ctx->needs[i].name);

        if (ctx->needs[i].actions & ~ctx->granted[i] & NGX_HTTP_OCI_ACT_MASK)
        {
            missing = 1;

            if (!(ctx->granted[i] & NGX_HTTP_OCI_ACT_LISTED)) {
                listed = 0;
            }
        }
    }

    if (!missing) {
        return ngx_http_oci_auth_reply(r, NGX_HTTP_NO_CONTENT);
    }

    /*
     * A token that does not name the resource: the client should fetch
     * one for this scope (401).  A token that names it without the
     * action: the token service already refused, asking again is futile.
     */

    if (listed) {
        ctx->error = "denied";

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "oci auth: \"%V\" denied \"%V\"", &jwt.sub,
                      &r->main->uri);

        return ngx_http_oci_auth_reply(r, NGX_HTTP_FORBIDDEN);
    }

    return ngx_http_oci_auth_challenge(r, alcf, ctx, "insufficient_scope");
}


/*
 * NGX_OK: the token is signed by a configured key, its claims parse, and
 * iss, aud, exp and nbf hold.  NGX_DECLINED: any of that fails.
 */

static ngx_int_t
ngx_http_oci_auth_check(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *token,
    ngx_http_oci_jwt_t *jwt)
{
    char                *err;
    time_t               now;
    ngx_int_t            rc;
    ngx_uint_t           i, cached;
    ngx_http_oci_key_t  *key;

    err = NULL;

    /* a token verified before: no header to parse, no signature to check */

    cached = (ngx_http_oci_auth_cached(alcf, token, 0) == NGX_OK);

    if (cached) {
        if (ngx_http_oci_jwt_locate(token->data, token->len, jwt, &err)
            != NGX_OK)
        {
            goto invalid;
        }

    } else {
        if (ngx_http_oci_jwt_split(r->pool, token->data, token->len, jwt,
                                   &err)
            != NGX_OK)
        {
            goto invalid;
        }

        rc = NGX_DECLINED;
        key = alcf->keys->elts;

        for (i = 0; i < alcf->keys->nelts; i++) {

            if (jwt->kid.len
                && (jwt->kid.len != key[i].kid.len
                    || ngx_strncmp(jwt->kid.data, key[i].kid.data,
                                   jwt->kid.len) != 0))
            {
                continue;
            }

            rc = ngx_http_oci_jwt_verify(&key[i], jwt, r->connection->log);

            if (rc != NGX_DECLINED) {
                break;
            }
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            err = "no configured key verifies the signature";
            goto invalid;
        }
    }

    if (ngx_http_oci_jwt_claims(r->pool, jwt, &err) != NGX_OK) {
        goto invalid;
    }

    if (jwt->iss.len != alcf->issuer.len
        || ngx_strncmp(jwt->iss.data, alcf->issuer.data, jwt->iss.len) != 0)
    {
        err = "wrong issuer";
        goto invalid;
    }

    for (i = 0; i < jwt->naud; i++) {
        if (jwt->aud[i].len == alcf->service.len
            && ngx_strncmp(jwt->aud[i].data, alcf->service.data,
                           alcf->service.len) == 0)
        {
            break;
        }
    }

    if (i == jwt->naud) {
        err = "wrong audience";
        goto invalid;
    }

    now = ngx_time();

    if (jwt->exp == -1 || now > jwt->exp + alcf->leeway) {
        err = "expired";
        goto invalid;
    }

    if (jwt->nbf != -1 && now + alcf->leeway < jwt->nbf) {
        err = "not yet valid";
        goto invalid;
    }

    if (!cached) {
        (void) ngx_http_oci_auth_cached(alcf, token, 1);
    }

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oci auth: token refused: %s", err ? err : "malformed");

    return NGX_DECLINED;
}


/*
 * A per-worker, direct-mapped set of tokens whose signature verified.
 * Only the signature check is skipped on a hit: claims, times and access
 * are checked on every request.  The whole token is compared, so a hash
 * collision can only cost a verification, never admit a token.
 */

static ngx_int_t
ngx_http_oci_auth_cached(ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *token,
    ngx_uint_t insert)
{
    u_char                    *p;
    uint32_t                   hash;
    ngx_uint_t                 i;
    ngx_http_oci_auth_slot_t  *slots, *s;

    if (alcf->cache_size == 0 || token->len > NGX_HTTP_OCI_AUTH_SLOT) {
        return NGX_DECLINED;
    }

    if (alcf->cache == NULL) {
        if (!insert) {
            return NGX_DECLINED;
        }

        /* allocated once per worker, on the first verified token */
        slots = ngx_pcalloc(ngx_cycle->pool, alcf->cache_size
                            * sizeof(ngx_http_oci_auth_slot_t));
        p = ngx_pnalloc(ngx_cycle->pool,
                        alcf->cache_size * NGX_HTTP_OCI_AUTH_SLOT);
        if (slots == NULL || p == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < alcf->cache_size; i++) {
            slots[i].data = p + i * NGX_HTTP_OCI_AUTH_SLOT;
        }

        alcf->cache = slots;
    }

    hash = ngx_murmur_hash2(token->data, token->len);
    s = (ngx_http_oci_auth_slot_t *) alcf->cache + hash % alcf->cache_size;

    if (insert) {
        s->hash = hash;
        s->len = token->len;
        ngx_memcpy(s->data, token->data, token->len);
        return NGX_OK;
    }

    if (s->len == token->len && s->hash == hash
        && ngx_memcmp(s->data, token->data, token->len) == 0)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the scope the client's request (not the subrequest) needs */

static ngx_int_t
ngx_http_oci_auth_needs(ngx_http_request_t *m, ngx_http_oci_auth_ctx_t *ctx)
{
    return ngx_http_oci_scope_needs(m->pool, m->method, &m->uri, &m->args,
                                    ctx->needs, &ctx->nneeds);
}


/* public images: pull-only needs on repositories matching a glob */

static ngx_int_t
ngx_http_oci_auth_anonymous(ngx_http_oci_auth_loc_conf_t *alcf,
    ngx_http_oci_auth_ctx_t *ctx)
{
    ngx_str_t   *glob;
    ngx_uint_t   i, j;

    if (alcf->anonymous == NULL || ctx->nneeds == 0) {
        return NGX_DECLINED;
    }

    glob = alcf->anonymous->elts;

    for (i = 0; i < ctx->nneeds; i++) {
        if (ctx->needs[i].type.len != ngx_http_oci_repository.len
            || ngx_strncmp(ctx->needs[i].type.data,
                           ngx_http_oci_repository.data,
                           ngx_http_oci_repository.len) != 0
            || ctx->needs[i].actions != NGX_HTTP_OCI_ACT_PULL)
        {
            return NGX_DECLINED;
        }

        for (j = 0; j < alcf->anonymous->nelts; j++) {
            if (ngx_http_oci_glob_match(&glob[j], &ctx->needs[i].name)) {
                break;
            }
        }

        if (j == alcf->anonymous->nelts) {
            return NGX_DECLINED;
        }

        ctx->granted[i] = NGX_HTTP_OCI_ACT_PULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_auth_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char  *p, *last;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return NGX_DECLINED;
    }

    p += 7;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_auth_reply(ngx_http_request_t *r, ngx_uint_t status)
{
    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* 401 with Bearer realm,service[,scope][,error] */

static ngx_int_t
ngx_http_oci_auth_challenge(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_http_oci_auth_ctx_t *ctx,
    char *error)
{
    ngx_str_t         realm, value;
    ngx_table_elt_t  *h;

    ctx->error = error;

    if (ngx_http_complex_value(r, alcf->realm, &realm) != NGX_OK
        || ngx_http_oci_auth_challenge_text(r->pool, &realm, &alcf->service,
                                            ctx->needs, ctx->nneeds, error,
                                            &value)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value = value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    r->headers_out.www_authenticate = h;

    return ngx_http_oci_auth_reply(r, NGX_HTTP_UNAUTHORIZED);
}


/*
 * The OCI error body for the client's 401 or 403, from the named
 * location of the registry's error_page.  The request is still the
 * client's (a named location keeps the URI and method), so the detail
 * lists the actions it needed, as distribution does.
 */

static ngx_int_t
ngx_http_oci_auth_error_handler(ngx_http_request_t *r)
{
    ngx_str_t                 body;
    ngx_uint_t                status;
    ngx_http_oci_auth_ctx_t   ctx;

    /*
     * "error_page 401 403 @x" keeps the status in err_status; with "= @x"
     * it is cleared, and only the challenge tells a 401 from a 403.
     */

    status = r->err_status;

    if (status != NGX_HTTP_UNAUTHORIZED && status != NGX_HTTP_FORBIDDEN) {
        status = r->headers_out.www_authenticate ? NGX_HTTP_UNAUTHORIZED
                                                 : NGX_HTTP_FORBIDDEN;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    ngx_memzero(&ctx, sizeof(ngx_http_oci_auth_ctx_t));

    if (ngx_http_oci_auth_needs(r, &ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_auth_error_body(r->pool, status == NGX_HTTP_FORBIDDEN,
                                     ctx.needs, ctx.nneeds, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_oci_send_json(r, status, body.data, body.len);
}


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
