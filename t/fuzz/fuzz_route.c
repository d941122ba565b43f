
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * Everything a client puts in a request line: the route parser (path),
 * the name/tag/digest grammars, Content-Range, and repeated query
 * arguments.  Checks invariants too: a parsed route's pieces lie inside
 * the input and satisfy the grammars.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_grammar.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                *buf, *pos;
    off_t                  start, end;
    ngx_str_t              uri, args, value;
    ngx_http_oci_err_e     err;
    ngx_http_oci_route_t   rt;
    ngx_http_oci_digest_t  d;

    /* a heap copy of exactly "size" bytes: ASan catches any overread */
    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    uri.data = buf;
    uri.len = size;

    if (ngx_http_oci_route_parse(&uri, &rt, &err) == NGX_OK) {
        if (rt.name.len) {
            if (rt.name.data < buf || rt.name.data + rt.name.len > buf + size
                || ngx_http_oci_name_valid(rt.name.data, rt.name.len)
                   != NGX_OK)
            {
                abort();
            }
        }

        if (rt.by_digest
            && ngx_http_oci_digest_parse(rt.digest.text.data,
                                         rt.digest.text.len, &d)
               != NGX_OK)
        {
            abort();
        }
    }

    (void) ngx_http_oci_name_valid(buf, size);
    (void) ngx_http_oci_tag_valid(buf, size);

    if (ngx_http_oci_digest_parse(buf, size, &d) == NGX_OK
        && (d.hex.len != 64 && d.hex.len != 128))
    {
        abort();
    }

    if (ngx_http_oci_content_range_parse(buf, size, &start, &end) == NGX_OK
        && (start < 0 || end < start))
    {
        abort();
    }

    args.data = buf;
    args.len = size;
    pos = NULL;

    while (ngx_http_oci_arg_next(&args, &pos, "tag", &value) == NGX_OK) {
        if (value.data < buf || value.data + value.len > buf + size) {
            abort();
        }
    }

    free(buf);

    return 0;
}
