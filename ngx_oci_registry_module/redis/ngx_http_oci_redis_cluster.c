
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis_conn.h"


/*
 * Redis Cluster: each worker keeps a connection per master it sends to
 * and the slot map (CLUSTER SLOTS), loaded from any node it can reach,
 * first from the seeds.  A command goes to the master of its first key's
 * slot; a MOVED reply moves that slot and loads the map again, an ASK
 * reply sends the command once to the node named (after ASKING).  A lost
 * node, or a command for a node not connected, makes the worker load the
 * map again until every slot names a node it is connected to: after a
 * failover, the replica the cluster promoted.
 * Every command the registry sends has its keys in one slot: they carry
 * the repository's hash tag, or the tag of the keys that are no
 * repository's (docs/architecture.md).
 */


#define NGX_HTTP_OCI_REDIS_REFRESH_MIN  100
#define NGX_HTTP_OCI_REDIS_REFRESH_MAX  1000


static ngx_http_oci_redis_t *ngx_http_oci_redis_node(
    ngx_http_oci_redis_cluster_t *cluster, u_char *host, size_t len,
    ngx_int_t port);
static ngx_http_oci_redis_t *ngx_http_oci_redis_any(
    ngx_http_oci_redis_cluster_t *cluster);
static void ngx_http_oci_redis_refresh(ngx_http_oci_redis_cluster_t *cluster);
static void ngx_http_oci_redis_refresh_later(
    ngx_http_oci_redis_cluster_t *cluster);
static void ngx_http_oci_redis_refresh_handler(ngx_event_t *ev);
static void ngx_http_oci_redis_slots_reply(redisAsyncContext *ac, void *rep,
    void *data);
static ngx_int_t ngx_http_oci_redis_slots_parse(
    ngx_http_oci_redis_cluster_t *cluster, ngx_http_oci_redis_t *asked,
    redisReply *reply);
static ngx_int_t ngx_http_oci_redis_addr(redisReply *ip, redisReply *port,
    ngx_http_oci_redis_t *asked, u_char **host, size_t *len,
    ngx_int_t *portn);
static ngx_uint_t ngx_http_oci_redis_slot(u_char *key, size_t len);


ngx_int_t
ngx_http_oci_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_oci_redis_conf_t *rcf)
{
    ngx_uint_t                     i;
    ngx_http_oci_redis_t          *node;
    ngx_http_oci_redis_addr_t     *seed;
    ngx_http_oci_redis_cluster_t  *cluster;

    cluster = ngx_pcalloc(cycle->pool, sizeof(ngx_http_oci_redis_cluster_t));
    if (cluster == NULL) {
        return NGX_ERROR;
    }

    cluster->conf = rcf;
    cluster->pool = cycle->pool;
    cluster->log = cycle->log;
    cluster->backoff = NGX_HTTP_OCI_REDIS_REFRESH_MIN;

    cluster->refresh.handler = ngx_http_oci_redis_refresh_handler;
    cluster->refresh.data = cluster;
    cluster->refresh.log = cycle->log;
    cluster->refresh.cancelable = 1;

    seed = rcf->cluster->elts;

    for (i = 0; i < rcf->cluster->nelts; i++) {
        node = ngx_http_oci_redis_node(cluster, seed[i].host,
                                       ngx_strlen(seed[i].host),
                                       seed[i].port);
        if (node == NULL) {
            return NGX_ERROR;
        }
    }

    /* the scripts' SHA1s and the first seed stand for the cluster */

    rcf->conn = cluster->nodes[0];

    /*
     * One worker of each nginx node sweeps for outboxes whose forward
     * did not end (a worker killed between a script and its forward);
     * two nodes' sweeps forwarding one outbox apply it once
     */

    if (ngx_worker == 0 || ngx_process == NGX_PROCESS_SINGLE) {
        cluster->sweep.handler = ngx_http_oci_redis_outbox_sweep;
        cluster->sweep.data = cluster;
        cluster->sweep.log = cycle->log;
        cluster->sweep.cancelable = 1;
        cluster->cursor[0] = '0';

        ngx_add_timer(&cluster->sweep, NGX_HTTP_OCI_REDIS_SWEEP_EVERY);
    }

    return NGX_OK;
}


void
ngx_http_oci_redis_cluster_exit(ngx_http_oci_redis_cluster_t *cluster)
{
    ngx_uint_t  i;

    cluster->exiting = 1;

    if (cluster->refresh.timer_set) {
        ngx_del_timer(&cluster->refresh);
    }

    if (cluster->sweep.timer_set) {
        ngx_del_timer(&cluster->sweep);
    }

    for (i = 0; i < cluster->nnodes; i++) {
        ngx_http_oci_redis_exit(cluster->nodes[i]);
    }
}


/*
 * The node a command goes to: the master of its first key's slot (the
 * third argument of EVAL and EVALSHA, the first of a plain command), or
 * any node for a command without keys or a slot not known yet.  NULL
 * when no node is connected.
 */

ngx_http_oci_redis_t *
ngx_http_oci_redis_route(ngx_http_oci_redis_conf_t *rcf, int argc,
    const char **argv, size_t *argvlen)
{
    ngx_uint_t                     slot, n;
    ngx_http_oci_redis_t          *node;
    ngx_http_oci_redis_cluster_t  *cluster;

    if (rcf->conn == NULL || rcf->conn->cluster == NULL) {
        return rcf->conn;
    }

    cluster = rcf->conn->cluster;

    n = 1;

    if (argvlen[0] >= 4 && ngx_strncasecmp((u_char *) argv[0],
                                           (u_char *) "EVAL", 4) == 0)
    {
        n = (argc > 3 && !(argvlen[2] == 1 && argv[2][0] == '0')) ? 3 : 0;

    } else if (argc < 2 || (argvlen[0] == 4
                            && (ngx_strncasecmp((u_char *) argv[0],
                                                (u_char *) "PING", 4) == 0
                                || ngx_strncasecmp((u_char *) argv[0],
                                                   (u_char *) "WAIT", 4)
                                   == 0)))
    {
        n = 0;
    }

    if (n == 0) {
        return ngx_http_oci_redis_any(cluster);
    }

    slot = ngx_http_oci_redis_slot((u_char *) argv[n], argvlen[n]);

    if (cluster->slots[slot] == 0) {
        return ngx_http_oci_redis_any(cluster);
    }

    node = cluster->nodes[cluster->slots[slot] - 1];

    /* a master that went: the map is asked again, whatever happened */

    if (node->ac == NULL) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cluster->log, 0,
                       "oci redis cluster: slot %ui at %s:%d, not connected",
                       slot, node->server.host, node->server.port);

        ngx_http_oci_redis_refresh_later(cluster);
    }

    return node;
}


/*
 * "MOVED <slot> <ip>:<port>" or "ASK <slot> <ip>:<port>": the node to
 * send the command to instead (connecting to it if it is new), or NULL.
 * MOVED also moves the slot, and the map is loaded again.
 */

ngx_http_oci_redis_t *
ngx_http_oci_redis_redirect(ngx_http_oci_redis_cluster_t *cluster,
    redisReply *reply, ngx_uint_t *ask)
{
    u_char                *p, *last, *colon, *host;
    ngx_int_t              slot, port;
    ngx_http_oci_redis_t  *node;

    p = (u_char *) reply->str;
    last = p + reply->len;

    if (reply->len > 6 && ngx_strncmp(p, "MOVED ", 6) == 0) {
        *ask = 0;
        p += 6;

    } else if (reply->len > 4 && ngx_strncmp(p, "ASK ", 4) == 0) {
        *ask = 1;
        p += 4;

    } else {
        return NULL;
    }

    host = ngx_strlchr(p, last, ' ');
    if (host == NULL) {
        return NULL;
    }

    slot = ngx_atoi(p, host - p);
    host++;

    colon = NULL;

    for (p = host; p < last; p++) {
        if (*p == ':') {
            colon = p;
        }
    }

    if (slot == NGX_ERROR || slot >= NGX_HTTP_OCI_REDIS_SLOTS
        || colon == NULL || colon == host
        || (size_t) (colon - host) >= NGX_SOCKADDR_STRLEN)
    {
        return NULL;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);
    if (port == NGX_ERROR || port == 0 || port > 65535) {
        return NULL;
    }

    node = ngx_http_oci_redis_node(cluster, host, colon - host, port);
    if (node == NULL) {
        return NULL;
    }

    if (!*ask) {
        ngx_log_error(NGX_LOG_INFO, cluster->log, 0,
                      "oci registry: redis cluster: slot %i moved to %s:%d",
                      slot, node->server.host, node->server.port);

        cluster->slots[slot] = node->slot_id;

        ngx_http_oci_redis_refresh(cluster);

    } else {
        ngx_log_error(NGX_LOG_INFO, cluster->log, 0,
                      "oci registry: redis cluster: slot %i asked at %s:%d",
                      slot, node->server.host, node->server.port);
    }

    return node;
}


/* a node's connection is ready: the first one loads the map */

void
ngx_http_oci_redis_cluster_ready(ngx_http_oci_redis_t *node)
{
    if (!node->cluster->known) {
        ngx_http_oci_redis_refresh(node->cluster);
    }
}


/*
 * A node's connection went: a failover may have begun, so the map is
 * loaded again (from another node) until it names reachable masters
 */

void
ngx_http_oci_redis_cluster_lost(ngx_http_oci_redis_t *node)
{
    ngx_http_oci_redis_refresh_later(node->cluster);
}


/* the connection to a node: the one known, or a new one, connecting */

static ngx_http_oci_redis_t *
ngx_http_oci_redis_node(ngx_http_oci_redis_cluster_t *cluster, u_char *host,
    size_t len, ngx_int_t port)
{
    ngx_uint_t             i;
    ngx_http_oci_redis_t  *node;

    for (i = 0; i < cluster->nnodes; i++) {
        node = cluster->nodes[i];

        if (node->server.port == port && ngx_strlen(node->host) == len
            && ngx_strncmp(node->host, host, len) == 0)
        {
            return node;
        }
    }

    if (cluster->nnodes == NGX_HTTP_OCI_REDIS_NODES_MAX
        || len > NGX_SOCKADDR_STRLEN)
    {
        ngx_log_error(NGX_LOG_ERR, cluster->log, 0,
                      "oci registry: redis cluster: more than %d nodes",
                      NGX_HTTP_OCI_REDIS_NODES_MAX);
        return NULL;
    }

    node = ngx_http_oci_redis_new(cluster->pool, cluster->log,
                                  cluster->conf);
    if (node == NULL) {
        return NULL;
    }

    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';
    node->server.host = node->host;
    node->server.port = port;
    node->cluster = cluster;

    cluster->nodes[cluster->nnodes++] = node;
    node->slot_id = (u_char) cluster->nnodes;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cluster->log, 0,
                   "oci redis cluster: node %ui at %s:%d",
                   cluster->nnodes, node->server.host, node->server.port);

    if (ngx_http_oci_redis_connect(node) != NGX_OK) {
        ngx_http_oci_redis_schedule(node);
    }

    return node;
}


/* a connected node, taking them in turn; NULL when none is */

static ngx_http_oci_redis_t *
ngx_http_oci_redis_any(ngx_http_oci_redis_cluster_t *cluster)
{
    ngx_uint_t             i, n;
    ngx_http_oci_redis_t  *node;

    for (i = 0; i < cluster->nnodes; i++) {
        n = (cluster->next + i) % cluster->nnodes;
        node = cluster->nodes[n];

        if (node->ready) {
            cluster->next = n + 1;
            return node;
        }
    }

    return NULL;
}


static void
ngx_http_oci_redis_refresh(ngx_http_oci_redis_cluster_t *cluster)
{
    ngx_http_oci_redis_t  *node;

    if (cluster->exiting) {
        return;
    }

    /* one question at a time, unless its answer is overdue */

    if (cluster->asking
        && ngx_current_msec - cluster->asked < cluster->conf->timeout)
    {
        ngx_http_oci_redis_refresh_later(cluster);
        return;
    }

    node = ngx_http_oci_redis_any(cluster);

    if (node == NULL
        || redisAsyncCommand(node->ac, ngx_http_oci_redis_slots_reply, node,
                             "CLUSTER SLOTS")
           != REDIS_OK)
    {
        ngx_http_oci_redis_refresh_later(cluster);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cluster->log, 0,
                   "oci redis cluster: slot map asked of %s:%d",
                   node->server.host, node->server.port);

    cluster->asking = 1;
    cluster->asked = ngx_current_msec;
}


static void
ngx_http_oci_redis_refresh_later(ngx_http_oci_redis_cluster_t *cluster)
{
    if (cluster->exiting || cluster->refresh.timer_set || ngx_exiting
        || ngx_terminate || ngx_quit)
    {
        return;
    }

    ngx_add_timer(&cluster->refresh, cluster->backoff);

    cluster->backoff *= 2;
    if (cluster->backoff > NGX_HTTP_OCI_REDIS_REFRESH_MAX) {
        cluster->backoff = NGX_HTTP_OCI_REDIS_REFRESH_MAX;
    }
}


static void
ngx_http_oci_redis_refresh_handler(ngx_event_t *ev)
{
    ngx_http_oci_redis_refresh(ev->data);
}


/*
 * The map.  It is taken whole when it parses; then, if it names a
 * master this worker cannot reach (a failover the cluster has not ended
 * yet) or leaves slots without one, it is loaded again later.
 */

static void
ngx_http_oci_redis_slots_reply(redisAsyncContext *ac, void *rep, void *data)
{
    redisReply            *reply = rep;
    ngx_http_oci_redis_t  *asked = data;

    ngx_uint_t                     i;
    ngx_http_oci_redis_cluster_t  *cluster;

    cluster = asked->cluster;
    cluster->asking = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cluster->log, 0,
                   "oci redis cluster: slot map %s",
                   reply ? "answered" : "not answered");

    if (cluster->exiting) {
        return;
    }

    if (reply == NULL || ngx_http_oci_redis_slots_parse(cluster, asked, reply)
                         != NGX_OK)
    {
        if (reply != NULL) {
            ngx_log_error(NGX_LOG_ERR, cluster->log, 0,
                          "oci registry: redis cluster: %s:%d sent no "
                          "slot map", asked->server.host,
                          asked->server.port);
        }

        ngx_http_oci_redis_refresh_later(cluster);
        return;
    }

    if (!cluster->known) {
        ngx_log_error(NGX_LOG_NOTICE, cluster->log, 0,
                      "oci registry: redis cluster: %ui masters",
                      (ngx_uint_t) reply->elements);
    }

    cluster->known = 1;

    if (cluster->conf->up) {
        *cluster->conf->up = 1;
    }

    for (i = 0; i < NGX_HTTP_OCI_REDIS_SLOTS; i++) {
        if (cluster->slots[i] == 0
            || !cluster->nodes[cluster->slots[i] - 1]->ready)
        {
            ngx_http_oci_redis_refresh_later(cluster);
            return;
        }
    }

    cluster->backoff = NGX_HTTP_OCI_REDIS_REFRESH_MIN;
}


/*
 * CLUSTER SLOTS: {{first, last, {ip, port, ...}, replicas...}...}.  The
 * map is checked whole before any of it is used.
 */

static ngx_int_t
ngx_http_oci_redis_slots_parse(ngx_http_oci_redis_cluster_t *cluster,
    ngx_http_oci_redis_t *asked, redisReply *reply)
{
    size_t                 len;
    u_char                *host;
    ngx_int_t              port;
    ngx_uint_t             i;
    redisReply            *e, *m;
    ngx_http_oci_redis_t  *node;
    u_char                 slots[NGX_HTTP_OCI_REDIS_SLOTS];

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[0]->integer < 0
            || e->element[1]->integer >= NGX_HTTP_OCI_REDIS_SLOTS
            || e->element[0]->integer > e->element[1]->integer)
        {
            return NGX_ERROR;
        }

        m = e->element[2];

        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2
            || ngx_http_oci_redis_addr(m->element[0], m->element[1], asked,
                                       &host, &len, &port)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_memzero(slots, sizeof(slots));

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];
        m = e->element[2];

        (void) ngx_http_oci_redis_addr(m->element[0], m->element[1], asked,
                                       &host, &len, &port);

        node = ngx_http_oci_redis_node(cluster, host, len, port);
        if (node == NULL) {
            return NGX_ERROR;
        }

        ngx_memset(&slots[e->element[0]->integer], node->slot_id,
                   (size_t) (e->element[1]->integer - e->element[0]->integer
                             + 1));
    }

    if (ngx_memcmp(cluster->slots, slots, sizeof(slots)) != 0) {
        ngx_log_error(NGX_LOG_INFO, cluster->log, 0,
                      "oci registry: redis cluster: slot map from %s:%d, "
                      "%ui ranges", asked->server.host, asked->server.port,
                      (ngx_uint_t) reply->elements);

        ngx_memcpy(cluster->slots, slots, sizeof(slots));
    }

    return NGX_OK;
}


/*
 * A master's address in the map: a numeric IP (hiredis would resolve a
 * name with a blocking call) or "" for the node that was asked
 */

static ngx_int_t
ngx_http_oci_redis_addr(redisReply *ip, redisReply *port,
    ngx_http_oci_redis_t *asked, u_char **host, size_t *len,
    ngx_int_t *portn)
{
    struct in6_addr  a6;
    u_char           buf[NGX_SOCKADDR_STRLEN + 1];

    if (ip->type != REDIS_REPLY_STRING || port->type != REDIS_REPLY_INTEGER
        || port->integer <= 0 || port->integer > 65535
        || ip->len >= NGX_SOCKADDR_STRLEN)
    {
        return NGX_ERROR;
    }

    *portn = (ngx_int_t) port->integer;

    if (ip->len == 0) {
        *host = asked->host;
        *len = ngx_strlen(asked->host);
        return NGX_OK;
    }

    ngx_memcpy(buf, ip->str, ip->len);
    buf[ip->len] = '\0';

    if (ngx_inet_addr(buf, ip->len) == INADDR_NONE
        && inet_pton(AF_INET6, (char *) buf, &a6) != 1)
    {
        return NGX_ERROR;
    }

    *host = (u_char *) ip->str;
    *len = ip->len;

    return NGX_OK;
}


/*
 * The key's slot: CRC16 (XMODEM) of its hash tag, the text between the
 * first "{" and the next "}" when that is not empty, else of the key
 */

static ngx_uint_t
ngx_http_oci_redis_slot(u_char *key, size_t len)
{
    u_char      *open, *close;
    uint16_t     crc;
    ngx_uint_t   i, b;

    open = ngx_strlchr(key, key + len, '{');

    if (open != NULL) {
        close = ngx_strlchr(open + 1, key + len, '}');

        if (close != NULL && close > open + 1) {
            key = open + 1;
            len = close - open - 1;
        }
    }

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) key[i] << 8;

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc & (NGX_HTTP_OCI_REDIS_SLOTS - 1);
}
