
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/rand.h>

#include "ngx_http_oci_store.h"


static ngx_int_t ngx_http_oci_storage_dir(ngx_log_t *log, int root,
    ngx_str_t *name, char *sub, ngx_uid_t user);
static void ngx_http_oci_idkey_load(ngx_log_t *log, int root,
    ngx_str_t *name, ngx_http_oci_idkey_t *k);
static ngx_uid_t ngx_http_oci_worker_user(ngx_cycle_t *cycle);


/*
 * Prepares a storage root, in the master (as root, at start and at every
 * reload), before the workers exist: the root (created root's, 0755, if
 * missing), _uploads/ and blobs/ (the worker user's, 0700), and the key
 * that signs upload ids.
 *
 * The worker user owns _uploads and blobs, and where an older version
 * handed it the root too, it could plant links there.  So the master
 * follows no link below the root: everything is reached with *at() calls
 * from the root's descriptor, directories are opened O_NOFOLLOW and
 * chowned through that descriptor, new files are O_EXCL.  A symlinked
 * _uploads or blobs refuses the configuration.
 */

ngx_int_t
ngx_http_oci_storage_init(ngx_cycle_t *cycle, ngx_http_oci_storage_t *st)
{
    ngx_int_t         rc;
    ngx_uid_t         user;
    ngx_uint_t        i;
    int               root;
    static char      *subs[] = { "_uploads", "blobs" };

    if (ngx_create_dir(st->root.data, 0755) == NGX_FILE_ERROR
        && ngx_errno != NGX_EEXIST)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_create_dir_n " \"%s\" failed", st->root.data);
        return NGX_ERROR;
    }

    /* the root itself is the operator's path: it may be a link of theirs */

    root = open((char *) st->root.data, O_RDONLY|O_DIRECTORY);
    if (root == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "oci registry: open \"%s\" failed", st->root.data);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    user = ngx_http_oci_worker_user(cycle);

    for (i = 0; i < sizeof(subs) / sizeof(char *); i++) {
        if (ngx_http_oci_storage_dir(cycle->log, root, &st->root, subs[i],
                                     user)
            != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    if (rc == NGX_OK) {
        ngx_http_oci_idkey_load(cycle->log, root, &st->root, st->idkey);
    }

    (void) close(root);

    return rc;
}


static ngx_int_t
ngx_http_oci_storage_dir(ngx_log_t *log, int root, ngx_str_t *name,
    char *sub, ngx_uid_t user)
{
    int              fd;
    ngx_file_info_t  fi;

    if (mkdirat(root, sub, 0700) == -1 && ngx_errno != NGX_EEXIST) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "oci registry: mkdir \"%V/%s\" failed", name, sub);
        return NGX_ERROR;
    }

    fd = openat(root, sub, O_RDONLY|O_DIRECTORY|O_NOFOLLOW);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "oci registry: \"%V/%s\" must be a directory, not a "
                      "symbolic link", name, sub);
        return NGX_ERROR;
    }

    if (user != (ngx_uid_t) NGX_CONF_UNSET_UINT && geteuid() == 0
        && ngx_fd_info(fd, &fi) != NGX_FILE_ERROR)
    {
        if (fi.st_uid != user && fchown(fd, user, -1) == -1) {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "oci registry: chown \"%V/%s\" failed", name, sub);
            (void) close(fd);
            return NGX_ERROR;
        }

        if ((fi.st_mode & S_IRWXU) != S_IRWXU
            && fchmod(fd, (fi.st_mode & 07777) | S_IRWXU) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "oci registry: chmod \"%V/%s\" failed", name, sub);
            (void) close(fd);
            return NGX_ERROR;
        }
    }

    (void) close(fd);

    return NGX_OK;
}


/*
 * Reads <root>/upload-id.key, creating it (32 random bytes, 0600) when it
 * is missing: written under a random name of its own (O_EXCL: nothing
 * planted there is followed) and linked into place, so that of two nodes
 * starting at once one key wins and both read it.  Without it, upload ids
 * are random and the POST records the upload in Redis.
 */

static void
ngx_http_oci_idkey_load(ngx_log_t *log, int root, ngx_str_t *name,
    ngx_http_oci_idkey_t *k)
{
    int                fd;
    u_char            *p, tmp[64], rnd[NGX_HTTP_OCI_IDKEY_LEN];
    ssize_t            n;
    ngx_err_t          err;
    const char        *failed;
    ngx_file_info_t    fi;
    static char        key[] = "upload-id.key";

    k->loaded = 0;

    fd = openat(root, key, O_RDONLY|O_NOFOLLOW);

    if (fd == -1 && ngx_errno == NGX_ENOENT) {
        failed = "RAND_bytes() for";
        err = 0;

        if (RAND_bytes(rnd, sizeof(rnd)) == 1) {
            p = ngx_cpymem(tmp, key, sizeof(key) - 1);
            *p++ = '.';
            p = ngx_hex_dump(p, rnd, 8);
            *p = '\0';

            failed = "create";
            fd = openat(root, (char *) tmp,
                        O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600);
            err = ngx_errno;
        }

        if (fd != -1) {
            failed = NULL;

            if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
                failed = "RAND_bytes() for";

            } else if (write(fd, rnd, sizeof(rnd)) != sizeof(rnd)) {
                failed = "write";

            } else if (fsync(fd) == -1) {
                failed = "fsync";
            }

            err = ngx_errno;
            (void) close(fd);

            if (failed == NULL
                && linkat(root, (char *) tmp, root, key, 0) == -1
                && ngx_errno != NGX_EEXIST)
            {
                err = ngx_errno;
                failed = "link";
            }

            (void) unlinkat(root, (char *) tmp, 0);
        }

        if (failed) {
            ngx_log_error(NGX_LOG_NOTICE, log, err,
                          "oci registry: %s \"%V/%s\" failed, upload ids are "
                          "not signed", failed, name, key);
            return;
        }

        fd = openat(root, key, O_RDONLY|O_NOFOLLOW);
    }

    if (fd == -1) {
        ngx_log_error(NGX_LOG_NOTICE, log, ngx_errno,
                      "oci registry: open \"%V/%s\" failed, upload ids are "
                      "not signed", name, key);
        return;
    }

    n = -1;
    err = 0;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR && ngx_is_file(&fi)) {
        n = read(fd, k->key, NGX_HTTP_OCI_IDKEY_LEN);
        err = ngx_errno;
    }

    (void) close(fd);

    if (n != NGX_HTTP_OCI_IDKEY_LEN) {
        ngx_log_error(NGX_LOG_NOTICE, log, n == -1 ? err : 0,
                      "oci registry: \"%V/%s\" is not a %d-byte key, upload "
                      "ids are not signed", name, key, NGX_HTTP_OCI_IDKEY_LEN);
        return;
    }

    k->loaded = 1;
}


/*
 * The workers' user.  This runs when the http block ends, before nginx
 * gives an unset "user" its default (ngx_core_module_init_conf(), once
 * the whole file is read), so that default is found the same way here:
 * a master started as root runs its workers as NGX_USER.  A "user"
 * directive must come before the http block, as in nginx's own
 * nginx.conf, to be seen here.
 */

static ngx_uid_t
ngx_http_oci_worker_user(ngx_cycle_t *cycle)
{
    struct passwd    *pwd;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT || geteuid() != 0) {
        return ccf->user;
    }

    ngx_set_errno(0);
    pwd = getpwnam(NGX_USER);

    if (pwd == NULL) {
        /* nginx itself will refuse to start: "getpwnam(...) failed" */
        return (ngx_uid_t) NGX_CONF_UNSET_UINT;
    }

    return pwd->pw_uid;
}
