
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <sys/file.h>

#include "ngx_http_oci_registry.h"
#include "ngx_http_oci_digest.h"


/* reads of a blob file being verified, in a thread */
#define NGX_HTTP_OCI_VERIFY_BUF  (256 * 1024)


/*
 * The file system side of blobs:
 *
 *     <root>/blobs/<algorithm>/<first two hex digits>/<hex>
 *     <root>/_uploads/<upload id>
 *
 * Paths are built only from validated digests and from upload ids we
 * generated and validated, never from other client input.
 */


ngx_int_t
ngx_http_oci_blob_path(ngx_pool_t *pool, ngx_str_t *root,
    ngx_http_oci_digest_t *d, ngx_str_t *path)
{
    u_char  *p;

    path->len = root->len + sizeof("/blobs///") - 1 + d->algorithm.len + 2
                + d->hex.len;

    path->data = ngx_pnalloc(pool, path->len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path->data, "%V/blobs/%V/%*s/%V", root, &d->algorithm,
                    (size_t) 2, d->hex.data, &d->hex);
    *p = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_http_oci_upload_path(ngx_pool_t *pool, ngx_str_t *root, ngx_str_t *id,
    ngx_str_t *path)
{
    u_char  *p;

    path->len = root->len + sizeof("/_uploads/") - 1 + id->len;

    path->data = ngx_pnalloc(pool, path->len + 1);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path->data, "%V/_uploads/%V", root, id);
    *p = '\0';

    return NGX_OK;
}


static u_char *ngx_http_oci_uuid_format(u_char *p, u_char *b);
static ngx_int_t ngx_http_oci_storage_dir(ngx_log_t *log, int root,
    ngx_str_t *name, char *sub, ngx_uid_t user);
static void ngx_http_oci_idkey_load(ngx_log_t *log, int root,
    ngx_str_t *name, ngx_http_oci_idkey_t *k);
static ngx_int_t ngx_http_oci_upload_id_mac(ngx_http_oci_idkey_t *k,
    ngx_str_t *base, u_char *b, u_char *mac);


/* a random (version 4) UUID: upload ids must not be guessable */

ngx_int_t
ngx_http_oci_upload_id(ngx_pool_t *pool, ngx_str_t *id)
{
    u_char  rnd[16];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    rnd[6] = (rnd[6] & 0x0f) | 0x40;
    rnd[8] = (rnd[8] & 0x3f) | 0x80;

    id->data = ngx_pnalloc(pool, NGX_HTTP_OCI_UPLOAD_ID_LEN);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    id->len = ngx_http_oci_uuid_format(id->data, rnd) - id->data;

    return NGX_OK;
}


/*
 * A signed upload id, shaped like a version 4 UUID: 4 bytes of issue
 * time, 6 random bytes (less the 6 bits of version and variant), and 6
 * bytes of HMAC-SHA256 over the repository's key base and the first 10
 * bytes.  A node that shares the key recognizes it as one we issued for
 * that repository without asking Redis, so the POST that starts an upload
 * needs no round trip: the upload's state is made by the first request
 * that writes to it.  42 random bits a second keep ids unguessable and
 * distinct; 48 bits of MAC make forging one hopeless.
 */

ngx_int_t
ngx_http_oci_upload_id_signed(ngx_pool_t *pool, ngx_http_oci_idkey_t *k,
    ngx_str_t *base, ngx_str_t *id)
{
    time_t  now;
    u_char  b[16];

    now = ngx_time();

    b[0] = (u_char) (now >> 24);
    b[1] = (u_char) (now >> 16);
    b[2] = (u_char) (now >> 8);
    b[3] = (u_char) now;

    if (RAND_bytes(b + 4, 6) != 1) {
        return NGX_ERROR;
    }

    /* still a version 4 UUID to whoever looks */

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    if (ngx_http_oci_upload_id_mac(k, base, b, b + 10) != NGX_OK) {
        return NGX_ERROR;
    }

    id->data = ngx_pnalloc(pool, NGX_HTTP_OCI_UPLOAD_ID_LEN);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    id->len = ngx_http_oci_uuid_format(id->data, b) - id->data;

    return NGX_OK;
}


/*
 * Is "id" (validated: 36 characters, lowercase hex and dashes) one we
 * signed for this repository less than "window" seconds ago?  Such an
 * upload exists even when Redis has no state for it yet.
 */

ngx_int_t
ngx_http_oci_upload_id_fresh(ngx_http_oci_idkey_t *k, ngx_str_t *base,
    ngx_str_t *id, time_t window)
{
    u_char      *p, b[16], mac[6];
    time_t       t;
    ngx_int_t    n;
    ngx_uint_t   i;

    if (k == NULL || !k->loaded || id->len != NGX_HTTP_OCI_UPLOAD_ID_LEN) {
        return 0;
    }

    p = id->data;

    for (i = 0; i < 16; i++) {
        if (*p == '-') {
            p++;
        }

        n = ngx_hextoi(p, 2);
        if (n == NGX_ERROR) {
            return 0;
        }

        b[i] = (u_char) n;
        p += 2;
    }

    if (ngx_http_oci_upload_id_mac(k, base, b, mac) != NGX_OK
        || CRYPTO_memcmp(mac, b + 10, 6) != 0)
    {
        return 0;
    }

    t = ((time_t) b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];

    /* a minute of clock skew between nodes is tolerated */

    return t <= ngx_time() + 60 && ngx_time() - t <= window;
}


static ngx_int_t
ngx_http_oci_upload_id_mac(ngx_http_oci_idkey_t *k, ngx_str_t *base,
    u_char *b, u_char *mac)
{
    u_char        md[EVP_MAX_MD_SIZE], buf[NGX_HTTP_OCI_KEY_MAX + 10];
    unsigned int  len;

    if (base->len > NGX_HTTP_OCI_KEY_MAX) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(buf, base->data, base->len), b, 10);

    if (HMAC(EVP_sha256(), k->key, NGX_HTTP_OCI_IDKEY_LEN, buf,
             base->len + 10, md, &len)
        == NULL)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(mac, md, 6);

    return NGX_OK;
}


static u_char *
ngx_http_oci_uuid_format(u_char *p, u_char *b)
{
    p = ngx_hex_dump(p, b, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 8, 2);
    *p++ = '-';

    return ngx_hex_dump(p, b + 10, 6);
}


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
    ngx_uint_t        i;
    ngx_core_conf_t  *ccf;
    int               root;
    static char      *subs[] = { "_uploads", "blobs" };

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

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

    for (i = 0; i < sizeof(subs) / sizeof(char *); i++) {
        if (ngx_http_oci_storage_dir(cycle->log, root, &st->root, subs[i],
                                     ccf->user)
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
 * Who this process is, for the upload locks it takes: "<boot id>.<pid
 * namespace>", then the lock token adds the pid.  Two lock holders with
 * the same identity see the same process table, so one can tell with
 * kill(pid, 0) that the other died and take its lock over at once.  A
 * host name cannot tell that: two containers with host networking share
 * it but not their pids, and a pid that does not exist in one namespace
 * may be a live writer in the other.  Without /proc the identity is
 * random: no holder is ever judged dead, locks only expire.
 */

ngx_int_t
ngx_http_oci_process_identity(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *id)
{
    u_char      *p, *q, boot[64], ns[64], rnd[16];
    ssize_t      n, k;
    ngx_fd_t     fd;

    id->data = ngx_pnalloc(pool, sizeof(boot) + sizeof(ns) + 1);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    n = -1;
    k = -1;

    fd = ngx_open_file("/proc/sys/kernel/random/boot_id", NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, boot, sizeof(boot) - 1);
        (void) ngx_close_file(fd);
    }

    /* "pid:[4026531836]" */
    k = readlink("/proc/self/ns/pid", (char *) ns, sizeof(ns) - 1);

    while (n > 0 && (boot[n - 1] == '\n' || boot[n - 1] == ' ')) {
        n--;
    }

    if (n > 0 && k > 6 && ngx_strncmp(ns, "pid:[", 5) == 0
        && ns[k - 1] == ']')
    {
        p = ngx_cpymem(id->data, boot, n);
        *p++ = '.';

        for (q = ns + 5; q < ns + k - 1; q++) {
            if (*q < '0' || *q > '9') {
                goto random;
            }

            *p++ = *q;
        }

        for (q = id->data; q < id->data + n; q++) {
            if (*q == ':') {
                goto random;
            }
        }

        id->len = p - id->data;

        return NGX_OK;
    }

random:

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "oci registry: no boot id or pid namespace in /proc: "
                  "locks of dead upload writers expire instead of being "
                  "taken over");

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(id->data, "random.", 7);
    id->len = ngx_hex_dump(p, rnd, sizeof(rnd)) - id->data;

    return NGX_OK;
}


/*
 * Opens the file of an upload for writing at "offset" and locks it
 * (flock); whatever lies beyond the offset is the remains of an
 * interrupted chunk and is cut off.  The
 * first chunk creates the file.  Later chunks must find it with at least
 * "offset" bytes: a file that vanished (expired, storage wiped) must not
 * be silently recreated with a hole where acknowledged bytes were.
 * Returns NGX_INVALID_FILE with errno set; ENOENT means the upload is lost,
 * EAGAIN that another writer holds the file.
 */

ngx_fd_t
ngx_http_oci_upload_open(ngx_log_t *log, ngx_str_t *path, off_t offset)
{
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_file_info_t  fi;

    if (offset > 0) {
        fd = ngx_open_file(path->data, NGX_FILE_WRONLY, NGX_FILE_OPEN, 0);

    } else {
        fd = ngx_open_file(path->data, NGX_FILE_WRONLY,
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


/*
 * Removes upload files nobody wrote to for longer than the upload TTL:
 * their Redis state has expired by then (each chunk renews both).  Only
 * names of an upload id's length, not followed if they are links.  System
 * calls only, no nginx API and no logging: it runs in a thread pool task
 * where there is one (a directory of millions of files must not stall a
 * worker's clients), and sw->now is the caller's clock.
 */

void
ngx_http_oci_sweep_run(ngx_http_oci_sweep_t *sw)
{
    DIR            *dir;
    struct stat     st;
    struct dirent  *de;

    sw->removed = 0;
    sw->err = 0;
    sw->failed = NULL;

    dir = opendir((char *) sw->dir);
    if (dir == NULL) {
        if (errno != ENOENT) {
            sw->err = errno;
            sw->failed = "opendir()";
        }

        return;
    }

    for ( ;; ) {
        errno = 0;

        de = readdir(dir);
        if (de == NULL) {
            break;
        }

        if (ngx_strlen(de->d_name) != NGX_HTTP_OCI_UPLOAD_ID_LEN) {
            continue;
        }

        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1
            || sw->now - st.st_mtime <= sw->ttl)
        {
            continue;
        }

        if (unlinkat(dirfd(dir), de->d_name, 0) == -1) {
            if (sw->err == 0) {
                sw->err = errno;
                sw->failed = "unlink()";
            }

            continue;
        }

        sw->removed++;
    }

    (void) closedir(dir);
}


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
 * System calls and libcrypto only, no nginx API and no logging: it also
 * runs in a thread pool task.  c->err is 0, or the errno of the step
 * named by c->failed.
 */

void
ngx_http_oci_blob_commit(ngx_http_oci_commit_t *c)
{
    u_char           *slash, *p, tmp[NGX_MAX_PATH];
    size_t            len;
    off_t             hole;
    ngx_fd_t          dir;
    ngx_err_t         err;
    ngx_file_info_t   fi;

    c->err = 0;
    c->replaced = 0;
    c->corrupt = 0;

    if (c->anonymous && c->leftover) {
        (void) ngx_delete_file(c->upload);
    }

    if (ngx_fd_info(c->fd, &fi) == NGX_FILE_ERROR) {
        c->failed = "fstat() of the upload";
        c->err = ngx_errno;
        return;
    }

    hole = lseek(c->fd, 0, SEEK_HOLE);

    if (ngx_file_size(&fi) != c->size || (hole != -1 && hole < c->size)) {
        c->corrupt = 1;
        c->failed = "the size or a hole of the upload";
        c->err = EIO;

        if (!c->anonymous) {
            (void) ngx_delete_file(c->upload);
        }

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

    /* create the missing directories of blobs/<alg>/<xx>/ */

    slash = (u_char *) strrchr((char *) c->blob, '/');
    *slash = '\0';

    err = 0;

    if (ngx_create_dir(c->blob, 0755) == NGX_FILE_ERROR
        && ngx_errno != NGX_EEXIST)
    {
        p = (u_char *) strrchr((char *) c->blob, '/');
        *p = '\0';

        if (ngx_create_dir(c->blob, 0755) == NGX_FILE_ERROR
            && ngx_errno != NGX_EEXIST)
        {
            err = ngx_errno;
        }

        *p = '/';

        if (err == 0 && ngx_create_dir(c->blob, 0755) == NGX_FILE_ERROR
            && ngx_errno != NGX_EEXIST)
        {
            err = ngx_errno;
        }
    }

    *slash = '/';

    if (err) {
        c->failed = "mkdir() of the blob directory";
        c->err = err;
        return;
    }

    if (c->anonymous && !c->replaced) {
        err = ngx_http_oci_spare_link(c->fd, c->blob);

        if (err == NGX_EEXIST) {
            /* committed meanwhile by someone else: good bytes, or ours */

            if (ngx_http_oci_blob_verify(c->blob, c->alg, c->hex, c->size)
                == NGX_OK)
            {
                return;
            }

            c->replaced = 1;
            err = 0;

        } else if (err) {
            c->failed = "linkat() of the upload";
            c->err = err;
            return;
        }
    }

    if (c->anonymous && c->replaced) {

        /*
         * a name of its own, of an upload id's length (so the sweeper
         * removes it after a crash), no issued id's (no version 4 digit)
         */

        len = ngx_strlen(c->upload);
        if (len + 1 > sizeof(tmp) || len < NGX_HTTP_OCI_UPLOAD_ID_LEN) {
            c->failed = "naming the replacement of the blob";
            c->err = ENAMETOOLONG;
            return;
        }

        ngx_memcpy(tmp, c->upload, len + 1);
        tmp[len - NGX_HTTP_OCI_UPLOAD_ID_LEN + 14] = 'x';

        (void) ngx_delete_file(tmp);

        err = ngx_http_oci_spare_link(c->fd, tmp);
        if (err) {
            c->failed = "linkat() of the upload";
            c->err = err;
            return;
        }

        if (ngx_rename_file(tmp, c->blob) == NGX_FILE_ERROR) {
            c->failed = "rename() of the upload";
            c->err = ngx_errno;
            (void) ngx_delete_file(tmp);
            return;
        }

    } else if (!c->anonymous
               && ngx_rename_file(c->upload, c->blob) == NGX_FILE_ERROR)
    {
        c->failed = "rename() of the upload";
        c->err = ngx_errno;
        return;
    }

    if (!c->durable) {
        return;
    }

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
 * System calls and libcrypto only (thread pool).
 */

ngx_int_t
ngx_http_oci_blob_verify(u_char *path, ngx_uint_t alg, u_char *hex,
    off_t size)
{
    u_char           *buf, md[EVP_MAX_MD_SIZE], text[EVP_MAX_MD_SIZE * 2];
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    EVP_MD_CTX       *md_ctx;
    unsigned int      mdlen;
    ngx_file_info_t   fi;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    buf = NULL;
    md_ctx = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) != size)
    {
        goto done;
    }

    buf = malloc(NGX_HTTP_OCI_VERIFY_BUF);
    md_ctx = EVP_MD_CTX_new();

    if (buf == NULL || md_ctx == NULL
        || EVP_DigestInit_ex(md_ctx, alg == NGX_HTTP_OCI_SHA512
                                     ? EVP_sha512() : EVP_sha256(), NULL)
           != 1)
    {
        goto done;
    }

    for ( ;; ) {
        n = read(fd, buf, NGX_HTTP_OCI_VERIFY_BUF);

        if (n == -1 && ngx_errno == NGX_EINTR) {
            continue;
        }

        if (n <= 0) {
            break;
        }

        if (EVP_DigestUpdate(md_ctx, buf, n) != 1) {
            goto done;
        }
    }

    if (n == 0 && EVP_DigestFinal_ex(md_ctx, md, &mdlen) == 1) {
        ngx_hex_dump(text, md, mdlen);

        if (ngx_strncmp(text, hex, 2 * mdlen) == 0) {
            rc = NGX_OK;
        }
    }

done:

    EVP_MD_CTX_free(md_ctx);
    free(buf);
    (void) ngx_close_file(fd);

    return rc;
}


/*
 * Spare upload files.  Creating a file means allocating an inode, and on
 * a file system with much churn that is slow: on ext4 without a journal
 * the allocator walks past every recently deleted inode of the group,
 * and perf showed creates of 0.1-0.5 ms on our benchmark machine, more
 * than the two fsync()s of a small push together.  So each worker keeps
 * a few anonymous files (O_TMPFILE) open in _uploads, made by a thread
 * pool task, and an upload that starts and ends in one request (POST with
 * ?digest=, or PUT at offset 0) writes into one and links it into place
 * once verified.  Such a file has no name before the link, so a crash
 * leaves nothing behind.  Without O_TMPFILE, without a thread pool, or
 * when the spares run out, uploads create their named file as before.
 */

#if (NGX_LINUX && defined O_TMPFILE)
#define NGX_HTTP_OCI_HAVE_SPARES  1
#endif


ngx_http_oci_spares_t *
ngx_http_oci_spares_create(ngx_pool_t *pool, ngx_str_t *root)
{
    u_char                 *p;
    ngx_http_oci_spares_t  *sp;

    sp = ngx_pcalloc(pool, sizeof(ngx_http_oci_spares_t));
    if (sp == NULL) {
        return NULL;
    }

    sp->dir = ngx_pnalloc(pool, root->len + sizeof("/_uploads"));
    if (sp->dir == NULL) {
        return NULL;
    }

    p = ngx_sprintf(sp->dir, "%V/_uploads", root);
    *p = '\0';

#if !(NGX_HTTP_OCI_HAVE_SPARES)
    sp->off = 1;
#endif

    return sp;
}


#if (NGX_THREADS)

typedef struct {
    u_char                 *dir;
    ngx_fd_t                fd[NGX_HTTP_OCI_SPARES];
    ngx_uint_t              want;
    ngx_uint_t              n;
    ngx_err_t               err;
    ngx_err_t               link_err;
    ngx_flag_t              probe;       /* try a link first */
} ngx_http_oci_refill_t;


static void ngx_http_oci_spares_refill(void *data, ngx_log_t *log);
static void ngx_http_oci_spares_refilled(ngx_event_t *ev);


/*
 * A spare file, or NGX_INVALID_FILE: the caller then creates a named
 * file.  Below half full, a refill is posted to the thread pool.
 */

ngx_fd_t
ngx_http_oci_spare_take(ngx_http_oci_spares_t *sp, ngx_thread_pool_t *tp,
    ngx_log_t *log)
{
    ngx_fd_t                fd;
    ngx_http_oci_refill_t  *rf;

    fd = NGX_INVALID_FILE;

    if (sp == NULL || sp->off) {
        return fd;
    }

    if (sp->n) {
        fd = sp->fd[--sp->n];
    }

    if (sp->busy || tp == NULL || sp->n > NGX_HTTP_OCI_SPARES / 2
        || ngx_time() < sp->retry)
    {
        return fd;
    }

    if (sp->task == NULL) {
        /* one task per worker and storage, reused for its whole life */
        sp->task = ngx_thread_task_alloc(ngx_cycle->pool,
                                         sizeof(ngx_http_oci_refill_t));
        if (sp->task == NULL) {
            return fd;
        }

        sp->task->handler = ngx_http_oci_spares_refill;
        sp->task->event.handler = ngx_http_oci_spares_refilled;
        sp->task->event.data = sp;
    }

    rf = sp->task->ctx;
    rf->dir = sp->dir;
    rf->want = NGX_HTTP_OCI_SPARES - sp->n;
    rf->n = 0;
    rf->err = 0;
    rf->link_err = 0;
    rf->probe = !sp->linked;

    sp->task->event.log = ngx_cycle->log;

    if (ngx_thread_task_post(tp, sp->task) == NGX_OK) {
        sp->busy = 1;

    } else {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "oci registry: could not post the refill of spare "
                      "upload files");
    }

    return fd;
}


/* in the thread: system calls only */

static void
ngx_http_oci_spares_refill(void *data, ngx_log_t *log)
{
#if (NGX_HTTP_OCI_HAVE_SPARES)
    ngx_http_oci_refill_t  *rf = data;

    u_char    *p, probe[NGX_MAX_PATH];
    ngx_fd_t   fd;

    if (rf->probe) {
        /*
         * Whether a spare can be given a name at all (no /proc and no
         * CAP_DAC_READ_SEARCH, or a security module, say no): better
         * learn it here than fail a push.  The probe's name has an
         * upload id's length, so a crash before the unlink leaves a file
         * the sweeper removes.
         */

        fd = open((char *) rf->dir, O_TMPFILE|O_WRONLY,
                  NGX_FILE_DEFAULT_ACCESS);

        if (fd == -1) {
            rf->err = ngx_errno;
            return;
        }

        p = ngx_snprintf(probe, NGX_MAX_PATH - 1, "%s/spare-probe-%024P",
                         rf->dir, ngx_pid);
        *p = '\0';

        rf->link_err = ngx_http_oci_spare_link(fd, probe);

        (void) ngx_delete_file(probe);
        (void) ngx_close_file(fd);

        if (rf->link_err) {
            return;
        }
    }

    while (rf->n < rf->want) {
        fd = open((char *) rf->dir, O_TMPFILE|O_WRONLY,
                  NGX_FILE_DEFAULT_ACCESS);

        if (fd == -1) {
            rf->err = ngx_errno;
            return;
        }

        rf->fd[rf->n++] = fd;
    }
#endif
}


static void
ngx_http_oci_spares_refilled(ngx_event_t *ev)
{
    ngx_http_oci_spares_t  *sp = ev->data;

    ngx_uint_t              i;
    ngx_thread_task_t      *task;
    ngx_http_oci_refill_t  *rf;

    task = (ngx_thread_task_t *) ((u_char *) ev
                                  - offsetof(ngx_thread_task_t, event));
    rf = task->ctx;

    sp->busy = 0;

    if (rf->link_err) {
        sp->off = 1;
        ngx_log_error(NGX_LOG_NOTICE, ev->log, rf->link_err,
                      "oci registry: anonymous files in \"%s\" cannot be "
                      "linked, uploads create named files", sp->dir);
        return;
    }

    if (rf->probe && rf->err == 0) {
        sp->linked = 1;
    }

    for (i = 0; i < rf->n; i++) {
        if (sp->n < NGX_HTTP_OCI_SPARES) {
            sp->fd[sp->n++] = rf->fd[i];

        } else {
            (void) ngx_close_file(rf->fd[i]);
        }
    }

    if (rf->err == 0) {
        return;
    }

    if (rf->err == NGX_EOPNOTSUPP || rf->err == EISDIR
        || rf->err == NGX_EINVAL)
    {
        /* the file system (or kernel) has no O_TMPFILE: stop trying */
        sp->off = 1;
        ngx_log_error(NGX_LOG_NOTICE, ev->log, rf->err,
                      "oci registry: no anonymous files in \"%s\", uploads "
                      "create named files", sp->dir);
        return;
    }

    /* out of space or descriptors, say: named files meanwhile */

    sp->retry = ngx_time() + 1;

    ngx_log_error(NGX_LOG_ERR, ev->log, rf->err,
                  "oci registry: open(O_TMPFILE) in \"%s\" failed", sp->dir);
}

#endif /* NGX_THREADS */


/*
 * Gives a spare its name.  Through /proc/self/fd (any user may); without
 * /proc, AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH).  Returns 0 or errno.
 */

ngx_err_t
ngx_http_oci_spare_link(ngx_fd_t fd, u_char *name)
{
#if (NGX_HTTP_OCI_HAVE_SPARES)
    u_char  proc[sizeof("/proc/self/fd/") + NGX_INT_T_LEN];

    (void) ngx_sprintf(proc, "/proc/self/fd/%d%Z", fd);

    if (linkat(AT_FDCWD, (char *) proc, AT_FDCWD, (char *) name,
               AT_SYMLINK_FOLLOW)
        == 0)
    {
        return 0;
    }

    if (ngx_errno != NGX_ENOENT) {
        return ngx_errno;
    }

    if (linkat(fd, "", AT_FDCWD, (char *) name, AT_EMPTY_PATH) == 0) {
        return 0;
    }

    return ngx_errno;
#else
    return NGX_ENOSYS;
#endif
}
