
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"
#include "ngx_http_oci_digest.h"


/*
 * Makes a verified upload the blob: fsync the bytes, rename into the
 * content-addressed tree, fsync the directory, so that once we answer 201
 * the blob survives a crash, and before the rename nobody can see it.
 *
 * The bytes were hashed as they arrived; the file must also hold exactly
 * them: its size is the count received and it has no hole (a writer that
 * truncated it under us would leave one).  Otherwise the upload is not
 * committed (c->corrupt).
 *
 * A blob file that exists already (pushed before, to any repository) is
 * kept only if it hashes to its name: a file damaged by a crash without
 * fsync (oci_registry_durable off) or by an older version's bugs is
 * replaced by ours, atomically (c->replaced), instead of being served
 * for good.
 *
 * An anonymous upload (a spare, O_TMPFILE) is linked instead of renamed,
 * or, to replace a bad blob file, linked under a temporary name in
 * _uploads and renamed from there.  With c->leftover, "upload" is a name
 * an interrupted earlier chunk may have left; it goes first.
 *
 * With c->verify the file is hashed whole first, with the digest's
 * algorithm (the upload was hashed with another as it arrived), and not
 * committed unless it matches (c->mismatch).
 *
 * System calls and libcrypto only, no nginx API that logs or allocates:
 * it also runs in a thread pool task.  c->err is 0, or the errno of the
 * step named by c->failed.
 */


static ngx_int_t ngx_http_oci_commit_check(ngx_http_oci_commit_t *c);
static ngx_int_t ngx_http_oci_commit_dirs(ngx_http_oci_commit_t *c,
    u_char *slash);
static ngx_int_t ngx_http_oci_commit_place(ngx_http_oci_commit_t *c);
static ngx_int_t ngx_http_oci_commit_replace(ngx_http_oci_commit_t *c);
static void ngx_http_oci_commit_sync_dir(ngx_http_oci_commit_t *c,
    u_char *slash);


void
ngx_http_oci_blob_commit(ngx_http_oci_commit_t *c)
{
    u_char           *slash;
    ngx_file_info_t   fi;

    c->err = 0;
    c->replaced = 0;
    c->corrupt = 0;
    c->mismatch = 0;

    if (c->anonymous && c->leftover) {
        (void) ngx_delete_file(c->upload);
    }

    if (ngx_http_oci_commit_check(c) != NGX_OK) {
        return;
    }

    if (c->verify
        && ngx_http_oci_digest_fd(c->fd, c->alg, c->size, c->hex) != NGX_OK)
    {
        c->mismatch = 1;
        return;
    }

    if (ngx_file_info(c->blob, &fi) == 0) {
        if (ngx_http_oci_blob_verify(c->blob, c->alg, c->hex, c->size)
            == NGX_OK)
        {
            /* the same bytes, verified: ours are not needed */

            if (!c->anonymous) {
                (void) ngx_delete_file(c->upload);
            }

            return;
        }

        c->replaced = 1;
    }

    if (c->durable && fsync(c->fd) == -1) {
        c->failed = "fsync() of the upload";
        c->err = ngx_errno;
        return;
    }

    slash = (u_char *) strrchr((char *) c->blob, '/');

    if (ngx_http_oci_commit_dirs(c, slash) != NGX_OK
        || ngx_http_oci_commit_place(c) != NGX_OK)
    {
        return;
    }

    if (c->durable) {
        ngx_http_oci_commit_sync_dir(c, slash);
    }
}


/* the file holds exactly the bytes hashed: their count, no hole */

static ngx_int_t
ngx_http_oci_commit_check(ngx_http_oci_commit_t *c)
{
    off_t            hole;
    ngx_file_info_t  fi;

    if (ngx_fd_info(c->fd, &fi) == NGX_FILE_ERROR) {
        c->failed = "fstat() of the upload";
        c->err = ngx_errno;
        return NGX_ERROR;
    }

    hole = lseek(c->fd, 0, SEEK_HOLE);

    if (ngx_file_size(&fi) == c->size && (hole == -1 || hole >= c->size)) {
        return NGX_OK;
    }

    c->corrupt = 1;
    c->failed = "the size or a hole of the upload";
    c->err = EIO;

    if (!c->anonymous) {
        (void) ngx_delete_file(c->upload);
    }

    return NGX_ERROR;
}


/*
 * blobs/<alg>/<xx>/: usually there; one mkdir() when the <xx> directory
 * is new, nginx's ngx_create_full_path() when more is missing
 */

static ngx_int_t
ngx_http_oci_commit_dirs(ngx_http_oci_commit_t *c, u_char *slash)
{
    ngx_err_t  err;

    *slash = '\0';

    err = 0;

    if (ngx_create_dir(c->blob, 0755) == NGX_FILE_ERROR) {
        err = ngx_errno;
    }

    *slash = '/';

    if (err == NGX_ENOENT) {
        /* it takes the directories of everything up to the last slash */
        err = ngx_create_full_path(c->blob, 0755);
    }

    if (err && err != NGX_EEXIST) {
        c->failed = "mkdir() of the blob directory";
        c->err = err;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_commit_place(ngx_http_oci_commit_t *c)
{
    ngx_err_t  err;

    if (!c->anonymous) {
        /* rename() replaces a bad blob file atomically too */

        if (ngx_rename_file(c->upload, c->blob) == NGX_FILE_ERROR) {
            c->failed = "rename() of the upload";
            c->err = ngx_errno;
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (!c->replaced) {
        err = ngx_http_oci_spare_link(c->fd, c->blob);

        if (err == 0) {
            return NGX_OK;
        }

        if (err != NGX_EEXIST) {
            c->failed = "linkat() of the upload";
            c->err = err;
            return NGX_ERROR;
        }

        /* committed meanwhile by someone else: good bytes, or ours */

        if (ngx_http_oci_blob_verify(c->blob, c->alg, c->hex, c->size)
            == NGX_OK)
        {
            return NGX_OK;
        }

        c->replaced = 1;
    }

    return ngx_http_oci_commit_replace(c);
}


/*
 * A spare replacing a bad blob file: linked under a name of its own, of
 * an upload id's length (so the sweeper removes it after a crash) and no
 * issued id's (no version 4 digit), then renamed over the blob file
 */

static ngx_int_t
ngx_http_oci_commit_replace(ngx_http_oci_commit_t *c)
{
    u_char     tmp[NGX_MAX_PATH];
    size_t     len;
    ngx_err_t  err;

    len = ngx_strlen(c->upload);

    if (len + 1 > sizeof(tmp) || len < NGX_HTTP_OCI_UPLOAD_ID_LEN) {
        c->failed = "naming the replacement of the blob";
        c->err = ENAMETOOLONG;
        return NGX_ERROR;
    }

    ngx_memcpy(tmp, c->upload, len + 1);
    tmp[len - NGX_HTTP_OCI_UPLOAD_ID_LEN + 14] = 'x';

    (void) ngx_delete_file(tmp);

    err = ngx_http_oci_spare_link(c->fd, tmp);
    if (err) {
        c->failed = "linkat() of the upload";
        c->err = err;
        return NGX_ERROR;
    }

    if (ngx_rename_file(tmp, c->blob) == NGX_FILE_ERROR) {
        c->failed = "rename() of the upload";
        c->err = ngx_errno;
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_oci_commit_sync_dir(ngx_http_oci_commit_t *c, u_char *slash)
{
    ngx_fd_t  dir;

    *slash = '\0';
    dir = ngx_open_file(c->blob, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    *slash = '/';

    if (dir == NGX_INVALID_FILE) {
        c->failed = "open() of the blob directory";
        c->err = ngx_errno;
        return;
    }

    if (fsync(dir) == -1) {
        c->failed = "fsync() of the blob directory";
        c->err = ngx_errno;
    }

    (void) ngx_close_file(dir);
}


/*
 * Does the blob file hold "size" bytes that hash to "hex"?  Read whole,
 * so only where it exists already when another upload of it commits.
 */

ngx_int_t
ngx_http_oci_blob_verify(u_char *path, ngx_uint_t alg, u_char *hex,
    off_t size)
{
    ngx_fd_t   fd;
    ngx_int_t  rc;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    rc = ngx_http_oci_digest_fd(fd, alg, size, hex);

    (void) ngx_close_file(fd);

    return rc;
}
