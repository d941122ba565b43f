
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * The error bodies and challenges built from client input: the OCI error
 * body with a hostile detail, and token auth's 401/403 body, Bearer
 * challenge and scope text for a hostile request line.  Every text must
 * be exactly what its builder counted (ASan sees each allocation's real
 * bounds through the shim's pool) and every body valid JSON of the
 * expected shape.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>

#include "ngx_http_oci_errors.h"
#include "ngx_http_oci_auth.h"
#include "ngx_shim.h"


static void
fuzz_json_errors(ngx_str_t *body, size_t entries)
{
    char      *text;
    yajl_val   v, arr;

    text = malloc(body->len + 1);
    memcpy(text, body->data, body->len);
    text[body->len] = '\0';

    v = yajl_tree_parse(text, NULL, 0);
    if (v == NULL || !YAJL_IS_OBJECT(v) || v->u.object.len != 1
        || !YAJL_IS_ARRAY(v->u.object.values[0])
        || v->u.object.values[0]->u.array.len != 1)
    {
        abort();
    }

    if (entries != (size_t) -1) {
        arr = v->u.object.values[0]->u.array.values[0];

        if (!YAJL_IS_OBJECT(arr) || arr->u.object.len != 3
            || !YAJL_IS_ARRAY(arr->u.object.values[2])
            || arr->u.object.values[2]->u.array.len != entries)
        {
            abort();
        }
    }

    yajl_tree_free(v);
    free(text);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                 *buf, *q;
    size_t                  entries;
    ngx_str_t               detail, uri, args, out, realm, service;
    ngx_uint_t              i, n, bits, method;
    ngx_pool_t             *pool;
    ngx_http_oci_access_t   needs[NGX_HTTP_OCI_NEEDS_MAX];
    static ngx_uint_t       methods[] = {
        NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST, NGX_HTTP_PUT,
        NGX_HTTP_PATCH, NGX_HTTP_DELETE
    };

    if (size == 0) {
        return 0;
    }

    /* a heap copy of exactly "size" bytes: ASan catches any overread */
    buf = malloc(size);
    memcpy(buf, data, size);

    pool = fuzz_pool_create();

    /* byte 0: the error code and the method; the rest: detail, request */

    detail.data = buf + 1;
    detail.len = size - 1;

    if (ngx_http_oci_error_body(pool, (ngx_http_oci_err_e) (buf[0] % 24),
                                (buf[0] & 0x80) ? NULL : &detail, &out)
        != NGX_OK)
    {
        abort();
    }

    fuzz_json_errors(&out, (size_t) -1);

    method = methods[buf[0] % 6];

    q = memchr(detail.data, '?', detail.len);
    uri.data = detail.data;
    uri.len = q ? (size_t) (q - detail.data) : detail.len;
    args.data = q ? q + 1 : detail.data + detail.len;
    args.len = q ? detail.len - uri.len - 1 : 0;

    if (ngx_http_oci_scope_needs(pool, method, &uri, &args, needs, &n)
        != NGX_OK)
    {
        abort();
    }

    entries = 0;

    for (i = 0; i < n; i++) {
        for (bits = 1; bits <= NGX_HTTP_OCI_ACT_ANY; bits <<= 1) {
            entries += (needs[i].actions & bits) ? 1 : 0;
        }
    }

    if (ngx_http_oci_auth_error_body(pool, buf[0] & 1, needs, n, &out)
        != NGX_OK)
    {
        abort();
    }

    fuzz_json_errors(&out, entries);

    ngx_str_set(&realm, "https://auth.example/token");
    ngx_str_set(&service, "registry.example");

    if (ngx_http_oci_auth_challenge_text(pool, &realm, &service, needs, n,
                                         (buf[0] & 2) ? "invalid_token"
                                                      : NULL, &out)
        != NGX_OK
        || out.len < sizeof("Bearer realm=\"\",service=\"\"") - 1
        || ngx_strncmp(out.data, "Bearer realm=\"", 14) != 0)
    {
        abort();
    }

    if (ngx_http_oci_scope_text(pool, needs, n, NULL, &out) != NGX_OK
        || (n == 0 && out.len != 0))
    {
        abort();
    }

    fuzz_pool_destroy(pool);
    free(buf);

    return 0;
}
