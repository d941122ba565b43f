
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_store.h"


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

        fd = open((char *) rf->dir, O_TMPFILE|O_RDWR,
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
        fd = open((char *) rf->dir, O_TMPFILE|O_RDWR,
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
