
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_oci_uploads.h"
#include "ngx_http_oci_reply.h"
#include "ngx_http_oci_redis_keys.h"


/*
 * One writer per upload: a chunk takes a lock in Redis (SET PX in the
 * script that reads the upload's state), and the upload file's flock()
 * (ngx_http_oci_upload_open()).  The lock lasts 5 minutes and is renewed
 * every minute while the request holds it, so a slow multi-gigabyte
 * chunk never loses it while the lock of a dead writer still expires.
 */


#define NGX_HTTP_OCI_LOCK_TTL      "300000"
#define NGX_HTTP_OCI_LOCK_RENEW    60000
#define NGX_HTTP_OCI_TOKEN_LEN     (NGX_MAXHOSTNAMELEN + 64)


static void ngx_http_oci_upload_renew(ngx_event_t *ev);


/*
 * Who this process is, for the upload locks it takes: "<boot id>.<pid
 * namespace>", then the lock token adds the pid.  Two lock holders with
 * the same identity see the same process table, so one can tell with
 * kill(pid, 0) that the other died and take its lock over at once.  A
 * host name cannot tell that: two containers with host networking share
 * it but not their pids, and a pid that does not exist in one namespace
 * may be a live writer in the other.  Without /proc the identity is
 * random: no holder is ever judged dead, locks only expire.  Made once
 * per worker, in init_process.
 */

ngx_int_t
ngx_http_oci_process_identity(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *id)
{
    u_char    *p, *q, boot[64], ns[64], rnd[16];
    ssize_t    n, k;
    ngx_fd_t   fd;

    id->data = ngx_pnalloc(pool, sizeof(boot) + sizeof(ns) + 1);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    n = -1;

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

    if (n <= 0 || k <= 6 || ngx_strncmp(ns, "pid:[", 5) != 0
        || ns[k - 1] != ']'
        || ngx_strlchr(boot, boot + n, ':') != NULL)
    {
        goto random;
    }

    p = ngx_cpymem(id->data, boot, n);
    *p++ = '.';

    for (q = ns + 5; q < ns + k - 1; q++) {
        if (*q < '0' || *q > '9') {
            goto random;
        }

        *p++ = *q;
    }

    id->len = p - id->data;

    return NGX_OK;

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


ngx_int_t
ngx_http_oci_upload_token(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    u_char                    *p;
    ngx_http_oci_main_conf_t  *omcf;

    p = ngx_pnalloc(r->pool, NGX_HTTP_OCI_TOKEN_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /*
     * The lock token only has to be unique (the upload id is the secret);
     * "<identity>:<pid>:..." also lets a later request of a process that
     * sees the same process table (see ngx_http_oci_process_identity())
     * tell that the holder died (kill -9) and take the lock over
     */

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_registry_module);

    up->token.data = p;
    up->token.len = ngx_snprintf(p, NGX_HTTP_OCI_TOKEN_LEN, "%V:%P:%M:%ui",
                                 &omcf->identity, ngx_pid,
                                 ngx_current_msec, r->connection->number)
                    - p;

    ngx_str_null(&up->stale);

    return NGX_OK;
}


/*
 * NGX_OK: the script is on its way (ngx_http_oci_upload_locked() runs),
 * else NGX_ERROR
 */

ngx_int_t
ngx_http_oci_upload_lock(ngx_http_request_t *r, ngx_http_oci_upload_t *up)
{
    size_t                    ulens[5];
    const char               *uargv[5];
    ngx_http_oci_ctx_t       *ctx;
    ngx_http_oci_args_t       a, undo;
    ngx_http_oci_loc_conf_t  *conf;
    u_char                    key[NGX_HTTP_OCI_KEY_MAX];

    ctx = up->ctx;
    conf = ctx->conf;

    if (ngx_http_oci_args_init(&a, r->pool, 8) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &ctx->base);
    ngx_http_oci_args_str(&a, &up->id);
    ngx_http_oci_args_str(&a, &up->token);
    ngx_http_oci_args_lit(&a, NGX_HTTP_OCI_LOCK_TTL);
    ngx_http_oci_args_str(&a, &up->stale);
    ngx_http_oci_args_flag(&a, up->fresh);
    ngx_http_oci_args_str(&a, &conf->upload_ttl_text);
    ngx_http_oci_args_str(&a, &conf->uploads_max_text);

    /* a lost reply may hide a lock taken: released after the reconnect */

    ngx_http_oci_upload_unlock_args(up, &undo, uargv, ulens, key);

    return ngx_http_oci_redis_script_undo(r, conf->redis,
                                          ngx_http_oci_upload_locked,
                                          NGX_HTTP_OCI_SCRIPT_UPLOAD_LOCK, 1,
                                          &a, &undo);
}


/*
 * Is the lock holder a process of our process table (same boot, same pid
 * namespace) that no longer exists (its worker was killed mid-chunk)?
 * Then its lock may be taken over at once instead of after the lock's
 * TTL.  A holder of another host or namespace is never judged.
 */

ngx_int_t
ngx_http_oci_holder_dead(ngx_str_t *identity, ngx_str_t *holder)
{
    u_char     *p, *colon, *last;
    ngx_int_t   pid;

    last = holder->data + holder->len;

    if (identity->len == 0
        || holder->len <= identity->len + 1
        || ngx_strncmp(holder->data, identity->data, identity->len) != 0
        || holder->data[identity->len] != ':')
    {
        return NGX_DECLINED;
    }

    p = holder->data + identity->len + 1;
    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }

    pid = ngx_atoi(p, colon - p);

    if (pid == NGX_ERROR || pid <= 0 || (ngx_pid_t) pid == ngx_pid) {
        return NGX_DECLINED;
    }

    if (kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_oci_lease_dead(ngx_str_t *identity, redisReply *reply,
    ngx_str_t *stale)
{
    ngx_str_t  holder;

    if (ngx_http_oci_script_reply(reply) != NGX_HTTP_OCI_R_LOCKED
        || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[1]->len > NGX_HTTP_OCI_HOLDER_MAX)
    {
        return NGX_DECLINED;
    }

    holder.data = (u_char *) reply->element[1]->str;
    holder.len = reply->element[1]->len;

    if (ngx_http_oci_holder_dead(identity, &holder) != NGX_OK) {
        return NGX_DECLINED;
    }

    stale->len = ngx_cpymem(stale->data, holder.data, holder.len)
                 - stale->data;

    return NGX_OK;
}


/*
 * The replies the lock's and the eager close's scripts share: "UNKNOWN"
 * (404) and {"LOCKED", holder}: another request is writing the upload
 * right now (416), or was, in a process of ours that died, whose lock is
 * then taken over at once by running "again" with up->stale set.
 * NGX_DONE when the reply was one of those and has been dealt with, else
 * NGX_DECLINED.
 */

ngx_int_t
ngx_http_oci_upload_held(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    redisReply *reply,
    ngx_int_t (*again)(ngx_http_request_t *r, ngx_http_oci_upload_t *up))
{
    ngx_str_t                  holder;
    ngx_http_oci_reply_e       code;
    ngx_http_oci_main_conf_t  *omcf;

    code = ngx_http_oci_script_reply(reply);

    if (code == NGX_HTTP_OCI_R_UNKNOWN) {
        ngx_http_oci_finalize_error(r, NGX_HTTP_NOT_FOUND,
                                    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
                                    &up->id);
        return NGX_DONE;
    }

    if (code != NGX_HTTP_OCI_R_LOCKED || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    holder.data = (u_char *) reply->element[1]->str;
    holder.len = reply->element[1]->len;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_oci_registry_module);

    if (up->stale.len == 0
        && ngx_http_oci_holder_dead(&omcf->identity, &holder) == NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "oci registry: upload \"%V\" was locked by a dead "
                      "process (%V), taking over", &up->id, &holder);

        if (ngx_http_oci_set_str(r, &up->stale, holder.data, holder.len)
            != NGX_OK
            || again(r, up) != NGX_OK)
        {
            ngx_http_oci_unavailable(r);
        }

        return NGX_DONE;
    }

    ngx_http_oci_finalize_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID, &up->id);
    return NGX_DONE;
}


/*
 * The command that releases our upload lock if it is still ours: the
 * release itself, and the undo of a script whose reply was lost (it may
 * have taken the lock, or not released it).  argv[5], lens[5] and key
 * (NGX_HTTP_OCI_KEY_MAX bytes) are the caller's; the command is
 * formatted before they go.
 */

void
ngx_http_oci_upload_unlock_args(ngx_http_oci_upload_t *up,
    ngx_http_oci_args_t *a, const char **argv, size_t *lens, u_char *key)
{
    ngx_str_t  *script;

    script = &ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_UNLOCK];

    ngx_http_oci_args_init_fixed(a, argv, lens, 5);

    ngx_http_oci_args_lit(a, "EVAL");
    ngx_http_oci_args_str(a, script);
    ngx_http_oci_args_lit(a, "1");
    ngx_http_oci_args_add(a, key,
                          ngx_http_oci_key_lock(key, &up->ctx->base,
                                                &up->id));
    ngx_http_oci_args_str(a, &up->token);
}


/*
 * Releases the upload lock if we hold it, without waiting for the reply;
 * while Redis is away the release is kept for the reconnect.
 */

void
ngx_http_oci_upload_release(ngx_http_oci_upload_t *up)
{
    size_t               lens[5];
    const char          *argv[5];
    ngx_http_oci_args_t  a;
    u_char               key[NGX_HTTP_OCI_KEY_MAX];

    if (up->renew.timer_set) {
        ngx_del_timer(&up->renew);
    }

    if (!up->locked) {
        return;
    }

    ngx_http_oci_upload_unlock_args(up, &a, argv, lens, key);
    ngx_http_oci_redis_fire(up->ctx->conf->redis, &a);

    up->locked = 0;
}


/* while the body arrives: every minute, as long as the lock is ours */

void
ngx_http_oci_upload_renew_start(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up)
{
    up->renew.handler = ngx_http_oci_upload_renew;
    up->renew.data = up;
    up->renew.log = r->connection->log;

    ngx_add_timer(&up->renew, NGX_HTTP_OCI_LOCK_RENEW);
}


static void
ngx_http_oci_upload_renew(ngx_event_t *ev)
{
    ngx_http_oci_upload_t  *up = ev->data;

    size_t               lens[6];
    ngx_str_t           *script;
    const char          *argv[6];
    ngx_http_oci_args_t  a;
    u_char               key[NGX_HTTP_OCI_KEY_MAX];

    if (!up->locked) {
        return;
    }

    script = &ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_UPLOAD_RENEW];

    ngx_http_oci_args_init_fixed(&a, argv, lens, 6);

    ngx_http_oci_args_lit(&a, "EVAL");
    ngx_http_oci_args_str(&a, script);
    ngx_http_oci_args_lit(&a, "1");
    ngx_http_oci_args_add(&a, key,
                          ngx_http_oci_key_lock(key, &up->ctx->base,
                                                &up->id));
    ngx_http_oci_args_str(&a, &up->token);
    ngx_http_oci_args_lit(&a, NGX_HTTP_OCI_LOCK_TTL);

    ngx_http_oci_redis_fire(up->ctx->conf->redis, &a);

    ngx_add_timer(ev, NGX_HTTP_OCI_LOCK_RENEW);
}
