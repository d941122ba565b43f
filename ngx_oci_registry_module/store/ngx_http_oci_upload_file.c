
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <sys/file.h>

#include "ngx_http_oci_store.h"


/*
 * Opens the file of an upload for writing at "offset" (and for reading: a
 * closing digest of another algorithm is checked over the file) and
 * locks it (flock); whatever lies beyond the offset is the remains of an
 * interrupted chunk and is cut off.  The first chunk creates the file.
 * Later chunks must find it with at least "offset" bytes: a file that
 * vanished (expired, storage wiped) must not be silently recreated with a
 * hole where acknowledged bytes were.  Returns NGX_INVALID_FILE with
 * errno set; ENOENT means the upload is lost, EAGAIN that another writer
 * holds the file.
 */

ngx_fd_t
ngx_http_oci_upload_open(ngx_log_t *log, ngx_str_t *path, off_t offset)
{
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi;

    if (offset > 0) {
        fd = ngx_open_file(path->data, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);

    } else {
        fd = ngx_open_file(path->data, NGX_FILE_RDWR,
                           NGX_FILE_CREATE_OR_OPEN, NGX_FILE_DEFAULT_ACCESS);
    }

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "oci registry: %s upload \"%s\" failed",
                      offset > 0 ? "open" : "create", path->data);
        ngx_set_errno((offset == 0 && err == NGX_ENOENT) ? NGX_EACCES : err);
        return NGX_INVALID_FILE;
    }

    /*
     * Nothing is done to the file before its lock is ours: a writer that
     * still holds it (whose Redis lock was taken over, rightly or not)
     * keeps its bytes, and this request gets EAGAIN (416)
     */

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        ngx_set_errno(err == EWOULDBLOCK ? NGX_EAGAIN : err);
        return NGX_INVALID_FILE;
    }

    if (offset > 0) {
        if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
            || ngx_file_size(&fi) < offset)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "oci registry: upload \"%s\" is shorter than its "
                          "recorded offset %O", path->data, offset);
            (void) ngx_close_file(fd);
            ngx_set_errno(NGX_ENOENT);
            return NGX_INVALID_FILE;
        }
    }

    if (ftruncate(fd, offset) == -1) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "oci registry: ftruncate \"%s\" failed", path->data);
        (void) ngx_close_file(fd);
        ngx_set_errno(err);
        return NGX_INVALID_FILE;
    }

    return fd;
}
