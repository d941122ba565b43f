
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_auth.h"


/*
 * What token auth derives from a request line and writes back: the scope
 * a request needs, the Bearer challenge, the OCI body of a 401 or 403 and
 * the space-separated scope list.  Pure functions over client bytes (no
 * request, no I/O), each text built by one fill function that counts and
 * then writes (ngx_http_oci_text_build()), so that they can be fuzzed.
 */


typedef struct {
    ngx_http_oci_access_t      *needs;
    ngx_uint_t                  n;
    ngx_uint_t                 *actions;     /* NULL: each need's own */
    ngx_str_t                  *realm;
    ngx_str_t                  *service;
    char                       *error;
    ngx_uint_t                  denied;
} ngx_http_oci_auth_text_t;


static void ngx_http_oci_scope_fill(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_challenge_fill(ngx_http_oci_text_t *t, void *data);
static void ngx_http_oci_auth_body_fill(ngx_http_oci_text_t *t, void *data);
static ngx_int_t ngx_http_oci_query_arg(ngx_pool_t *pool, ngx_str_t *args,
    char *name, ngx_str_t *value);


static ngx_str_t  ngx_http_oci_repository = ngx_string("repository");
static ngx_str_t  ngx_http_oci_registry = ngx_string("registry");
static ngx_str_t  ngx_http_oci_catalog = ngx_string("catalog");
static ngx_str_t  ngx_http_oci_gc = ngx_string("gc");


/*
 * The scope a request needs, by the mapping of distribution: GET and
 * HEAD pull, POST, PUT and PATCH pull and push, DELETE delete; the
 * catalog is registry:catalog:*; a mount also pulls from its source.  A
 * URI that is not a registry route needs a valid token and nothing more
 * (the registry answers it with an error of its own): *n is 0.  "needs"
 * has room for NGX_HTTP_OCI_NEEDS_MAX.
 */

ngx_int_t
ngx_http_oci_scope_needs(ngx_pool_t *pool, ngx_uint_t method, ngx_str_t *uri,
    ngx_str_t *args, ngx_http_oci_access_t *needs, ngx_uint_t *n)
{
    ngx_str_t               from, mount;
    ngx_http_oci_err_e      err;
    ngx_http_oci_route_t    rt;
    ngx_http_oci_access_t  *need;

    *n = 0;

    if (ngx_http_oci_route_parse(uri, &rt, &err) != NGX_OK
        || rt.type == NGX_HTTP_OCI_ROUTE_BASE)
    {
        return NGX_OK;
    }

    need = &needs[(*n)++];

    if (rt.type == NGX_HTTP_OCI_ROUTE_CATALOG) {
        need->type = ngx_http_oci_registry;
        need->name = ngx_http_oci_catalog;
        need->actions = NGX_HTTP_OCI_ACT_ANY;
        return NGX_OK;
    }

    /* the collector works on every repository: registry:gc:* */

    if (rt.type == NGX_HTTP_OCI_ROUTE_GC
        || rt.type == NGX_HTTP_OCI_ROUTE_GC_RUN)
    {
        need->type = ngx_http_oci_registry;
        need->name = ngx_http_oci_gc;
        need->actions = NGX_HTTP_OCI_ACT_ANY;
        return NGX_OK;
    }

    need->type = ngx_http_oci_repository;
    need->name = rt.name;

    /* a retention policy decides what is deleted: delete, whatever verb */

    if (rt.type >= NGX_HTTP_OCI_ROUTE_LIFECYCLE_POLICY
        && rt.type <= NGX_HTTP_OCI_ROUTE_LIFECYCLE_RUN)
    {
        need->actions = NGX_HTTP_OCI_ACT_DELETE;
        return NGX_OK;
    }

    switch (method) {

    case NGX_HTTP_POST:
    case NGX_HTTP_PUT:
    case NGX_HTTP_PATCH:
        need->actions = NGX_HTTP_OCI_ACT_PULL|NGX_HTTP_OCI_ACT_PUSH;
        break;

    case NGX_HTTP_DELETE:
        need->actions = NGX_HTTP_OCI_ACT_DELETE;
        break;

    default:
        need->actions = NGX_HTTP_OCI_ACT_PULL;
    }

    if (rt.type != NGX_HTTP_OCI_ROUTE_UPLOAD_START
        || method != NGX_HTTP_POST
        || ngx_http_oci_query_arg(pool, args, "mount", &mount) != NGX_OK
        || ngx_http_oci_query_arg(pool, args, "from", &from) != NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_oci_name_valid(from.data, from.len) != NGX_OK) {
        /* the registry refuses it; nothing is read from "from" */
        return NGX_OK;
    }

    need = &needs[(*n)++];
    need->type = ngx_http_oci_repository;
    need->name = from;
    need->actions = NGX_HTTP_OCI_ACT_PULL;

    return NGX_OK;
}


/*
 * The first argument of that name, percent-decoded into the pool as the
 * registry decodes it (ngx_http_arg() semantics: the first one counts).
 * NGX_DECLINED when absent.
 */

static ngx_int_t
ngx_http_oci_query_arg(ngx_pool_t *pool, ngx_str_t *args, char *name,
    ngx_str_t *value)
{
    u_char  *pos;

    pos = NULL;

    if (ngx_http_oci_arg_next(args, &pos, name, value) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_http_oci_unescape(pool, value);
}


/* "repository:a:pull,push repository:b:pull": needs, or granted bits */

ngx_int_t
ngx_http_oci_scope_text(ngx_pool_t *pool, ngx_http_oci_access_t *needs,
    ngx_uint_t n, ngx_uint_t *actions, ngx_str_t *out)
{
    ngx_http_oci_auth_text_t  at;

    ngx_memzero(&at, sizeof(ngx_http_oci_auth_text_t));

    at.needs = needs;
    at.n = n;
    at.actions = actions;

    return ngx_http_oci_text_build(pool, ngx_http_oci_scope_fill, &at, out);
}


static void
ngx_http_oci_scope_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_auth_text_t  *at = data;

    ngx_uint_t  i, bits, first;

    first = 1;

    for (i = 0; i < at->n; i++) {
        bits = at->actions ? at->actions[i] & NGX_HTTP_OCI_ACT_MASK
                           : at->needs[i].actions;

        if (bits == 0) {
            continue;
        }

        if (!first) {
            ngx_http_oci_text_lit(t, " ");
        }

        first = 0;

        ngx_http_oci_text_str(t, &at->needs[i].type);
        ngx_http_oci_text_lit(t, ":");
        ngx_http_oci_text_str(t, &at->needs[i].name);
        ngx_http_oci_text_lit(t, ":");
        ngx_http_oci_text_actions(t, bits, 0);
    }
}


/* Bearer realm="",service=""[,scope=""][,error=""] */

ngx_int_t
ngx_http_oci_auth_challenge_text(ngx_pool_t *pool, ngx_str_t *realm,
    ngx_str_t *service, ngx_http_oci_access_t *needs, ngx_uint_t n,
    char *error, ngx_str_t *out)
{
    ngx_http_oci_auth_text_t  at;

    ngx_memzero(&at, sizeof(ngx_http_oci_auth_text_t));

    at.needs = needs;
    at.n = n;
    at.realm = realm;
    at.service = service;
    at.error = error;

    return ngx_http_oci_text_build(pool, ngx_http_oci_challenge_fill, &at,
                                   out);
}


static void
ngx_http_oci_challenge_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_auth_text_t  *at = data;

    ngx_http_oci_text_lit(t, "Bearer realm=\"");
    ngx_http_oci_text_str(t, at->realm);
    ngx_http_oci_text_lit(t, "\",service=\"");
    ngx_http_oci_text_str(t, at->service);
    ngx_http_oci_text_lit(t, "\"");

    if (at->n) {
        ngx_http_oci_text_lit(t, ",scope=\"");
        ngx_http_oci_scope_fill(t, at);
        ngx_http_oci_text_lit(t, "\"");
    }

    if (at->error) {
        ngx_http_oci_text_lit(t, ",error=\"");
        ngx_http_oci_text_add(t, (u_char *) at->error,
                              ngx_strlen(at->error));
        ngx_http_oci_text_lit(t, "\"");
    }
}


/*
 * The OCI body of a 401 (UNAUTHORIZED) or 403 (DENIED): the detail lists
 * every action the request needed, one entry each, as distribution does.
 */

ngx_int_t
ngx_http_oci_auth_error_body(ngx_pool_t *pool, ngx_uint_t denied,
    ngx_http_oci_access_t *needs, ngx_uint_t n, ngx_str_t *out)
{
    ngx_http_oci_auth_text_t  at;

    ngx_memzero(&at, sizeof(ngx_http_oci_auth_text_t));

    at.needs = needs;
    at.n = n;
    at.denied = denied;

    return ngx_http_oci_text_build(pool, ngx_http_oci_auth_body_fill, &at,
                                   out);
}


static void
ngx_http_oci_auth_body_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_auth_text_t  *at = data;

    ngx_uint_t              i, bits, first;
    ngx_http_oci_access_t  *need;

    if (at->denied) {
        ngx_http_oci_text_lit(t, "{\"errors\":[{\"code\":\"DENIED\","
                              "\"message\":\"requested access to the "
                              "resource is denied\",\"detail\":[");

    } else {
        ngx_http_oci_text_lit(t, "{\"errors\":[{\"code\":\"UNAUTHORIZED\","
                              "\"message\":\"authentication required\","
                              "\"detail\":[");
    }

    first = 1;

    for (i = 0; i < at->n; i++) {
        need = &at->needs[i];

        for (bits = 1; bits <= NGX_HTTP_OCI_ACT_ANY; bits <<= 1) {
            if (!(need->actions & bits)) {
                continue;
            }

            if (!first) {
                ngx_http_oci_text_lit(t, ",");
            }

            first = 0;

            ngx_http_oci_text_lit(t, "{\"Type\":\"");
            ngx_http_oci_text_json(t, need->type.data, need->type.len);
            ngx_http_oci_text_lit(t, "\",\"Name\":\"");
            ngx_http_oci_text_json(t, need->name.data, need->name.len);
            ngx_http_oci_text_lit(t, "\",\"Action\":\"");
            ngx_http_oci_text_actions(t, bits, 0);
            ngx_http_oci_text_lit(t, "\"}");
        }
    }

    ngx_http_oci_text_lit(t, "]}]}");
}
