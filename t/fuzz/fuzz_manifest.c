
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * Manifest validation as a push runs it: parse (depth and duplicate-key
 * guards, descriptors, media types) and, for accepted manifests, the
 * descriptor the referrers API will list, which must be valid JSON.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_tree.h>

#include "ngx_http_oci_grammar.h"
#include "ngx_http_oci_manifest_parse.h"
#include "ngx_shim.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     *err, *text;
    u_char                   *buf;
    yajl_val                  v;
    ngx_str_t                 ct, digest, desc;
    ngx_pool_t               *pool;
    ngx_http_oci_manifest_t   m;

    pool = fuzz_pool_create();

    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    ngx_str_set(&ct, "application/vnd.oci.image.manifest.v1+json");
    ngx_str_set(&digest, "sha256:0000000000000000000000000000000000000000"
                         "000000000000000000000000");

    if (ngx_http_oci_manifest_parse(pool, buf, size,
                                    (size && data[0] & 1) ? &ct : NULL, &m,
                                    &err)
        == NGX_OK
        && ngx_http_oci_manifest_descriptor(pool, &m, &digest, size, &desc)
           == NGX_OK)
    {
        text = malloc(desc.len + 1);
        memcpy(text, desc.data, desc.len);
        text[desc.len] = '\0';

        v = yajl_tree_parse(text, NULL, 0);
        if (v == NULL) {
            abort();
        }

        yajl_tree_free(v);
        free(text);
    }

    free(buf);
    fuzz_pool_destroy(pool);

    return 0;
}
