
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_auth.h"
#include "ngx_http_oci_reply.h"


/*
 * The verifier: the handler of the location auth_request sends its
 * subrequest to.  It reads the parent's method, URI, arguments and
 * Authorization header (never its body), derives the scope the request
 * needs, checks the bearer JWT against the configured keys, and answers
 * 204, 401 with a Bearer challenge, or 403.
 */


/* tokens longer than this are verified every time instead of cached */
#define NGX_HTTP_OCI_AUTH_SLOT       2048


typedef struct {
    uint32_t                    hash;
    uint32_t                    len;
    u_char                     *data;
} ngx_http_oci_auth_slot_t;


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


static ngx_str_t  ngx_http_oci_repository = ngx_string("repository");


ngx_int_t
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
    ngx_uint_t                      d;
    ngx_http_oci_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_oci_auth_module);

    if (amcf->stats) {
        d = (status == NGX_HTTP_FORBIDDEN) ? NGX_HTTP_OCI_AUTH_DENIED
            : (status == NGX_HTTP_UNAUTHORIZED) ? NGX_HTTP_OCI_AUTH_CHALLENGED
            : NGX_HTTP_OCI_AUTH_ALLOWED;

        (void) ngx_atomic_fetch_add(&amcf->stats->decisions[d], 1);
    }

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
