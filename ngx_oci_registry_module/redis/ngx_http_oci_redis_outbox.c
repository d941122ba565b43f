
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * A repository's outbox, forwarded on a Redis Cluster.  No script may
 * touch two slots, so a repository's script writes what it changes in
 * keys that are no repository's (the catalog, the events) to its outbox,
 * in its own slot, atomically with the change itself.  After the reply
 * the worker forwards it in the background: OUTBOX_TAKE reads it,
 * OUTBOX_APPLY writes it in the global slot (each event once), and
 * OUTBOX_DONE removes what was applied.  A forward that does not end (a
 * worker killed, a node lost) leaves the outbox as it was, and the
 * repository's next change forwards it with its own, or the sweep: one
 * worker of each node scans the masters for outboxes.  The scripts are
 * in ngx_http_oci_scripts_outbox.h.
 */


/* the events a step takes; a full step is followed by another */
#define NGX_HTTP_OCI_OUTBOX_BATCH  64


typedef struct {
    ngx_pool_t                 *pool;
    ngx_http_oci_redis_conf_t  *rcf;
    ngx_str_t                   outbox;      /* "<base>x:" */
    ngx_str_t                   global;      /* "<prefix>{_}:" */
    ngx_http_oci_args_t         apply;
    ngx_http_oci_args_t         done;
    ngx_uint_t                  events;      /* taken in this step */
    ngx_http_oci_redis_done_pt  then;        /* at the end, if any */
    void                       *data;
} ngx_http_oci_outbox_t;


static ngx_int_t ngx_http_oci_outbox_take(ngx_http_oci_outbox_t *ob);
static void ngx_http_oci_outbox_taken(void *data, redisReply *reply);
static ngx_int_t ngx_http_oci_outbox_args(ngx_http_oci_outbox_t *ob,
    redisReply *reply);
static void ngx_http_oci_outbox_applied(void *data, redisReply *reply);
static void ngx_http_oci_outbox_done(void *data, redisReply *reply);
static void ngx_http_oci_outbox_end(ngx_http_oci_outbox_t *ob,
    const char *failed);
static void ngx_http_oci_redis_swept(redisAsyncContext *ac, void *rep,
    void *data);


/*
 * After a script of the repository whose key base is "base" (KEYS[1]):
 * its outbox goes to the global slot of the same key prefix
 */

void
ngx_http_oci_redis_outbox(ngx_http_oci_redis_conf_t *rcf, u_char *base,
    size_t len)
{
    (void) ngx_http_oci_redis_outbox_then(rcf, base, len, NULL, NULL);
}


/*
 * The same, and "then" runs when the forward ends (whether it did all or
 * not): NGX_OK; or NGX_ERROR when it cannot start, and "then" is not run
 */

ngx_int_t
ngx_http_oci_redis_outbox_then(ngx_http_oci_redis_conf_t *rcf, u_char *base,
    size_t len, ngx_http_oci_redis_done_pt then, void *data)
{
    u_char                 *tag;
    ngx_pool_t             *pool;
    ngx_http_oci_outbox_t  *ob;

    tag = ngx_strlchr(base, base + len, '{');
    if (tag == NULL) {
        return NGX_ERROR;
    }

    pool = ngx_create_pool(1024, rcf->conn->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ob = ngx_pcalloc(pool, sizeof(ngx_http_oci_outbox_t));
    if (ob == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ob->pool = pool;
    ob->rcf = rcf;
    ob->then = then;
    ob->data = data;

    ob->outbox.len = len + sizeof("x:") - 1;
    ob->outbox.data = ngx_pnalloc(pool, ob->outbox.len);
    ob->global.len = (tag - base) + sizeof("{_}:") - 1;
    ob->global.data = ngx_pnalloc(pool, ob->global.len);

    if (ob->outbox.data == NULL || ob->global.data == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_sprintf(ob->outbox.data, "%*sx:", len, base);
    ngx_sprintf(ob->global.data, "%*s{_}:", (size_t) (tag - base), base);

    if (ngx_http_oci_outbox_take(ob) != NGX_OK) {
        ngx_http_oci_outbox_end(ob, "take");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_outbox_take(ngx_http_oci_outbox_t *ob)
{
    ngx_http_oci_args_t  a;

    if (ngx_http_oci_args_init(&a, ob->pool, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&a, &ob->outbox);
    ngx_http_oci_args_number(&a, NGX_HTTP_OCI_OUTBOX_BATCH);

    return ngx_http_oci_redis_call_script(ob->rcf, ngx_http_oci_outbox_taken,
                                          ob, NGX_HTTP_OCI_SCRIPT_OUTBOX_TAKE,
                                          1, &a);
}


static void
ngx_http_oci_outbox_taken(void *data, redisReply *reply)
{
    ngx_http_oci_outbox_t  *ob = data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_oci_outbox_end(ob, "take");
        return;
    }

    if (reply->elements == 0) {
        ngx_http_oci_outbox_end(ob, NULL);
        return;
    }

    if (ngx_http_oci_outbox_args(ob, reply) != NGX_OK
        || ngx_http_oci_redis_call_script(ob->rcf,
                                          ngx_http_oci_outbox_applied, ob,
                                          NGX_HTTP_OCI_SCRIPT_OUTBOX_APPLY,
                                          1, &ob->apply)
           != NGX_OK)
    {
        ngx_http_oci_outbox_end(ob, "apply");
    }
}


/*
 * OUTBOX_APPLY's arguments (the taken reply after the outbox and the
 * backlog) and OUTBOX_DONE's (the last event, the dropped count, the
 * names), copied: the reply is freed when the callback returns
 */

static ngx_int_t
ngx_http_oci_outbox_args(ngx_http_oci_outbox_t *ob, redisReply *reply)
{
    u_char      *p;
    ngx_int_t    names, n;
    ngx_str_t    last;
    ngx_uint_t   i, j;
    redisReply  *e;

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_ERROR;
        }
    }

    if (reply->elements < 2
        || ngx_http_oci_args_init(&ob->apply, ob->pool, reply->elements + 3)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    names = ngx_atoi((u_char *) reply->element[1]->str,
                     reply->element[1]->len);

    if (names == NGX_ERROR || (ngx_uint_t) names > reply->elements - 2
        || ngx_http_oci_args_init(&ob->done, ob->pool, names + 3) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_oci_args_str(&ob->apply, &ob->global);
    ngx_http_oci_args_str(&ob->apply, &ob->outbox);
    ngx_http_oci_args_number(&ob->apply, (off_t) ob->rcf->backlog);

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        p = ngx_pnalloc(ob->pool, e->len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, e->str, e->len);
        ngx_http_oci_args_add(&ob->apply, p, e->len);
    }

    /* the events: id, field count, fields; the last id goes to DONE */

    ngx_str_null(&last);
    ob->events = 0;

    for (j = 2 + names; j < reply->elements; j += 2 + n) {
        if (j + 1 >= reply->elements) {
            return NGX_ERROR;
        }

        n = ngx_atoi((u_char *) reply->element[j + 1]->str,
                     reply->element[j + 1]->len);

        if (n == NGX_ERROR || (ngx_uint_t) n > reply->elements - j - 2) {
            return NGX_ERROR;
        }

        last.data = (u_char *) ob->apply.argv[j + 3];
        last.len = ob->apply.lens[j + 3];
        ob->events++;
    }

    ngx_http_oci_args_str(&ob->done, &ob->outbox);
    ngx_http_oci_args_str(&ob->done, &last);
    ngx_http_oci_args_add(&ob->done, (u_char *) ob->apply.argv[3],
                          ob->apply.lens[3]);

    for (i = 0; i < (ngx_uint_t) names; i++) {
        ngx_http_oci_args_add(&ob->done, (u_char *) ob->apply.argv[5 + i],
                              ob->apply.lens[5 + i]);
    }

    return ob->apply.failed || ob->done.failed ? NGX_ERROR : NGX_OK;
}


static void
ngx_http_oci_outbox_applied(void *data, redisReply *reply)
{
    ngx_http_oci_outbox_t  *ob = data;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING
        || ngx_http_oci_redis_call_script(ob->rcf, ngx_http_oci_outbox_done,
                                          ob, NGX_HTTP_OCI_SCRIPT_OUTBOX_DONE,
                                          1, &ob->done)
           != NGX_OK)
    {
        ngx_http_oci_outbox_end(ob, "apply");
    }
}


/* a full step leaves more behind it: the next one */

static void
ngx_http_oci_outbox_done(void *data, redisReply *reply)
{
    ngx_http_oci_outbox_t  *ob = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_oci_outbox_end(ob, "done");
        return;
    }

    if (ob->events == NGX_HTTP_OCI_OUTBOX_BATCH) {
        if (ngx_http_oci_outbox_take(ob) != NGX_OK) {
            ngx_http_oci_outbox_end(ob, "take");
        }

        return;
    }

    ngx_http_oci_outbox_end(ob, NULL);
}


/* what is not forwarded stays in the outbox, for the next change */

static void
ngx_http_oci_outbox_end(ngx_http_oci_outbox_t *ob, const char *failed)
{
    void                        *data;
    ngx_http_oci_redis_done_pt   then;

    if (failed != NULL) {
        ngx_log_error(NGX_LOG_WARN, ob->rcf->conn->log, 0,
                      "oci registry: redis cluster: the outbox \"%V\" was "
                      "not forwarded (%s); its repository's next change "
                      "forwards it", &ob->outbox, failed);
    }

    then = ob->then;
    data = ob->data;

    ngx_destroy_pool(ob->pool);

    if (then != NULL) {
        then(data);
    }
}


/*
 * A step of the sweep: SCAN on one master for outbox keys ("}:x:" after
 * a repository's hash tag), a thousand keys a second, master after
 * master; each outbox found is forwarded (an empty one costs a script
 * that finds it empty).  A full turn takes a second per thousand keys.
 */

void
ngx_http_oci_redis_outbox_sweep(ngx_event_t *ev)
{
    ngx_http_oci_redis_cluster_t  *cluster = ev->data;

    ngx_uint_t             i;
    const char            *argv[6];
    size_t                 lens[6];
    ngx_http_oci_redis_t  *node;

    if (cluster->exiting) {
        return;
    }

    /* the next master this worker is connected to */

    for (i = 0; i < cluster->nnodes; i++) {
        node = cluster->nodes[cluster->swept % cluster->nnodes];

        if (node->ready
            && ngx_strlchr(cluster->slots,
                           cluster->slots + NGX_HTTP_OCI_REDIS_SLOTS,
                           node->slot_id)
               != NULL)
        {
            break;
        }

        cluster->swept++;
        cluster->cursor[0] = '0';
        cluster->cursor[1] = '\0';
    }

    if (i == cluster->nnodes) {
        ngx_add_timer(&cluster->sweep, NGX_HTTP_OCI_REDIS_SWEEP_EVERY);
        return;
    }

    argv[0] = "SCAN";
    argv[1] = (char *) cluster->cursor;
    argv[2] = "MATCH";
    argv[3] = "*}:x:*";
    argv[4] = "COUNT";
    argv[5] = NGX_HTTP_OCI_REDIS_SWEEP_COUNT;

    for (i = 0; i < 6; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }

    if (redisAsyncCommandArgv(node->ac, ngx_http_oci_redis_swept, node, 6,
                              argv, lens)
        != REDIS_OK)
    {
        ngx_add_timer(&cluster->sweep, NGX_HTTP_OCI_REDIS_SWEEP_EVERY);
    }
}


static void
ngx_http_oci_redis_swept(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply            *reply = rep;
    ngx_http_oci_redis_t  *node = data;

    u_char                        *p, *last, *prev;
    size_t                         len, plen;
    ngx_uint_t                     i;
    redisReply                    *c, *keys, *k;
    ngx_http_oci_redis_cluster_t  *cluster;

    cluster = node->cluster;

    if (cluster->exiting) {
        return;
    }

    ngx_add_timer(&cluster->sweep, NGX_HTTP_OCI_REDIS_SWEEP_EVERY);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len > NGX_INT64_LEN
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        cluster->swept++;
        ngx_memcpy(cluster->cursor, "0", 2);
        return;
    }

    c = reply->element[0];
    keys = reply->element[1];

    /* a repository's outbox keys come one after another: one forward */

    prev = NULL;
    plen = 0;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (k->type != REDIS_REPLY_STRING) {
            continue;
        }

        p = (u_char *) k->str;
        last = p + k->len;
        len = 0;

        for ( /* void */ ; p + 4 <= last; p++) {
            if (ngx_strncmp(p, "}:x:", 4) == 0) {
                len = p + 2 - (u_char *) k->str;
                break;
            }
        }

        if (len == 0 || (len == plen && ngx_strncmp(prev, k->str, len) == 0))
        {
            continue;
        }

        prev = (u_char *) k->str;
        plen = len;

        ngx_http_oci_redis_outbox(cluster->conf, prev, len);
    }

    ngx_memcpy(cluster->cursor, c->str, c->len);
    cluster->cursor[c->len] = '\0';

    if (c->len == 1 && c->str[0] == '0') {
        cluster->swept++;
    }
}
