
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"
#include "ngx_http_oci_digest.h"


/*
 * A sink takes the bytes of a blob as they arrive, from a client's body
 * (our request body filter) or from wherever else they come: it hashes
 * them (unless they were hashed already) and writes them at the file's
 * current end, so that memory stays at one buffer whatever the size.
 * Nothing here knows HTTP; the caller turns the result into an answer.
 */


void
ngx_http_oci_sink_init(ngx_http_oci_sink_t *s, ngx_fd_t fd, u_char *name,
    off_t offset, off_t limit, ngx_http_oci_hash_t *hash)
{
    s->fd = fd;
    s->name = name;
    s->offset = offset;
    s->limit = limit;
    s->written = 0;
    s->hash = hash;
    s->err = 0;
}


/*
 * NGX_OK; NGX_DECLINED: more bytes than the limit (nothing of them is
 * taken); NGX_ABORT: the file's end would not fit an off_t; NGX_ERROR: a
 * write failed, s->err says why (ENOSPC: the disk is full).
 */

ngx_int_t
ngx_http_oci_sink_write(ngx_http_oci_sink_t *s, u_char *p, size_t len)
{
    ssize_t  n;

    if (s->limit >= 0 && (off_t) len > s->limit - s->written) {
        return NGX_DECLINED;
    }

    if ((off_t) len > NGX_MAX_OFF_T_VALUE - s->offset - s->written) {
        return NGX_ABORT;
    }

    if (s->hash) {
        ngx_http_oci_hash_update(s->hash, p, len);
    }

    while (len) {
        n = pwrite(s->fd, p, len, s->offset + s->written);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            s->err = ngx_errno;
            return NGX_ERROR;
        }

        p += n;
        len -= n;
        s->written += n;
    }

    return NGX_OK;
}
