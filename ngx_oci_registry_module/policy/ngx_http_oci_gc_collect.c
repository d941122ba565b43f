
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_gc.h"


/*
 * A step's files (policy/ngx_http_oci_gc_sched.c): the candidates of a
 * walked directory are checked against their records (GC_CHECK); the
 * files to collect go to their trash names, GC_CONFIRM says for each
 * whether it is still unlinked (delete) or was linked meanwhile (back
 * in place), and the trash is finished.  A lost lease or reply leaves
 * the trash for a later walk of the directory, which finishes it.
 */


static void ngx_http_oci_gc_check(ngx_http_oci_gc_t *s);
static void ngx_http_oci_gc_checked(void *data, redisReply *reply);
static void ngx_http_oci_gc_confirm(ngx_http_oci_gc_t *s);
static ngx_int_t ngx_http_oci_gc_batch(ngx_http_oci_gc_t *s,
    ngx_http_oci_args_t *a, ngx_uint_t *n);
static void ngx_http_oci_gc_confirmed(void *data, redisReply *reply);
static ngx_int_t ngx_http_oci_gc_flags(ngx_http_oci_gc_t *s,
    redisReply *reply, ngx_uint_t confirm);
static void ngx_http_oci_gc_finished(ngx_http_oci_gc_t *s);


/* the digests of a reply, from element "from" on, as files to collect */

ngx_int_t
ngx_http_oci_gc_files(ngx_http_oci_gc_t *s, redisReply *reply,
    ngx_uint_t from)
{
    ngx_uint_t               i;
    redisReply              *e;
    ngx_http_oci_gc_file_t  *f;

    if (ngx_array_init(&s->fs.files, s->pool, reply->elements,
                       sizeof(ngx_http_oci_gc_file_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = from; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }

        f = ngx_array_push(&s->fs.files);
        if (f == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(f, sizeof(ngx_http_oci_gc_file_t));

        f->digest.data = ngx_pnalloc(s->pool, e->len);
        if (f->digest.data == NULL) {
            return NGX_ERROR;
        }

        f->digest.len = ngx_cpymem(f->digest.data, e->str, e->len)
                        - f->digest.data;
        f->collect = 1;
    }

    return NGX_OK;
}


/* a directory walked: its candidates are checked, its trash finished */

void
ngx_http_oci_gc_walked(ngx_http_oci_gc_t *s)
{
    ngx_uint_t               i;
    ngx_http_oci_gc_file_t  *f;

    f = s->fs.files.elts;

    for (i = 0; i < s->fs.files.nelts; i++) {
        /* trash files are confirmed as they are: their check is then */
        f[i].collect = f[i].trashed;
    }

    s->next = 0;
    ngx_http_oci_gc_check(s);
}


static void
ngx_http_oci_gc_check(ngx_http_oci_gc_t *s)
{
    ngx_uint_t               i, n;
    ngx_http_oci_args_t      a;
    ngx_http_oci_gc_file_t  *f;

    f = s->fs.files.elts;

    while (s->next < s->fs.files.nelts && f[s->next].trashed) {
        s->next++;
    }

    if (s->next == s->fs.files.nelts) {
        if (s->dry) {
            ngx_http_oci_gc_measured(s);
            return;
        }

        ngx_http_oci_gc_trash(s);
        return;
    }

    if (ngx_http_oci_args_init(&a, s->pool, 2 + 2 * NGX_HTTP_OCI_GC_BATCH)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    ngx_http_oci_gc_key(&a, s->conf, "lease");
    n = 0;

    for (i = s->next; i < s->fs.files.nelts && n < NGX_HTTP_OCI_GC_BATCH;
         i++)
    {
        if (!f[i].trashed) {
            ngx_http_oci_args_key(&a, &s->conf->global, "blob:",
                                  &f[i].digest);
            n++;
        }
    }

    ngx_http_oci_args_str(&a, &s->holder);

    if (ngx_http_oci_redis_call_script(s->conf->redis,
                                       ngx_http_oci_gc_checked, s,
                                       NGX_HTTP_OCI_SCRIPT_GC_CHECK, 1 + n,
                                       &a)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
    }
}


static void
ngx_http_oci_gc_checked(void *data, redisReply *reply)
{
    ngx_http_oci_gc_t  *s = data;

    if (ngx_http_oci_gc_flags(s, reply, 0) != NGX_OK) {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    ngx_http_oci_gc_check(s);
}


/*
 * A GC_CHECK or GC_CONFIRM reply: one flag per file of the batch from
 * s->next on (the files not yet trashed for a check, the files to collect
 * for a confirmation), into "collect" or "remove"; s->next moves past
 * them.  NGX_ERROR for no answer or LOCK_LOST: the caller stops the step,
 * and trash left is finished by a later walk of its directory.
 */

static ngx_int_t
ngx_http_oci_gc_flags(ngx_http_oci_gc_t *s, redisReply *reply,
    ngx_uint_t confirm)
{
    size_t                   j;
    ngx_http_oci_gc_file_t  *f;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    f = s->fs.files.elts;
    j = 0;

    for ( /* void */ ; s->next < s->fs.files.nelts && j < reply->len;
         s->next++)
    {
        if (confirm && f[s->next].collect) {
            f[s->next].remove = (reply->str[j++] == 'd');

        } else if (!confirm && !f[s->next].trashed) {
            f[s->next].collect = (reply->str[j++] == '1');
        }
    }

    return NGX_OK;
}


void
ngx_http_oci_gc_trash(ngx_http_oci_gc_t *s)
{
    s->next = 0;
    ngx_http_oci_gc_fs(s, NGX_HTTP_OCI_GC_TRASH, ngx_http_oci_gc_confirm);
}


/* in batches: the files moved to trash, and orphans that were not found */

static void
ngx_http_oci_gc_confirm(ngx_http_oci_gc_t *s)
{
    ngx_uint_t           n;
    ngx_http_oci_args_t  a;

    if (s->next >= s->fs.files.nelts) {
        ngx_http_oci_gc_fs(s, NGX_HTTP_OCI_GC_FINISH,
                           ngx_http_oci_gc_finished);
        return;
    }

    if (ngx_http_oci_args_init(&a, s->pool, 3 + 2 * NGX_HTTP_OCI_GC_BATCH)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    if (ngx_http_oci_gc_batch(s, &a, &n) != NGX_OK) {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    if (n == 0) {
        /* none of the rest is to be collected */
        s->next = s->fs.files.nelts;
        ngx_http_oci_gc_confirm(s);
        return;
    }

    if (ngx_http_oci_redis_call_script(s->conf->redis,
                                       ngx_http_oci_gc_confirmed, s,
                                       NGX_HTTP_OCI_SCRIPT_GC_CONFIRM, 2 + n,
                                       &a)
        != NGX_OK)
    {
        ngx_http_oci_gc_end(s, s->tick);
    }
}


/*
 * The arguments of GC_CONFIRM for the files from s->next on that are to
 * be collected: the keys, then the holder and the digests
 */

static ngx_int_t
ngx_http_oci_gc_batch(ngx_http_oci_gc_t *s, ngx_http_oci_args_t *a,
    ngx_uint_t *n)
{
    ngx_uint_t               i, last;
    ngx_http_oci_gc_file_t  *f;

    f = s->fs.files.elts;
    *n = 0;

    ngx_http_oci_gc_key(a, s->conf, "lease");
    ngx_http_oci_gc_key(a, s->conf, "orphans");

    for (i = s->next; i < s->fs.files.nelts && *n < NGX_HTTP_OCI_GC_BATCH;
         i++)
    {
        if (f[i].collect) {
            ngx_http_oci_args_key(a, &s->conf->global, "blob:",
                                  &f[i].digest);
            (*n)++;
        }
    }

    last = i;

    ngx_http_oci_args_str(a, &s->holder);

    for (i = s->next; i < last; i++) {
        if (f[i].collect) {
            ngx_http_oci_args_str(a, &f[i].digest);
        }
    }

    return a->failed ? NGX_ERROR : NGX_OK;
}


static void
ngx_http_oci_gc_confirmed(void *data, redisReply *reply)
{
    ngx_http_oci_gc_t  *s = data;

    if (ngx_http_oci_gc_flags(s, reply, 1) != NGX_OK) {
        ngx_http_oci_gc_end(s, s->tick);
        return;
    }

    ngx_http_oci_gc_confirm(s);
}


static void
ngx_http_oci_gc_finished(ngx_http_oci_gc_t *s)
{
    ngx_uint_t               i;
    ngx_http_oci_gc_file_t  *f;

    f = s->fs.files.elts;

    for (i = 0; i < s->fs.files.nelts; i++) {
        if (f[i].restored) {
            ngx_log_error(NGX_LOG_INFO, s->log, 0,
                          "oci registry: garbage collection: %V was linked "
                          "while it was collected: kept", &f[i].digest);
        }
    }

    s->freed += s->fs.freed;
    s->freed_bytes += s->fs.freed_bytes;

    if (s->walk) {
        s->finished_len = ngx_sprintf(s->finished, "walked:%ui", s->fs.dir)
                          - s->finished;
    }

    ngx_http_oci_gc_end(s, 1);
}


/* a dry run: what would be freed */

void
ngx_http_oci_gc_measured(ngx_http_oci_gc_t *s)
{
    ngx_uint_t               i;
    ngx_http_oci_gc_file_t  *f;

    f = s->fs.files.elts;

    for (i = 0; i < s->fs.files.nelts; i++) {
        if (f[i].collect && f[i].found) {
            s->freed++;
            s->freed_bytes += f[i].size;
        }
    }

    if (s->walk) {
        s->finished_len = ngx_sprintf(s->finished, "walked:%ui", s->fs.dir)
                          - s->finished;
    }

    ngx_http_oci_gc_end(s, 1);
}
