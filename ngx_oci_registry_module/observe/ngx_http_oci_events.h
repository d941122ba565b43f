
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_EVENTS_DELIVERY_H_INCLUDED_
#define _NGX_HTTP_OCI_EVENTS_DELIVERY_H_INCLUDED_


/*
 * Delivery of the events the registry's scripts append to
 * "<prefix>events" (api/ngx_http_oci_events.c) to HTTP endpoints
 * (oci_registry_events_endpoint): one consumer group per endpoint, read
 * by one worker of one node at a time (a lease in Redis), in order, at
 * least once; POSTed through an internal location the operator writes
 * (proxy_pass: TLS, resolver, timeouts and keepalive are nginx's), as a
 * subrequest of a request of our own, since no client request is there.
 */


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_redis.h"


#define NGX_HTTP_OCI_EV_PUSH         0x01
#define NGX_HTTP_OCI_EV_PULL         0x02
#define NGX_HTTP_OCI_EV_DELETE       0x04
#define NGX_HTTP_OCI_EV_MOUNT        0x08
#define NGX_HTTP_OCI_EV_ALL          0x0f


typedef struct ngx_http_oci_delivery_s  ngx_http_oci_delivery_t;


/* what the delivery of an endpoint counts, in the observer's zone */
typedef struct {
    ngx_atomic_t                delivered;   /* events POSTed and 2xx */
    ngx_atomic_t                filtered;    /* events not for it */
    ngx_atomic_t                failures;    /* POSTs that failed */
    ngx_atomic_t                backlog;     /* the stream, as last seen */
    ngx_atomic_t                dropped;     /* the stream's, as last seen */
} ngx_http_oci_endpoint_stats_t;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   uri;         /* the internal location */
    ngx_str_t                   secret;      /* the HMAC key, or empty */
    ngx_uint_t                  actions;
    ngx_array_t                *repositories;  /* ngx_str_t globs */
    ngx_array_t                *media_types;   /* ngx_str_t globs */
    ngx_uint_t                  batch;
    ngx_msec_t                  poll;
    ngx_msec_t                  backoff_max;
    ngx_msec_t                  lease;

    ngx_http_conf_ctx_t        *conf_ctx;    /* of its server */
    ngx_http_oci_redis_conf_t  *redis;       /* the server's */
    ngx_str_t                   stream;
    ngx_str_t                   dropped;
    ngx_str_t                   lease_key;

    ngx_http_oci_endpoint_stats_t  *stats;   /* NULL without metrics */
    ngx_http_oci_delivery_t    *delivery;    /* this worker's, or NULL */
} ngx_http_oci_endpoint_t;


/* ngx_http_oci_events_endpoint.c: configuration */
char *ngx_http_oci_events_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_oci_events_resolve(ngx_conf_t *cf, ngx_array_t *eps);

/* ngx_http_oci_events_delivery.c: the loop */
ngx_int_t ngx_http_oci_events_start(ngx_cycle_t *cycle,
    ngx_http_oci_endpoint_t *ep, ngx_str_t *identity);
void ngx_http_oci_events_stop(ngx_http_oci_endpoint_t *ep);

/* ngx_http_oci_events_envelope.c: entries to a JSON envelope (pure) */
ngx_int_t ngx_http_oci_events_envelope(ngx_pool_t *pool,
    ngx_http_oci_endpoint_t *ep, redisReply *entries, ngx_str_t *body,
    ngx_uint_t *n);

/* ngx_http_oci_events_send.c: one POST through the internal location */
typedef void (*ngx_http_oci_sent_pt)(void *data, ngx_uint_t status);

ngx_int_t ngx_http_oci_events_post(ngx_http_oci_endpoint_t *ep,
    ngx_str_t *body, ngx_log_t *log, ngx_http_oci_sent_pt done, void *data);


#endif /* _NGX_HTTP_OCI_EVENTS_DELIVERY_H_INCLUDED_ */
