
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_mirror.h"
#include "ngx_http_oci_mirror_text.h"
#include "ngx_http_oci_redis.h"


/*
 * An upstream's 401, answered as registries expect (the token auth spec
 * Docker Hub uses): a Bearer challenge gets a token from its realm, for
 * its scope, anonymously or with the mirror's credentials as Basic; a
 * Basic challenge gets the credentials.  What worked is kept in Redis
 * for the repository, a token until it expires, so that the next fetch
 * by any worker or node sends it at once.  The credentials are read from
 * their file each time (the operator rotates it) and never leave the
 * subrequest: the client's own headers do not reach the upstream.
 */


#define NGX_HTTP_OCI_CREDENTIALS_MAX 1024
#define NGX_HTTP_OCI_BASIC_TTL       300


static ngx_int_t ngx_http_oci_mirror_credentials(ngx_http_request_t *r,
    ngx_http_oci_mirror_t *m, ngx_str_t *basic);
static ngx_int_t ngx_http_oci_token_fetch(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f, ngx_http_oci_challenge_t *c, ngx_str_t *basic);
static void ngx_http_oci_token_done(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *t);
static void ngx_http_oci_auth_keep(ngx_http_oci_fetch_t *f, ngx_str_t *value,
    ngx_int_t ttl);


/*
 * NGX_OK: f->authorization is set, send again; NGX_DONE: a token is being
 * fetched (the request's count raised); NGX_DECLINED: nothing to answer
 * the challenge with
 */

ngx_int_t
ngx_http_oci_mirror_authorize(ngx_http_request_t *r, ngx_http_oci_fetch_t *f)
{
    ngx_int_t                 rc;
    ngx_str_t                 basic;
    ngx_http_oci_challenge_t  c;

    static ngx_str_t  marker = ngx_string("basic");

    if (ngx_http_oci_mirror_credentials(r, f->mr->mirror, &basic) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(&c, sizeof(ngx_http_oci_challenge_t));

    if (f->challenge.len
        && ngx_http_oci_challenge_parse(&f->challenge, &c) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: mirror \"%V\": a challenge we cannot "
                      "read: \"%V\"", &f->mr->mirror->prefix, &f->challenge);
        return NGX_DECLINED;
    }

    if (f->challenge.len == 0
        || (c.scheme.len == 5
            && ngx_strncasecmp(c.scheme.data, (u_char *) "Basic", 5) == 0))
    {
        if (basic.len == 0) {
            return NGX_DECLINED;
        }

        f->authorization = basic;

        if (f->challenge.len) {
            ngx_http_oci_auth_keep(f, &marker, NGX_HTTP_OCI_BASIC_TTL);
        }

        return NGX_OK;
    }

    /* a Bearer realm is where we send the credentials: a URL only */

    if (c.scheme.len != 6
        || ngx_strncasecmp(c.scheme.data, (u_char *) "Bearer", 6) != 0
        || !((c.realm.len > 7
              && ngx_strncasecmp(c.realm.data, (u_char *) "http://", 7)
                 == 0)
             || (c.realm.len > 8
                 && ngx_strncasecmp(c.realm.data, (u_char *) "https://", 8)
                    == 0)))
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_oci_token_fetch(r, f, &c, &basic);

    return (rc == NGX_DONE) ? NGX_DONE : NGX_DECLINED;
}


/* "Basic <base64>" of the mirror's credentials, or "" for none */

static ngx_int_t
ngx_http_oci_mirror_credentials(ngx_http_request_t *r,
    ngx_http_oci_mirror_t *m, ngx_str_t *basic)
{
    u_char     *p;
    ssize_t     n;
    ngx_str_t   cred;
    ngx_file_t  file;
    u_char      buf[NGX_HTTP_OCI_CREDENTIALS_MAX];

    ngx_str_null(basic);
    cred = m->auth;

    if (m->credentials.len) {
        ngx_memzero(&file, sizeof(ngx_file_t));
        file.name = m->credentials;
        file.log = r->connection->log;

        file.fd = ngx_open_file(m->credentials.data, NGX_FILE_RDONLY,
                                NGX_FILE_OPEN, 0);
        if (file.fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          ngx_open_file_n " \"%V\" failed",
                          &m->credentials);
            return NGX_ERROR;
        }

        n = ngx_read_file(&file, buf, sizeof(buf), 0);

        if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          ngx_close_file_n " \"%V\" failed",
                          &m->credentials);
        }

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        /* the first line: "user:password" */

        cred.data = buf;
        cred.len = 0;

        while (cred.len < (size_t) n && buf[cred.len] != LF
               && buf[cred.len] != CR)
        {
            cred.len++;
        }

        if (ngx_strlchr(cred.data, cred.data + cred.len, ':') == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "oci registry: \"%V\" holds no \"user:password\"",
                          &m->credentials);
            return NGX_ERROR;
        }
    }

    if (cred.len == 0) {
        return NGX_OK;
    }

    basic->len = sizeof("Basic ") - 1 + ngx_base64_encoded_length(cred.len);
    basic->data = ngx_pnalloc(r->pool, basic->len);
    if (basic->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(basic->data, "Basic ", sizeof("Basic ") - 1);

    {
        ngx_str_t  enc;

        enc.data = p;
        ngx_encode_base64(&enc, &cred);
        basic->len = (p - basic->data) + enc.len;
    }

    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_OK;
}


/* GET <realm>?service=<service>&scope=<scope>, as its own fetch */

static ngx_int_t
ngx_http_oci_token_fetch(ngx_http_request_t *r, ngx_http_oci_fetch_t *f,
    ngx_http_oci_challenge_t *c, ngx_str_t *basic)
{
    u_char                *p;
    size_t                 len;
    ngx_str_t              scope;
    ngx_http_oci_fetch_t  *t;

    scope = c->scope;

    if (scope.len == 0) {
        scope.len = sizeof("repository::pull") - 1 + f->mr->name.len;
        scope.data = ngx_pnalloc(r->pool, scope.len);
        if (scope.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(scope.data, "repository:%V:pull", &f->mr->name);
    }

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_oci_fetch_t));
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->ctx = f->ctx;
    t->mr = f->mr;
    t->mode = NGX_HTTP_OCI_FETCH_COLLECT;
    t->kind = NGX_HTTP_OCI_MIRROR_TOKENS;
    t->method = NGX_HTTP_GET;
    t->length = -1;
    t->mem_max = NGX_HTTP_OCI_TOKEN_MAX * 2;
    t->authorization = *basic;
    t->authed = 1;
    t->then = f;
    t->done = ngx_http_oci_token_done;

    len = c->realm.len + sizeof("?service=&scope=") - 1
          + c->service.len + 2 * ngx_escape_uri(NULL, c->service.data,
                                                c->service.len,
                                                NGX_ESCAPE_ARGS)
          + scope.len + 2 * ngx_escape_uri(NULL, scope.data, scope.len,
                                           NGX_ESCAPE_ARGS);

    t->url.data = ngx_pnalloc(r->pool, len);
    if (t->url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(t->url.data, c->realm.data, c->realm.len);
    *p++ = ngx_strlchr(c->realm.data, c->realm.data + c->realm.len, '?')
           ? '&' : '?';

    if (c->service.len) {
        p = ngx_cpymem(p, "service=", sizeof("service=") - 1);
        p = (u_char *) ngx_escape_uri(p, c->service.data, c->service.len,
                                      NGX_ESCAPE_ARGS);
        *p++ = '&';
    }

    p = ngx_cpymem(p, "scope=", sizeof("scope=") - 1);
    p = (u_char *) ngx_escape_uri(p, scope.data, scope.len, NGX_ESCAPE_ARGS);

    t->url.len = p - t->url.data;
    t->path = t->url;

    return ngx_http_oci_fetch_send(r, t);
}


static void
ngx_http_oci_token_done(ngx_http_request_t *r, ngx_http_oci_fetch_t *t)
{
    u_char                *p;
    ngx_int_t              ttl;
    ngx_str_t              token;
    ngx_http_oci_fetch_t  *f;

    f = t->then;
    ngx_http_set_ctx(r, f, ngx_http_oci_mirror_module);

    if (t->status != NGX_HTTP_OK || t->too_big
        || ngx_http_oci_token_parse(r->pool, t->mem, t->mem_len, &token,
                                    &ttl)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: mirror \"%V\": no token from \"%V\" "
                      "(%ui)", &f->mr->mirror->prefix, &t->url, t->status);

        /* the upstream's 401 stands */
        f->done(r, f);
        return;
    }

    f->authorization.len = sizeof("Bearer ") - 1 + token.len;
    f->authorization.data = ngx_pnalloc(r->pool, f->authorization.len);
    if (f->authorization.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(f->authorization.data, "Bearer ", sizeof("Bearer ") - 1);
    ngx_memcpy(p, token.data, token.len);

    ngx_http_oci_auth_keep(f, &f->authorization, ttl);

    ngx_http_finalize_request(r, ngx_http_oci_fetch_send(r, f));
}


static void
ngx_http_oci_auth_keep(ngx_http_oci_fetch_t *f, ngx_str_t *value,
    ngx_int_t ttl)
{
    ngx_http_oci_args_t   a;
    const char           *argv[NGX_HTTP_OCI_ARGS_HEAD + 5];
    size_t                lens[NGX_HTTP_OCI_ARGS_HEAD + 5];
    u_char                num[NGX_INT_T_LEN];
    ngx_str_t             n;

    n.data = num;
    n.len = ngx_sprintf(num, "%i", ttl) - num;

    ngx_http_oci_args_init_fixed(&a, argv, lens, 5);
    ngx_http_oci_args_lit(&a, "SET");
    ngx_http_oci_args_str(&a, &f->auth_key);
    ngx_http_oci_args_str(&a, value);
    ngx_http_oci_args_lit(&a, "EX");
    ngx_http_oci_args_str(&a, &n);

    ngx_http_oci_redis_fire(f->ctx->conf->redis, &a);
}
