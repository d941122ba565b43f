
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"
#include "ngx_http_oci_grammar.h"


/*
 * The garbage collector's file system work (policy/ngx_http_oci_gc_sched.c
 * decides what, with Redis): system calls only, in a thread pool task
 * where there is one.  A file to collect is first renamed to its trash
 * name ".<hex>.gc" in its own directory; only after Redis confirmed that
 * still no repository links it is it unlinked, else it is linked back.
 * A blob being served stays readable through its open descriptor, and a
 * collector killed in between leaves a trash file that the next walk of
 * that directory (its mtime changed) finishes the same way.
 */


#define NGX_HTTP_OCI_GC_PATH  (NGX_MAX_PATH + 256)


static ngx_int_t ngx_http_oci_gc_paths(ngx_http_oci_gc_fs_t *fs,
    ngx_http_oci_gc_file_t *f, u_char *path, u_char *trash);
static void ngx_http_oci_gc_walk(ngx_http_oci_gc_fs_t *fs, ngx_uint_t n);
static ngx_int_t ngx_http_oci_gc_hex(u_char *p, size_t len);
static void ngx_http_oci_gc_failed(ngx_http_oci_gc_fs_t *fs, char *what);


void
ngx_http_oci_gc_fs_run(ngx_http_oci_gc_fs_t *fs)
{
    struct stat              st;
    ngx_uint_t               i;
    ngx_http_oci_gc_file_t  *f;
    u_char                   path[NGX_HTTP_OCI_GC_PATH];
    u_char                   trash[NGX_HTTP_OCI_GC_PATH];

    fs->freed = 0;
    fs->freed_bytes = 0;
    fs->err = 0;
    fs->failed = NULL;

    if (fs->op == NGX_HTTP_OCI_GC_WALK) {
        for (i = fs->dir; i < fs->dir + fs->ndirs && i < 512; i++) {
            ngx_http_oci_gc_walk(fs, i);
        }

        return;
    }

    f = fs->files.elts;

    for (i = 0; i < fs->files.nelts; i++) {

        if (!f[i].collect
            || ngx_http_oci_gc_paths(fs, &f[i], path, trash) != NGX_OK)
        {
            continue;
        }

        switch (fs->op) {

        case NGX_HTTP_OCI_GC_MEASURE:
            if (!f[i].found) {
                if (stat((char *) path, &st) == 0) {
                    f[i].found = 1;
                    f[i].size = st.st_size;
                }
            }

            break;

        case NGX_HTTP_OCI_GC_TRASH:
            if (f[i].trashed) {
                break;
            }

            if (stat((char *) path, &st) == 0) {
                f[i].size = st.st_size;

                if (rename((char *) path, (char *) trash) == 0) {
                    f[i].found = 1;
                    f[i].trashed = 1;

                } else {
                    ngx_http_oci_gc_failed(fs, "rename()");
                }

            } else if (stat((char *) trash, &st) == 0) {
                /* left by a collector that was killed */
                f[i].size = st.st_size;
                f[i].found = 1;
                f[i].trashed = 1;
            }

            break;

        default: /* NGX_HTTP_OCI_GC_FINISH */
            if (!f[i].trashed) {
                break;
            }

            if (f[i].remove) {
                if (unlink((char *) trash) == 0) {
                    fs->freed++;
                    fs->freed_bytes += f[i].size;

                } else if (errno != ENOENT) {
                    ngx_http_oci_gc_failed(fs, "unlink()");
                }

                break;
            }

            /* linked meanwhile: back in place (unless a new copy is) */

            if (link((char *) trash, (char *) path) == -1
                && errno != EEXIST)
            {
                ngx_http_oci_gc_failed(fs, "link()");
                break;
            }

            if (unlink((char *) trash) == -1 && errno != ENOENT) {
                ngx_http_oci_gc_failed(fs, "unlink()");
            }

            f[i].restored = 1;
            break;
        }
    }
}


/*
 * One directory of blobs/ (n 0-255: sha256/00-ff, 256-511: sha512),
 * if it changed since fs->since: its files that changed between then
 * and fs->before (older than the grace period), to be checked against
 * Redis, and its trash files, to be finished
 */

static void
ngx_http_oci_gc_walk(ngx_http_oci_gc_fs_t *fs, ngx_uint_t n)
{
    DIR                     *dir;
    size_t                   len, hexlen;
    char                    *alg;
    u_char                   path[NGX_HTTP_OCI_GC_PATH], *p, *name;
    struct stat              st;
    struct dirent           *de;
    ngx_http_oci_gc_file_t  *f;

    alg = (n < 256) ? "sha256" : "sha512";
    hexlen = (n < 256) ? 64 : 128;

    p = ngx_snprintf(path, NGX_HTTP_OCI_GC_PATH - 1, "%V/blobs/%s/%02xi",
                     &fs->root, alg, n % 256);
    *p = '\0';

    dir = opendir((char *) path);
    if (dir == NULL) {
        if (errno != ENOENT) {
            ngx_http_oci_gc_failed(fs, "opendir()");
        }

        return;
    }

    if (fstat(dirfd(dir), &st) == -1 || st.st_mtime < fs->since) {
        (void) closedir(dir);
        return;
    }

    for ( ;; ) {
        errno = 0;

        de = readdir(dir);
        if (de == NULL) {
            break;
        }

        name = (u_char *) de->d_name;
        len = ngx_strlen(name);

        if (len == hexlen + 4 && name[0] == '.'
            && ngx_strcmp(name + hexlen + 1, ".gc") == 0
            && ngx_http_oci_gc_hex(name + 1, hexlen) == NGX_OK)
        {
            name++;

        } else if (len != hexlen
                   || ngx_http_oci_gc_hex(name, hexlen) != NGX_OK)
        {
            continue;
        }

        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1
            || !S_ISREG(st.st_mode))
        {
            continue;
        }

        /*
         * A file changed before "since" was looked at by an earlier walk
         * (its record emptied since then is in the orphans' queue); one
         * changed after "before" is not past the grace period yet
         */

        if (name == (u_char *) de->d_name
            && (st.st_ctime >= fs->before || st.st_ctime < fs->since))
        {
            continue;
        }

        f = ngx_array_push(&fs->files);
        p = ngx_pnalloc(fs->pool, 7 + hexlen);

        if (f == NULL || p == NULL) {
            fs->err = NGX_ENOMEM;
            fs->failed = "allocation";
            break;
        }

        ngx_memzero(f, sizeof(ngx_http_oci_gc_file_t));
        f->digest.data = p;
        f->digest.len = ngx_sprintf(p, "%s:%*s", alg, hexlen, name) - p;
        f->size = st.st_size;
        f->found = 1;
        f->trashed = (name != (u_char *) de->d_name);
    }

    (void) closedir(dir);
}


/* "<root>/blobs/<alg>/<xx>/<hex>" and its trash name, from a digest */

static ngx_int_t
ngx_http_oci_gc_paths(ngx_http_oci_gc_fs_t *fs, ngx_http_oci_gc_file_t *f,
    u_char *path, u_char *trash)
{
    u_char                 *p;
    ngx_http_oci_digest_t   d;

    /* the digests come from Redis and the walk: parsed as a client's */

    if (ngx_http_oci_digest_parse(f->digest.data, f->digest.len, &d)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_snprintf(path, NGX_HTTP_OCI_GC_PATH - 1, "%V/blobs/%V/%*s/%V",
                     &fs->root, &d.algorithm, (size_t) 2, d.hex.data,
                     &d.hex);
    *p = '\0';

    p = ngx_snprintf(trash, NGX_HTTP_OCI_GC_PATH - 1,
                     "%V/blobs/%V/%*s/.%V.gc", &fs->root, &d.algorithm,
                     (size_t) 2, d.hex.data, &d.hex);
    *p = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_gc_hex(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the first failure is reported; the rest of the batch goes on */

static void
ngx_http_oci_gc_failed(ngx_http_oci_gc_fs_t *fs, char *what)
{
    if (fs->err == 0) {
        fs->err = errno;
        fs->failed = what;
    }
}
