
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_crypt.h>

#include <openssl/rand.h>

#include "ngx_http_oci_auth.h"
#include "ngx_http_oci_reply.h"


/*
 * The token endpoint of the Docker Registry v2 token flow (the policy it
 * grants by is ngx_http_oci_policy.c).  Who the
 * client is comes from nginx: whatever authentication protects this
 * location (auth_basic, auth_request to an identity provider) leaves it
 * in $remote_user or the variable of oci_registry_auth_user.  What the
 * token grants is the intersection of the requested scopes and the
 * access policy; missing rights are never an error, only fewer actions.
 */


#define NGX_HTTP_OCI_SCOPES_MAX      16
#define NGX_HTTP_OCI_PASSWD_MAX      (4 * 1024 * 1024)

typedef struct {
    ngx_str_t                   service;
    ngx_str_t                   grant_type;
    ngx_str_t                   username;
    ngx_str_t                   password;
    ngx_str_t                   refresh_token;
    ngx_str_t                   access_type;
    ngx_str_t                   offline_token;
    ngx_http_oci_access_t       scopes[NGX_HTTP_OCI_SCOPES_MAX];
    ngx_uint_t                  nscopes;
} ngx_http_oci_token_req_t;


typedef struct {
    ngx_str_t                  *token;
    ngx_str_t                  *refresh;
    ngx_str_t                  *scope;
    time_t                      ttl;
    ngx_tm_t                    tm;
} ngx_http_oci_token_answer_t;


typedef struct {
    ngx_http_oci_auth_loc_conf_t  *alcf;
    ngx_str_t                     *user;
    ngx_http_oci_token_req_t      *tr;
    ngx_uint_t                     refresh;
    time_t                         now;
    u_char                         jti[16];
} ngx_http_oci_claims_t;


static void ngx_http_oci_token_post(ngx_http_request_t *r);
static void ngx_http_oci_token_answer_fill(ngx_http_oci_text_t *t,
    void *data);
static void ngx_http_oci_claims_fill(ngx_http_oci_text_t *t, void *data);
static ngx_int_t ngx_http_oci_token_issue(ngx_http_request_t *r,
    ngx_str_t *form, ngx_uint_t post);
static ngx_int_t ngx_http_oci_token_form(ngx_http_request_t *r,
    ngx_str_t *form, ngx_http_oci_token_req_t *tr);
static ngx_int_t ngx_http_oci_token_scopes(ngx_http_oci_token_req_t *tr,
    ngx_str_t *value);
static ngx_int_t ngx_http_oci_token_identity(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_http_oci_token_req_t *tr,
    ngx_uint_t post, ngx_str_t *user, char **error);
static ngx_int_t ngx_http_oci_token_refresh(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *token, ngx_str_t *user);
static ngx_int_t ngx_http_oci_token_passwd(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *user, ngx_str_t *pass);
static ngx_int_t ngx_http_oci_token_make(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *user,
    ngx_http_oci_token_req_t *tr, ngx_uint_t refresh, time_t now,
    ngx_str_t *token);
static ngx_int_t ngx_http_oci_token_fail(ngx_http_request_t *r,
    ngx_uint_t status, char *error, char *description);
static ngx_uint_t ngx_http_oci_str_eq(ngx_str_t *s, char *text);


ngx_int_t
ngx_http_oci_token_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method == NGX_HTTP_GET || r->method == NGX_HTTP_HEAD) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_oci_token_issue(r, &r->args, 0);
    }

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    /* a form of a few hundred bytes: memory, never a temp file */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_oci_token_post);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_oci_token_post(ngx_http_request_t *r)
{
    ngx_str_t     form;
    ngx_chain_t  *cl;

    ngx_str_null(&form);

    cl = r->request_body ? r->request_body->bufs : NULL;

    if (cl != NULL) {
        if (cl->next != NULL || cl->buf->in_file) {
            ngx_http_finalize_request(r,
                ngx_http_oci_token_fail(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "invalid_request",
                                        "form too large"));
            return;
        }

        form.data = cl->buf->pos;
        form.len = cl->buf->last - cl->buf->pos;
    }

    ngx_http_finalize_request(r, ngx_http_oci_token_issue(r, &form, 1));
}


static ngx_int_t
ngx_http_oci_token_issue(ngx_http_request_t *r, ngx_str_t *form,
    ngx_uint_t post)
{
    char                          *error;
    time_t                         now;
    ngx_str_t                      user, token, refresh, scope, body;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_http_oci_token_req_t       tr;
    ngx_http_oci_token_answer_t    ta;
    ngx_http_oci_auth_loc_conf_t  *alcf;

    static ngx_str_t  no_store = ngx_string("no-store");

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_oci_auth_module);

    ngx_memzero(&tr, sizeof(ngx_http_oci_token_req_t));

    rc = ngx_http_oci_token_form(r, form, &tr);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_oci_token_fail(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_scope",
                                       "malformed or too many scopes");
    }

    if (tr.service.len
        && (tr.service.len != alcf->service.len
            || ngx_strncmp(tr.service.data, alcf->service.data,
                           tr.service.len) != 0))
    {
        return ngx_http_oci_token_fail(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request", "unknown service");
    }

    error = NULL;

    rc = ngx_http_oci_token_identity(r, alcf, &tr, post, &user, &error);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_oci_token_fail(r, NGX_HTTP_UNAUTHORIZED,
                                       "invalid_grant", error);
    }

    if (rc == NGX_ABORT) {
        return ngx_http_oci_token_fail(r, NGX_HTTP_BAD_REQUEST,
                                       "unsupported_grant_type", error);
    }

    for (i = 0; i < tr.nscopes; i++) {
        tr.scopes[i].actions = ngx_http_oci_policy_grant(alcf->policy, &user,
                                                         &tr.scopes[i]);
    }

    now = ngx_time();

    if (ngx_http_oci_token_make(r, alcf, &user, &tr, 0, now, &token)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* refresh tokens: for a named user who asked for offline access */

    ngx_str_null(&refresh);

    if (user.len) {
        if (post && tr.grant_type.len
            && ngx_http_oci_str_eq(&tr.grant_type, "refresh_token"))
        {
            refresh = tr.refresh_token;

        } else if (ngx_http_oci_str_eq(&tr.offline_token, "true")
                   || ngx_http_oci_str_eq(&tr.access_type, "offline"))
        {
            if (ngx_http_oci_token_make(r, alcf, &user, &tr, 1, now,
                                        &refresh)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    /* the granted scope, space-separated, for the OAuth2 answer */

    if (ngx_http_oci_scope_text(r->pool, tr.scopes, tr.nscopes, NULL, &scope)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ta.token = &token;
    ta.refresh = &refresh;
    ta.scope = &scope;
    ta.ttl = alcf->token_ttl;

    ngx_gmtime(now, &ta.tm);

    if (ngx_http_oci_text_build(r->pool, ngx_http_oci_token_answer_fill, &ta,
                                &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_oci_add_header(r, "Cache-Control", &no_store) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oci token: \"%V\" granted \"%V\"", &user, &scope);

    return ngx_http_oci_send_json(r, NGX_HTTP_OK, body.data, body.len);
}


/* {"token","access_token","expires_in","issued_at","scope"[,refresh_token]} */

static void
ngx_http_oci_token_answer_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_token_answer_t  *ta = data;

    u_char  date[sizeof("2026-01-01T00:00:00Z")];

    /* a JWT is base64url and dots: nothing in it needs escaping */

    ngx_http_oci_text_lit(t, "{\"token\":\"");
    ngx_http_oci_text_str(t, ta->token);
    ngx_http_oci_text_lit(t, "\",\"access_token\":\"");
    ngx_http_oci_text_str(t, ta->token);
    ngx_http_oci_text_lit(t, "\",\"expires_in\":");
    ngx_http_oci_text_number(t, ta->ttl);
    ngx_http_oci_text_lit(t, ",\"issued_at\":\"");
    ngx_http_oci_text_add(t, date,
                          ngx_sprintf(date, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                                      ta->tm.ngx_tm_year, ta->tm.ngx_tm_mon,
                                      ta->tm.ngx_tm_mday, ta->tm.ngx_tm_hour,
                                      ta->tm.ngx_tm_min, ta->tm.ngx_tm_sec)
                          - date);
    ngx_http_oci_text_lit(t, "\",\"scope\":\"");
    ngx_http_oci_text_json(t, ta->scope->data, ta->scope->len);
    ngx_http_oci_text_lit(t, "\"");

    if (ta->refresh->len) {
        ngx_http_oci_text_lit(t, ",\"refresh_token\":\"");
        ngx_http_oci_text_str(t, ta->refresh);
        ngx_http_oci_text_lit(t, "\"");
    }

    ngx_http_oci_text_lit(t, "}");
}


/* query string or x-www-form-urlencoded body: both are "k=v&k=v" */

static ngx_int_t
ngx_http_oci_token_form(ngx_http_request_t *r, ngx_str_t *form,
    ngx_http_oci_token_req_t *tr)
{
    u_char     *p, *last, *amp, *eq, *dst, *src, *q;
    ngx_str_t   key, value, *slot;

    p = form->data;
    last = p + form->len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        key.data = p;
        key.len = (eq ? eq : amp) - p;

        value.len = eq ? (size_t) (amp - eq - 1) : 0;
        value.data = ngx_pnalloc(r->pool, value.len + 1);
        if (value.data == NULL) {
            return NGX_ERROR;
        }

        /* '+' is a space in a form; an encoded %2B stays a '+' */
        if (eq) {
            for (q = eq + 1, dst = value.data; q < amp; q++) {
                *dst++ = (*q == '+') ? ' ' : *q;
            }

            src = value.data;
            dst = value.data;
            ngx_unescape_uri(&dst, &src, value.len, 0);
            value.len = dst - value.data;
        }

        p = amp + 1;
        slot = NULL;

        if (ngx_http_oci_str_eq(&key, "scope")) {
            if (ngx_http_oci_token_scopes(tr, &value) != NGX_OK) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (ngx_http_oci_str_eq(&key, "service")) {
            slot = &tr->service;

        } else if (ngx_http_oci_str_eq(&key, "grant_type")) {
            slot = &tr->grant_type;

        } else if (ngx_http_oci_str_eq(&key, "username")) {
            slot = &tr->username;

        } else if (ngx_http_oci_str_eq(&key, "password")) {
            slot = &tr->password;

        } else if (ngx_http_oci_str_eq(&key, "refresh_token")) {
            slot = &tr->refresh_token;

        } else if (ngx_http_oci_str_eq(&key, "access_type")) {
            slot = &tr->access_type;

        } else if (ngx_http_oci_str_eq(&key, "offline_token")) {
            slot = &tr->offline_token;
        }

        /* client_id and account are informational */

        if (slot != NULL) {
            *slot = value;
        }
    }

    return NGX_OK;
}


/* one scope parameter: space-separated scopes */

static ngx_int_t
ngx_http_oci_token_scopes(ngx_http_oci_token_req_t *tr, ngx_str_t *value)
{
    u_char                 *p, *last, *sp;
    ngx_http_oci_access_t  *a;

    p = value->data;
    last = p + value->len;

    while (p < last) {
        sp = ngx_strlchr(p, last, ' ');
        if (sp == NULL) {
            sp = last;
        }

        if (sp == p) {
            p++;
            continue;
        }

        if (tr->nscopes == NGX_HTTP_OCI_SCOPES_MAX) {
            return NGX_ERROR;
        }

        a = &tr->scopes[tr->nscopes];

        if (ngx_http_oci_scope_parse(p, sp - p, a) != NGX_OK) {
            return NGX_ERROR;
        }

        p = sp + 1;

        /* scopes we do not know grant nothing and are left out */

        if (ngx_http_oci_str_eq(&a->type, "repository")) {
            if (ngx_http_oci_name_valid(a->name.data, a->name.len) != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if (!ngx_http_oci_str_eq(&a->type, "registry")
                   || !ngx_http_oci_str_eq(&a->name, "catalog"))
        {
            continue;
        }

        tr->nscopes++;
    }

    return NGX_OK;
}


/*
 * NGX_OK with the user ("" for anonymous), NGX_DECLINED for bad
 * credentials, NGX_ABORT for a grant type we do not know.
 */

static ngx_int_t
ngx_http_oci_token_identity(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_http_oci_token_req_t *tr,
    ngx_uint_t post, ngx_str_t *user, char **error)
{
    ngx_int_t  rc;

    if (ngx_http_complex_value(r, alcf->user, user) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!post || tr->grant_type.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_oci_str_eq(&tr->grant_type, "refresh_token")) {
        rc = ngx_http_oci_token_refresh(r, alcf, &tr->refresh_token, user);
        if (rc == NGX_DECLINED) {
            *error = "refresh token refused";
        }

        return rc;
    }

    if (!ngx_http_oci_str_eq(&tr->grant_type, "password")) {
        *error = "grant_type must be password or refresh_token";
        return NGX_ABORT;
    }

    if (user->len) {
        /* nginx already authenticated the client (Basic credentials) */
        if (tr->username.len
            && (tr->username.len != user->len
                || ngx_strncmp(tr->username.data, user->data, user->len)))
        {
            *error = "username does not match the credentials";
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    rc = ngx_http_oci_token_passwd(r, alcf, &tr->username, &tr->password);

    if (rc == NGX_DECLINED) {
        *error = "wrong username or password";

    } else if (rc == NGX_OK) {
        *user = tr->username;
    }

    return rc;
}


/* a refresh token is a JWT of ours with the audience "refresh:<service>" */

static ngx_int_t
ngx_http_oci_token_refresh(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *token, ngx_str_t *user)
{
    char                *err;
    ngx_int_t            rc;
    ngx_http_oci_jwt_t   jwt;

    if (ngx_http_oci_jwt_split(r->pool, token->data, token->len, &jwt, &err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_oci_jwt_verify(alcf->signing, &jwt, r->connection->log);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_oci_jwt_claims(r->pool, &jwt, &err) != NGX_OK
        || jwt.naud != 1
        || jwt.aud[0].len != sizeof("refresh:") - 1 + alcf->service.len
        || ngx_strncmp(jwt.aud[0].data, "refresh:", 8) != 0
        || ngx_strncmp(jwt.aud[0].data + 8, alcf->service.data,
                       alcf->service.len) != 0
        || jwt.iss.len != alcf->issuer.len
        || ngx_strncmp(jwt.iss.data, alcf->issuer.data, jwt.iss.len) != 0
        || jwt.exp == -1 || ngx_time() > jwt.exp
        || jwt.sub.len == 0)
    {
        return NGX_DECLINED;
    }

    *user = jwt.sub;

    return NGX_OK;
}


/*
 * For the OAuth2 password grant, whose credentials are in the body where
 * auth_basic cannot see them: an htpasswd file, checked with nginx's own
 * ngx_crypt() like auth_basic.  Read per request, as auth_basic does, so
 * a changed password takes effect at once.
 */

static ngx_int_t
ngx_http_oci_token_passwd(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *user, ngx_str_t *pass)
{
    u_char     *buf, *p, *last, *eol, *end, *colon, *hash, *key, *crypted;
    u_char     *other;
    size_t      n;
    ngx_int_t   rc;

    if (alcf->passwd.len == 0 || user->len == 0
        || ngx_strlchr(user->data, user->data + user->len, ':') != NULL)
    {
        return NGX_DECLINED;
    }

    buf = ngx_http_oci_read_file(r->pool, r->connection->log, NGX_LOG_ERR,
                                 &alcf->passwd, NGX_HTTP_OCI_PASSWD_MAX, &n);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    /* NUL-terminated copies for ngx_crypt() */

    key = ngx_pnalloc(r->pool, pass->len + 1);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(key, pass->data, pass->len);
    key[pass->len] = '\0';

    last = buf + n;
    other = NULL;

    for (p = buf; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        colon = ngx_strlchr(p, eol, ':');
        if (colon == NULL) {
            continue;
        }

        hash = colon + 1;
        end = eol;
        while (end > hash && (end[-1] == '\r' || end[-1] == ' ')) {
            end--;
        }

        if ((size_t) (colon - p) != user->len
            || ngx_strncmp(p, user->data, user->len) != 0)
        {
            if (other == NULL && end > hash) {
                other = hash;
                *end = '\0';
            }

            continue;
        }

        *end = '\0';

        rc = ngx_crypt(r->pool, key, hash, &crypted);
        if (rc != NGX_OK) {
            return NGX_DECLINED;
        }

        return ngx_strcmp(crypted, hash) == 0 ? NGX_OK : NGX_DECLINED;
    }

    /*
     * An unknown user costs what a wrong password costs (a hash of the
     * file's own kind), or user names could be told apart by timing
     */

    if (other != NULL) {
        (void) ngx_crypt(r->pool, key, other, &crypted);
    }

    return NGX_DECLINED;
}


/* claims of an access token, or of a refresh token, signed */

static ngx_int_t
ngx_http_oci_token_make(ngx_http_request_t *r,
    ngx_http_oci_auth_loc_conf_t *alcf, ngx_str_t *user,
    ngx_http_oci_token_req_t *tr, ngx_uint_t refresh, time_t now,
    ngx_str_t *token)
{
    ngx_str_t              claims;
    ngx_http_oci_claims_t  cl;

    if (RAND_bytes(cl.jti, sizeof(cl.jti)) != 1) {
        return NGX_ERROR;
    }

    cl.alcf = alcf;
    cl.user = user;
    cl.tr = tr;
    cl.refresh = refresh;
    cl.now = now;

    if (ngx_http_oci_text_build(r->pool, ngx_http_oci_claims_fill, &cl,
                                &claims)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_oci_jwt_sign(r->pool, alcf->signing, &claims, token);
}


static void
ngx_http_oci_claims_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_claims_t  *cl = data;

    u_char                  hex[32];
    ngx_uint_t              i, first;
    ngx_http_oci_access_t  *a;

    ngx_http_oci_text_lit(t, "{\"iss\":\"");
    ngx_http_oci_text_json(t, cl->alcf->issuer.data, cl->alcf->issuer.len);
    ngx_http_oci_text_lit(t, "\",\"sub\":\"");
    ngx_http_oci_text_json(t, cl->user->data, cl->user->len);
    ngx_http_oci_text_lit(t, "\",\"aud\":\"");

    if (cl->refresh) {
        ngx_http_oci_text_lit(t, "refresh:");
    }

    ngx_http_oci_text_json(t, cl->alcf->service.data, cl->alcf->service.len);
    ngx_http_oci_text_lit(t, "\",\"exp\":");
    ngx_http_oci_text_number(t, cl->now + (cl->refresh
                                           ? cl->alcf->refresh_ttl
                                           : cl->alcf->token_ttl));
    ngx_http_oci_text_lit(t, ",\"nbf\":");
    ngx_http_oci_text_number(t, cl->now);
    ngx_http_oci_text_lit(t, ",\"iat\":");
    ngx_http_oci_text_number(t, cl->now);
    ngx_http_oci_text_lit(t, ",\"jti\":\"");
    ngx_http_oci_text_add(t, hex, ngx_hex_dump(hex, cl->jti, sizeof(cl->jti))
                                  - hex);
    ngx_http_oci_text_lit(t, "\"");

    if (!cl->refresh) {
        ngx_http_oci_text_lit(t, ",\"access\":[");

        first = 1;

        for (i = 0; i < cl->tr->nscopes; i++) {
            a = &cl->tr->scopes[i];

            if (!first) {
                ngx_http_oci_text_lit(t, ",");
            }

            first = 0;

            ngx_http_oci_text_lit(t, "{\"type\":\"");
            ngx_http_oci_text_json(t, a->type.data, a->type.len);
            ngx_http_oci_text_lit(t, "\",\"name\":\"");
            ngx_http_oci_text_json(t, a->name.data, a->name.len);
            ngx_http_oci_text_lit(t, "\",\"actions\":[");
            ngx_http_oci_text_actions(t, a->actions, 1);
            ngx_http_oci_text_lit(t, "]}");
        }

        ngx_http_oci_text_lit(t, "]");
    }

    ngx_http_oci_text_lit(t, "}");
}


static ngx_int_t
ngx_http_oci_token_fail(ngx_http_request_t *r, ngx_uint_t status,
    char *error, char *description)
{
    u_char  *body, *p;
    size_t   len;

    if (description == NULL) {
        description = "";
    }

    len = sizeof("{\"error\":\"\",\"error_description\":\"\"}")
          + ngx_strlen(error) + ngx_strlen(description);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":\"%s\",\"error_description\":\"%s\"}",
                    error, description);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "oci token: %s: %s", error, description);

    return ngx_http_oci_send_json(r, status, body, p - body);
}


static ngx_uint_t
ngx_http_oci_str_eq(ngx_str_t *s, char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}
