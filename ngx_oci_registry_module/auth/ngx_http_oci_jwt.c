
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_tree.h>

#include "ngx_http_oci_auth.h"


/*
 * JWT parsing for token auth: pure functions over client bytes (no I/O,
 * no crypto), so a fuzzer can drive them.  The header is parsed before
 * the signature is checked (it names the key); the claims only after.
 */


#define NGX_HTTP_OCI_JWT_TIME_MAX    ((time_t) 1 << 40)


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  bit;
} ngx_http_oci_action_t;


static ngx_http_oci_action_t  ngx_http_oci_actions[] = {
    { ngx_string("pull"), NGX_HTTP_OCI_ACT_PULL },
    { ngx_string("push"), NGX_HTTP_OCI_ACT_PUSH },
    { ngx_string("delete"), NGX_HTTP_OCI_ACT_DELETE },
    { ngx_string("*"), NGX_HTTP_OCI_ACT_ANY },
    { ngx_null_string, 0 }
};


static yajl_val ngx_http_oci_jwt_json(ngx_pool_t *pool, u_char *p,
    size_t len);
static ngx_int_t ngx_http_oci_jwt_string(ngx_pool_t *pool, yajl_val v,
    ngx_str_t *s);
static ngx_int_t ngx_http_oci_jwt_time(yajl_val v, time_t *t);
static ngx_int_t ngx_http_oci_jwt_access(ngx_pool_t *pool, yajl_val arr,
    ngx_array_t *out);


ngx_uint_t
ngx_http_oci_jwt_alg(u_char *p, size_t len)
{
    if (len == 5 && ngx_strncmp(p, "ES256", 5) == 0) {
        return NGX_HTTP_OCI_JWT_ES256;
    }

    if (len == 5 && ngx_strncmp(p, "RS256", 5) == 0) {
        return NGX_HTTP_OCI_JWT_RS256;
    }

    if (len == 5 && ngx_strncmp(p, "EdDSA", 5) == 0) {
        return NGX_HTTP_OCI_JWT_EDDSA;
    }

    /* "none", HS*, and everything else: never */
    return 0;
}


/*
 * Finds the parts of "<header>.<payload>.<signature>" without decoding
 * them.  Anything but three non-empty base64url parts is refused, which
 * also refuses unsigned ("alg":"none") tokens.  Enough for a token whose
 * signature has been verified before: only its claims are read again.
 */

ngx_int_t
ngx_http_oci_jwt_locate(u_char *p, size_t len, ngx_http_oci_jwt_t *jwt,
    char **err)
{
    u_char  *dot1, *dot2, *last;

    ngx_memzero(jwt, sizeof(ngx_http_oci_jwt_t));
    jwt->exp = -1;
    jwt->nbf = -1;
    jwt->iat = -1;

    if (len == 0 || len > NGX_HTTP_OCI_JWT_MAX) {
        *err = "token too long or empty";
        return NGX_ERROR;
    }

    last = p + len;

    /*
     * JWS uses base64url without padding; nginx's decoder would stop at
     * a '=' and ignore what follows, letting one token have many spellings
     */
    if (ngx_strlchr(p, last, '=') != NULL) {
        *err = "padding in a JWS part";
        return NGX_ERROR;
    }

    dot1 = ngx_strlchr(p, last, '.');
    if (dot1 == NULL) {
        *err = "not a JWS compact serialization";
        return NGX_ERROR;
    }

    dot2 = ngx_strlchr(dot1 + 1, last, '.');
    if (dot2 == NULL || ngx_strlchr(dot2 + 1, last, '.') != NULL) {
        *err = "not a JWS compact serialization";
        return NGX_ERROR;
    }

    if (dot1 == p || dot2 == dot1 + 1 || dot2 + 1 == last) {
        *err = "empty JWS part";
        return NGX_ERROR;
    }

    jwt->signed_part.data = p;
    jwt->signed_part.len = dot2 - p;
    jwt->payload.data = dot1 + 1;
    jwt->payload.len = dot2 - dot1 - 1;

    return NGX_OK;
}


/* locates the parts, then decodes the signature and parses the header */

ngx_int_t
ngx_http_oci_jwt_split(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_http_oci_jwt_t *jwt, char **err)
{
    yajl_val    root, v;
    ngx_str_t   src, alg;

    if (ngx_http_oci_jwt_locate(p, len, jwt, err) != NGX_OK) {
        return NGX_ERROR;
    }

    src.data = jwt->signed_part.data + jwt->signed_part.len + 1;
    src.len = p + len - src.data;

    jwt->signature.data = ngx_pnalloc(pool, ngx_base64_decoded_length(src.len));
    if (jwt->signature.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(&jwt->signature, &src) != NGX_OK) {
        *err = "signature is not base64url";
        return NGX_ERROR;
    }

    root = ngx_http_oci_jwt_json(pool, p, jwt->payload.data - 1 - p);
    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        *err = "header is not a JSON object";
        return NGX_ERROR;
    }

    /* we implement no critical extension, so any "crit" is refused */
    if (ngx_http_oci_json_get(root, "crit") != NULL) {
        *err = "unsupported critical header";
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "alg");
    if (ngx_http_oci_jwt_string(pool, v, &alg) != NGX_OK) {
        *err = "no alg";
        return NGX_ERROR;
    }

    jwt->alg = ngx_http_oci_jwt_alg(alg.data, alg.len);
    if (jwt->alg == 0) {
        *err = "alg not accepted";
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "kid");
    if (v != NULL && ngx_http_oci_jwt_string(pool, v, &jwt->kid) != NGX_OK) {
        *err = "kid is not a string";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* decodes and checks the claims; call only once the signature is good */

ngx_int_t
ngx_http_oci_jwt_claims(ngx_pool_t *pool, ngx_http_oci_jwt_t *jwt, char **err)
{
    yajl_val    root, v;
    ngx_uint_t  i;

    root = ngx_http_oci_jwt_json(pool, jwt->payload.data, jwt->payload.len);
    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        *err = "claims are not a JSON object";
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "iss");
    if (v != NULL && ngx_http_oci_jwt_string(pool, v, &jwt->iss) != NGX_OK) {
        *err = "iss is not a string";
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "sub");
    if (v != NULL && ngx_http_oci_jwt_string(pool, v, &jwt->sub) != NGX_OK) {
        *err = "sub is not a string";
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "aud");

    if (v != NULL && YAJL_IS_ARRAY(v)) {
        if (v->u.array.len > 4) {
            *err = "too many audiences";
            return NGX_ERROR;
        }

        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_http_oci_jwt_string(pool, v->u.array.values[i],
                                        &jwt->aud[i])
                != NGX_OK)
            {
                *err = "aud is not a string";
                return NGX_ERROR;
            }
        }

        jwt->naud = i;

    } else if (v != NULL) {
        if (ngx_http_oci_jwt_string(pool, v, &jwt->aud[0]) != NGX_OK) {
            *err = "aud is not a string";
            return NGX_ERROR;
        }

        jwt->naud = 1;
    }

    if (ngx_http_oci_jwt_time(ngx_http_oci_json_get(root, "exp"), &jwt->exp)
        != NGX_OK
        || ngx_http_oci_jwt_time(ngx_http_oci_json_get(root, "nbf"), &jwt->nbf)
           != NGX_OK
        || ngx_http_oci_jwt_time(ngx_http_oci_json_get(root, "iat"), &jwt->iat)
           != NGX_OK)
    {
        *err = "a time claim is not a number of seconds";
        return NGX_ERROR;
    }

    if (ngx_array_init(&jwt->access, pool, 2, sizeof(ngx_http_oci_access_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = ngx_http_oci_json_get(root, "access");

    if (v != NULL && ngx_http_oci_jwt_access(pool, v, &jwt->access) != NGX_OK)
    {
        *err = "access claim is malformed";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the actions the token grants on one resource, plus LISTED if named */

ngx_uint_t
ngx_http_oci_jwt_granted(ngx_http_oci_jwt_t *jwt, ngx_str_t *type,
    ngx_str_t *name)
{
    ngx_uint_t              i, bits;
    ngx_http_oci_access_t  *a;

    bits = 0;
    a = jwt->access.elts;

    for (i = 0; i < jwt->access.nelts; i++) {
        if (a[i].type.len == type->len
            && ngx_strncmp(a[i].type.data, type->data, type->len) == 0
            && a[i].name.len == name->len
            && ngx_strncmp(a[i].name.data, name->data, name->len) == 0)
        {
            bits |= a[i].actions | NGX_HTTP_OCI_ACT_LISTED;
        }
    }

    /* "*" covers every action, as in distribution's access controller */
    if (bits & NGX_HTTP_OCI_ACT_ANY) {
        bits |= NGX_HTTP_OCI_ACT_MASK;
    }

    return bits;
}


/*
 * "type[(class)]:name:actions".  The name may hold a ':' (host:port), so
 * the actions are split off at the last ':'.
 */

ngx_int_t
ngx_http_oci_scope_parse(u_char *p, size_t len, ngx_http_oci_access_t *a)
{
    u_char  *first, *last, *paren;

    first = ngx_strlchr(p, p + len, ':');
    if (first == NULL || first == p) {
        return NGX_ERROR;
    }

    for (last = p + len - 1; *last != ':'; last--) { /* void */ }

    if (last == first || last == first + 1) {
        return NGX_ERROR;
    }

    a->type.data = p;
    a->type.len = first - p;

    paren = ngx_strlchr(p, first, '(');
    if (paren != NULL) {
        if (first[-1] != ')' || paren == p) {
            return NGX_ERROR;
        }

        a->type.len = paren - p;
    }

    a->name.data = first + 1;
    a->name.len = last - first - 1;
    a->actions = ngx_http_oci_actions_parse(last + 1, p + len - last - 1);

    return NGX_OK;
}


ngx_uint_t
ngx_http_oci_actions_parse(u_char *p, size_t len)
{
    u_char                 *last, *comma;
    size_t                  n;
    ngx_uint_t              bits;
    ngx_http_oci_action_t  *act;

    bits = 0;
    last = p + len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        n = comma - p;

        for (act = ngx_http_oci_actions; act->name.len; act++) {
            if (n == act->name.len && ngx_strncmp(p, act->name.data, n) == 0) {
                bits |= act->bit;
            }
        }

        p = comma + 1;
    }

    return bits;
}


/* "pull,push", or with json set "\"pull\",\"push\"" */

void
ngx_http_oci_text_actions(ngx_http_oci_text_t *t, ngx_uint_t actions,
    ngx_uint_t json)
{
    ngx_uint_t              first;
    ngx_http_oci_action_t  *act;

    first = 1;

    for (act = ngx_http_oci_actions; act->name.len; act++) {
        if (!(actions & act->bit)) {
            continue;
        }

        if (!first) {
            ngx_http_oci_text_lit(t, ",");
        }

        first = 0;

        if (json) {
            ngx_http_oci_text_lit(t, "\"");
        }

        ngx_http_oci_text_str(t, &act->name);

        if (json) {
            ngx_http_oci_text_lit(t, "\"");
        }
    }
}


/* base64url-decodes one part and parses it; the tree lives in the pool */

static yajl_val
ngx_http_oci_jwt_json(ngx_pool_t *pool, u_char *p, size_t len)
{
    yajl_val   root;
    ngx_str_t  src, dst;

    src.data = p;
    src.len = len;

    dst.data = ngx_pnalloc(pool, ngx_base64_decoded_length(len) + 1);
    if (dst.data == NULL) {
        return NULL;
    }

    if (ngx_decode_base64url(&dst, &src) != NGX_OK) {
        return NULL;
    }

    /* yajl stops at a NUL: one inside the JSON would hide what follows */
    if (ngx_strlchr(dst.data, dst.data + dst.len, '\0') != NULL) {
        return NULL;
    }

    dst.data[dst.len] = '\0';

    if (ngx_http_oci_json_parse(pool, dst.data, &root) != NGX_OK) {
        return NULL;
    }

    return root;
}


static ngx_int_t
ngx_http_oci_jwt_string(ngx_pool_t *pool, yajl_val v, ngx_str_t *s)
{
    if (v == NULL || !YAJL_IS_STRING(v)) {
        return NGX_ERROR;
    }

    s->len = ngx_strlen(v->u.string);
    s->data = (u_char *) v->u.string;

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_jwt_time(yajl_val v, time_t *t)
{
    double  d;

    if (v == NULL) {
        return NGX_OK;
    }

    if (YAJL_IS_INTEGER(v)) {
        if (YAJL_GET_INTEGER(v) < 0
            || YAJL_GET_INTEGER(v) > NGX_HTTP_OCI_JWT_TIME_MAX)
        {
            return NGX_ERROR;
        }

        *t = (time_t) YAJL_GET_INTEGER(v);
        return NGX_OK;
    }

    if (YAJL_IS_DOUBLE(v)) {
        d = YAJL_GET_DOUBLE(v);

        /* also refuses NaN */
        if (!(d >= 0 && d <= (double) NGX_HTTP_OCI_JWT_TIME_MAX)) {
            return NGX_ERROR;
        }

        *t = (time_t) d;
        return NGX_OK;
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_oci_jwt_access(ngx_pool_t *pool, yajl_val arr, ngx_array_t *out)
{
    size_t                  i, j;
    yajl_val                e, actions, act;
    ngx_http_oci_access_t  *a;

    if (!YAJL_IS_ARRAY(arr) || arr->u.array.len > NGX_HTTP_OCI_ACCESS_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < arr->u.array.len; i++) {
        e = arr->u.array.values[i];

        a = ngx_array_push(out);
        if (a == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_oci_jwt_string(pool, ngx_http_oci_json_get(e, "type"),
                                    &a->type)
            != NGX_OK
            || ngx_http_oci_jwt_string(pool, ngx_http_oci_json_get(e, "name"),
                                       &a->name)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        a->actions = 0;

        actions = ngx_http_oci_json_get(e, "actions");
        if (actions == NULL) {
            continue;
        }

        if (!YAJL_IS_ARRAY(actions)) {
            return NGX_ERROR;
        }

        for (j = 0; j < actions->u.array.len; j++) {
            act = actions->u.array.values[j];

            if (!YAJL_IS_STRING(act)) {
                return NGX_ERROR;
            }

            a->actions |= ngx_http_oci_actions_parse((u_char *) act->u.string,
                                              ngx_strlen(act->u.string));
        }
    }

    return NGX_OK;
}


/*
 * Repository globs of the policy and of anonymous pull: '*' matches any
 * run of characters, '/' included ("team/" and a star cover "team/a/b"),
 * '?' one character.
 */

ngx_uint_t
ngx_http_oci_glob_match(ngx_str_t *glob, ngx_str_t *name)
{
    u_char  *g, *n, *gend, *nend, *star, *resume;

    g = glob->data;
    n = name->data;
    gend = g + glob->len;
    nend = n + name->len;
    star = NULL;
    resume = NULL;

    while (n < nend) {
        if (g < gend && *g == '*') {
            star = g++;
            resume = n;

        } else if (g < gend && (*g == '?' || *g == *n)) {
            g++;
            n++;

        } else if (star != NULL) {
            g = star + 1;
            n = ++resume;

        } else {
            return 0;
        }
    }

    while (g < gend && *g == '*') {
        g++;
    }

    return g == gend;
}
