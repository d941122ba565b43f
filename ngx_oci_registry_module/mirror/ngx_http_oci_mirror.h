
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_MIRROR_H_INCLUDED_
#define _NGX_HTTP_OCI_MIRROR_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_uploads.h"


/*
 * Pull-through mirrors (ngx_http_oci_mirror_module, in the same .so).  A
 * mirror is an upstream registry whose repositories are cached under a
 * local prefix: "<prefix>/library/nginx" holds what the upstream calls
 * "library/nginx".  A request selects a mirror by that prefix, by
 * containerd's ?ns=<host>, or by being in a location whose mirror is the
 * default (what Docker Engine's registry-mirrors sends).
 *
 * Every upstream request is a subrequest to one internal location that
 * proxy_passes $oci_mirror_url: TLS, the resolver, keepalive and timeouts
 * are nginx's own (docs/mirror.md has the location to copy).
 *
 *     ngx_http_oci_mirror_module.c    directives, variables, selection
 *     ngx_http_oci_mirror_fetch.c     the subrequest, auth, redirects
 *     ngx_http_oci_mirror_filter.c    its answer: kept, collected, streamed
 *     ngx_http_oci_mirror_auth.c      upstream 401: Bearer tokens, Basic
 *     ngx_http_oci_mirror_text.c      the challenge, the token JSON (pure)
 *     ngx_http_oci_mirror_manifest.c  manifests: TTL, revalidation, stale
 *     ngx_http_oci_mirror_blob.c      blobs: streamed, hashed, committed
 */


typedef struct {
    ngx_str_t                   prefix;      /* local, without "/" */
    ngx_str_t                   url;         /* scheme://host[:port] */
    ngx_array_t                 ns;          /* ngx_str_t: ?ns= hosts */
    time_t                      ttl;         /* of a tag */
    ngx_str_t                   ttl_text;    /* as the scripts take it */
    ngx_str_t                   auth;        /* "user:password", or "" */
    ngx_str_t                   credentials; /* a file with it, or "" */
    unsigned                    deflt:1;     /* requests with no mirror */
    unsigned                    push:1;      /* local pushes allowed */
} ngx_http_oci_mirror_t;


typedef struct {
    ngx_array_t                *mirrors;     /* ngx_http_oci_mirror_t */
    ngx_str_t                   location;    /* the proxy_pass location */
} ngx_http_oci_mirror_loc_conf_t;


/* a request's mirror, once selected: in ngx_http_oci_ctx_t.mirror */
typedef struct {
    ngx_http_oci_mirror_t      *mirror;
    ngx_str_t                   name;        /* the upstream's name */
    ngx_str_t                   ns;          /* ?ns= as sent, or "" */
} ngx_http_oci_mirrored_t;


/* what a fetch does with the upstream's body */
typedef enum {
    NGX_HTTP_OCI_FETCH_COLLECT = 0,          /* into memory, up to max */
    NGX_HTTP_OCI_FETCH_STREAM                /* to the client, and a sink */
} ngx_http_oci_fetch_mode_e;


/* what is fetched, as ngx_http_oci_mirror_stats_t counts it */
#define NGX_HTTP_OCI_MIRROR_MANIFESTS  0
#define NGX_HTTP_OCI_MIRROR_BLOBS      1
#define NGX_HTTP_OCI_MIRROR_TOKENS     2

/* counts into the observer's zone, when there is one */
#define ngx_http_oci_mirror_count(r, field, n)                               \
    do {                                                                     \
        ngx_http_oci_main_conf_t  *omcf__;                                   \
        omcf__ = ngx_http_get_module_main_conf(r,                            \
                                               ngx_http_oci_registry_module);\
        if (omcf__->mirror_stats) {                                          \
            (void) ngx_atomic_fetch_add(&omcf__->mirror_stats->field, n);    \
        }                                                                    \
    } while (0)


typedef struct ngx_http_oci_fetch_s  ngx_http_oci_fetch_t;

/* the fetch ended (f->status says how); the handler owns the request */
typedef void (*ngx_http_oci_fetch_pt)(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);


struct ngx_http_oci_fetch_s {
    ngx_http_oci_ctx_t         *ctx;
    ngx_http_oci_mirrored_t    *mr;
    ngx_http_oci_fetch_mode_e   mode;
    ngx_uint_t                  kind;        /* NGX_HTTP_OCI_MIRROR_* */
    ngx_uint_t                  method;      /* NGX_HTTP_GET or _HEAD */
    ngx_str_t                   path;        /* "/v2/<name>/..." */
    ngx_str_t                   url;         /* what $oci_mirror_url is */
    ngx_str_t                   authorization;
    ngx_str_t                   accept;
    ngx_str_t                   range;
    ngx_str_t                   auth_key;    /* Redis: the cached header */
    ngx_http_oci_fetch_pt       done;

    /* what the upstream answered */
    ngx_int_t                   rc;          /* of the subrequest */
    ngx_uint_t                  status;      /* 0: no answer */
    off_t                       length;      /* Content-Length, or -1 */
    ngx_str_t                   content_type;
    ngx_str_t                   digest;      /* Docker-Content-Digest */
    ngx_str_t                   challenge;   /* WWW-Authenticate */
    ngx_str_t                   retry_after;
    ngx_str_t                   location;
    ngx_str_t                   content_range;

    /* COLLECT */
    u_char                     *mem;
    size_t                      mem_len;
    size_t                      mem_cap;
    size_t                      mem_max;

    /*
     * STREAM: the upload whose sink keeps the bytes (NULL: passed on, not
     * kept), and their last byte, held until they are verified
     */
    ngx_http_oci_upload_t      *up;
    off_t                       received;
    u_char                      held;

    ngx_http_oci_fetch_t       *then;        /* a token's: its fetch */
    ngx_uint_t                  redirects;
    unsigned                    authed:1;    /* a 401 was answered once */
    unsigned                    streaming:1; /* the client has a header */
    unsigned                    too_big:1;
    unsigned                    failed:1;    /* STREAM: drop the bytes */
};


extern ngx_module_t  ngx_http_oci_mirror_module;


/* ngx_http_oci_mirror_module.c */

/*
 * After routing: finds the request's mirror, rewrites the route's name to
 * the local one and refuses writes to a read-only mirror.  NGX_DECLINED:
 * go on (ctx->mirror set or NULL); anything else is the handler's answer.
 */
ngx_int_t ngx_http_oci_mirror_select(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);

/* ngx_http_oci_mirror_fetch.c */
ngx_http_oci_fetch_t *ngx_http_oci_fetch_create(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_fetch_mode_e mode, char *kind,
    ngx_str_t *ref);
ngx_int_t ngx_http_oci_fetch_start(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
ngx_int_t ngx_http_oci_fetch_send(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);
void ngx_http_oci_fetch_failed(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f, ngx_http_oci_err_e unknown);

/* ngx_http_oci_mirror_filter.c */
ngx_int_t ngx_http_oci_fetch_filters(ngx_conf_t *cf);

/* ngx_http_oci_mirror_auth.c */
ngx_int_t ngx_http_oci_mirror_authorize(ngx_http_request_t *r,
    ngx_http_oci_fetch_t *f);

/* ngx_http_oci_mirror_manifest.c */
ngx_int_t ngx_http_oci_mirror_manifest(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_cached_t *cached);

/* ngx_http_oci_mirror_blob.c */
ngx_int_t ngx_http_oci_mirror_blob(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


#endif /* _NGX_HTTP_OCI_MIRROR_H_INCLUDED_ */
