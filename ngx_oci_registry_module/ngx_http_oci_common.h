
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_COMMON_H_INCLUDED_
#define _NGX_HTTP_OCI_COMMON_H_INCLUDED_


/*
 * The types every subsystem shares: the registry's configuration, a
 * request's route and context.  Functions are declared in the header of
 * the subsystem that defines them (common/, api/, store/, redis/, auth/).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_OCI_MAX_NAME        255
#define NGX_HTTP_OCI_MAX_TAG         128
#define NGX_HTTP_OCI_UPLOAD_ID_LEN   36
#define NGX_HTTP_OCI_PAGE_MAX        1000

/* prefix (64) + "{" name (255) "}:" + the longest suffix we add */
#define NGX_HTTP_OCI_KEY_MAX         512


typedef enum {
    NGX_HTTP_OCI_ROUTE_BASE = 0,
    NGX_HTTP_OCI_ROUTE_CATALOG,
    NGX_HTTP_OCI_ROUTE_TAGS,
    NGX_HTTP_OCI_ROUTE_MANIFEST,
    NGX_HTTP_OCI_ROUTE_BLOB,
    NGX_HTTP_OCI_ROUTE_UPLOAD_START,
    NGX_HTTP_OCI_ROUTE_UPLOAD,
    NGX_HTTP_OCI_ROUTE_REFERRERS,
    NGX_HTTP_OCI_ROUTE_LIFECYCLE_POLICY,     /* <name>/_lifecycle/policy */
    NGX_HTTP_OCI_ROUTE_LIFECYCLE_PREVIEW,
    NGX_HTTP_OCI_ROUTE_LIFECYCLE_RUN,
    NGX_HTTP_OCI_ROUTE_GC_USAGE,             /* <name>/_gc/usage */
    NGX_HTTP_OCI_ROUTE_GC,                   /* _gc: no name */
    NGX_HTTP_OCI_ROUTE_GC_RUN                /* _gc/run */
} ngx_http_oci_route_e;


/* error codes of the OCI distribution spec, indexes into a table */
typedef enum {
    NGX_HTTP_OCI_ERR_BLOB_UNKNOWN = 0,
    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_INVALID,
    NGX_HTTP_OCI_ERR_BLOB_UPLOAD_UNKNOWN,
    NGX_HTTP_OCI_ERR_DIGEST_INVALID,
    NGX_HTTP_OCI_ERR_MANIFEST_BLOB_UNKNOWN,
    NGX_HTTP_OCI_ERR_MANIFEST_INVALID,
    NGX_HTTP_OCI_ERR_MANIFEST_UNKNOWN,
    NGX_HTTP_OCI_ERR_NAME_INVALID,
    NGX_HTTP_OCI_ERR_NAME_UNKNOWN,
    NGX_HTTP_OCI_ERR_SIZE_INVALID,
    NGX_HTTP_OCI_ERR_UNAUTHORIZED,
    NGX_HTTP_OCI_ERR_DENIED,
    NGX_HTTP_OCI_ERR_UNSUPPORTED,
    NGX_HTTP_OCI_ERR_TOOMANYREQUESTS,
    NGX_HTTP_OCI_ERR_TAG_INVALID,
    NGX_HTTP_OCI_ERR_RANGE_INVALID,
    NGX_HTTP_OCI_ERR_PAGINATION_NUMBER_INVALID,
    NGX_HTTP_OCI_ERR_UNAVAILABLE,
    NGX_HTTP_OCI_ERR_NOT_FOUND,
    NGX_HTTP_OCI_ERR_POLICY_INVALID,
    NGX_HTTP_OCI_ERR_POLICY_UNKNOWN,
    NGX_HTTP_OCI_ERR_UNKNOWN
} ngx_http_oci_err_e;


typedef struct {
    ngx_str_t                   algorithm;
    ngx_str_t                   hex;
    ngx_str_t                   text;        /* "<algorithm>:<hex>" */
} ngx_http_oci_digest_t;


typedef struct {
    ngx_http_oci_route_e        type;
    ngx_str_t                   name;
    ngx_str_t                   reference;   /* tag, digest or upload id */
    ngx_http_oci_digest_t       digest;
    unsigned                    by_digest:1;
} ngx_http_oci_route_t;


typedef struct ngx_http_oci_redis_conf_s  ngx_http_oci_redis_conf_t;
typedef struct ngx_http_oci_spares_s      ngx_http_oci_spares_t;
typedef struct ngx_http_oci_idkey_s       ngx_http_oci_idkey_t;
typedef struct ngx_http_oci_hash_s        ngx_http_oci_hash_t;
typedef struct ngx_http_oci_sink_s        ngx_http_oci_sink_t;


/*
 * What lifecycle runs did, by trigger (0: a request, 1: the schedule),
 * counted into the observer's zone (observe/); NULL without metrics
 */
typedef struct {
    ngx_atomic_t                repositories[2];
    ngx_atomic_t                images[2];
    ngx_atomic_t                referrers[2];
} ngx_http_oci_lc_stats_t;


/*
 * What garbage collection passes did (policy/ngx_http_oci_gc_sched.c),
 * dry runs apart, counted into the observer's zone; NULL without metrics
 */
typedef struct {
    ngx_atomic_t                passes[2];   /* real, dry */
    ngx_atomic_t                unlinked;
    ngx_atomic_t                unlinked_bytes;
    ngx_atomic_t                files;
    ngx_atomic_t                bytes;
    ngx_atomic_t                referrers;
} ngx_http_oci_gc_stats_t;


/*
 * What the mirrors did (mirror/), counted into the observer's zone; NULL
 * without metrics.  Kinds: manifests, blobs, tokens; results: ok, not
 * found (404, 401, 403), failed (no answer, 5xx, 429, anything else).
 */
typedef struct {
    ngx_atomic_t                hits[2];     /* manifests, blobs: cached */
    ngx_atomic_t                fetches[3][3];
    ngx_atomic_t                bytes;       /* of blobs stored */
    ngx_atomic_t                stale;       /* tags served stale */
    ngx_atomic_t                rejected;    /* bodies not stored */
} ngx_http_oci_mirror_stats_t;


typedef struct {
    ngx_array_t                 redis;       /* ngx_http_oci_redis_conf_t * */
    ngx_array_t                 storages;    /* ngx_http_oci_storage_t */
    ngx_event_t                 sweeper;
    ngx_log_t                  *log;
    ngx_str_t                   identity;    /* of this process: locks */
    ngx_array_t                 lifecycles;  /* schedules, policy/ */
    ngx_array_t                 collectors;  /* policy/ngx_http_oci_gc.h */
    ngx_http_oci_lc_stats_t    *lc_stats;
    ngx_http_oci_gc_stats_t    *gc_stats;
    ngx_http_oci_mirror_stats_t  *mirror_stats;
    ngx_int_t                   request_id;  /* $request_id, for events */
} ngx_http_oci_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_str_t                   storage;
    ngx_str_t                   key_prefix;
    ngx_str_t                   global;      /* of keys no repository's */
    ngx_http_oci_redis_conf_t  *redis;
    size_t                      manifest_max_size;
    time_t                      upload_ttl;
    time_t                      fresh;       /* a signed id's life, s */
    ngx_flag_t                  durable;
    ngx_flag_t                  delete;
    ngx_flag_t                  auto_mount;
    ngx_int_t                   referrers_max;
    ngx_int_t                   uploads_max;

    /* events (api/ngx_http_oci_events.c) */
    ngx_flag_t                  events;
    ngx_flag_t                  events_pulls;
    ngx_int_t                   events_backlog;
    ngx_str_t                   events_backlog_text;
    ngx_http_complex_value_t   *events_actor;

    /* lifecycle policies by repository glob (policy/), or NULL */
    ngx_array_t                *lifecycle;
    ngx_msec_t                  lifecycle_interval;  /* 0: no schedule */

    /* garbage collection (policy/ngx_http_oci_gc_sched.c) */
    ngx_flag_t                  gc;          /* this node collects */
    ngx_msec_t                  gc_interval;         /* 0: on request */
    time_t                      gc_grace;
    ngx_flag_t                  gc_referrers;
    ngx_int_t                   gc_pace;     /* waits per step's time */

    /* what the scripts take as text: made once at configuration time */
    ngx_str_t                   upload_ttl_text;
    ngx_str_t                   fresh_text;
    ngx_str_t                   referrers_max_text;
    ngx_str_t                   uploads_max_text;

    ngx_http_oci_spares_t      *spares;
    ngx_http_oci_idkey_t       *idkey;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool; /* oci's, else aio's, or NULL */
#endif
} ngx_http_oci_loc_conf_t;


/*
 * Where a request body goes, as our request body filter reads it: into
 * a sink (hashed and written to a file), or into one buffer in memory.
 */

typedef enum {
    NGX_HTTP_OCI_BODY_NONE = 0,              /* nginx's own handling */
    NGX_HTTP_OCI_BODY_SINK,
    NGX_HTTP_OCI_BODY_MEMORY
} ngx_http_oci_body_mode_e;


typedef struct {
    ngx_http_oci_body_mode_e    mode;
    ngx_http_oci_sink_t        *sink;
    u_char                     *mem;
    size_t                      mem_len;
    size_t                      mem_max;
    off_t                       received;    /* bytes of this body */
    ngx_uint_t                  status;      /* an error seen: the answer */
    ngx_buf_t                  *eof;
    ngx_chain_t                 eof_link;
} ngx_http_oci_body_t;


typedef struct {
    ngx_http_oci_route_t        route;
    ngx_http_oci_loc_conf_t    *conf;
    unsigned                    routed:1;    /* route.type is known */

    /* "<prefix>{<name>}:", the base of every key of the repository */
    ngx_str_t                   base;

    /* where its scripts put what changes keys no repository's */
    ngx_str_t                   outbox;

    /* the digest the request is about, as text */
    ngx_str_t                   digest;

    ngx_http_oci_body_t         body;

    /* the endpoint's own state (see its header), or NULL */
    void                       *data;

    /* the request's mirror (mirror/ngx_http_oci_mirror.h), or NULL */
    void                       *mirror;
} ngx_http_oci_ctx_t;


/* a manifest as Redis holds it: body is NULL for a HEAD (size only) */
typedef struct {
    ngx_str_t                   digest;
    ngx_str_t                   type;
    u_char                     *body;
    size_t                      size;
} ngx_http_oci_cached_t;


extern ngx_module_t  ngx_http_oci_registry_module;


#endif /* _NGX_HTTP_OCI_COMMON_H_INCLUDED_ */
