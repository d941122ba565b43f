
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_EVENTS_H_INCLUDED_
#define _NGX_HTTP_OCI_EVENTS_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_args.h"


/*
 * An event of the change a script makes (oci_registry_events): the
 * script appends it to the stream "<prefix>events" in the same atomic
 * step, so an acknowledged push always has its event.  Every script that
 * can make one takes two more keys (the stream, its counter of dropped
 * entries) and, after its own arguments, seven more: the backlog, the
 * action ("" for none: events off, or not this one), the repository,
 * the target's media type, the target's other JSON members, the target's
 * URL up to its digest, and the request, actor and source as JSON.  The
 * script adds the digest and tag it knows (observe/ builds the envelope).
 * With events off, neither the keys nor the arguments are sent.
 */

#define NGX_HTTP_OCI_EVENT_KEYS      2
#define NGX_HTTP_OCI_EVENT_ARGV      7
#define NGX_HTTP_OCI_EVENT_ARGS      (NGX_HTTP_OCI_EVENT_KEYS               \
                                      + NGX_HTTP_OCI_EVENT_ARGV)


typedef struct {
    char                       *action;      /* NULL: no event */
    char                       *kind;        /* "manifests", "blobs" */
    ngx_str_t                   media_type;
    off_t                       size;        /* -1: not known here */
    ngx_str_t                   from;        /* a mount's source */
} ngx_http_oci_event_t;


/* with events off a script gets neither: it sends as it did before */
#define ngx_http_oci_event_nkeys(conf)                                        \
    ((conf)->events ? NGX_HTTP_OCI_EVENT_KEYS : 0)

void ngx_http_oci_event_keys(ngx_http_oci_args_t *a,
    ngx_http_oci_loc_conf_t *conf, ngx_str_t *outbox);
void ngx_http_oci_event_args(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx,
    ngx_http_oci_args_t *a, ngx_http_oci_event_t *ev);
void ngx_http_oci_event_args_bg(ngx_pool_t *pool,
    ngx_http_oci_loc_conf_t *conf, ngx_str_t *name, char *action, char *who,
    ngx_http_oci_args_t *a);


#endif /* _NGX_HTTP_OCI_EVENTS_H_INCLUDED_ */
