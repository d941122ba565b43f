
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REGISTRY_H_INCLUDED_
#define _NGX_HTTP_OCI_REGISTRY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_text.h"


#define NGX_HTTP_OCI_MAX_NAME        255
#define NGX_HTTP_OCI_MAX_TAG         128
#define NGX_HTTP_OCI_UPLOAD_ID_LEN   36
#define NGX_HTTP_OCI_TAGS_MAX        32
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
    NGX_HTTP_OCI_ROUTE_REFERRERS
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


/*
 * Anonymous (O_TMPFILE) files a worker keeps open in <root>/_uploads for
 * uploads that complete in one request: creating an inode can cost more
 * than the rest of a small push (see ngx_http_oci_spare_take()).
 */

#define NGX_HTTP_OCI_SPARES          8

typedef struct {
    u_char                     *dir;         /* <root>/_uploads */
    ngx_fd_t                    fd[NGX_HTTP_OCI_SPARES];
    ngx_uint_t                  n;
    time_t                      retry;       /* after a failed refill */
#if (NGX_THREADS)
    ngx_thread_task_t          *task;        /* the refill, reused */
#endif
    unsigned                    busy:1;      /* a refill is running */
    unsigned                    linked:1;    /* a link was tried: works */
    unsigned                    off:1;       /* no O_TMPFILE here */
} ngx_http_oci_spares_t;


/*
 * The key that signs upload ids, so that a POST needs no Redis: one per
 * storage root, in <root>/upload-id.key, shared by every node that shares
 * the root.  Loaded by the master; "loaded" is 0 when it could not be.
 */

#define NGX_HTTP_OCI_IDKEY_LEN       32

/*
 * How long a signed upload id stays valid with no state in Redis: a
 * client gets this long from its POST to its first chunk (or the upload
 * TTL, if shorter)
 */
#define NGX_HTTP_OCI_FRESH           600

typedef struct {
    u_char                      key[NGX_HTTP_OCI_IDKEY_LEN];
    ngx_uint_t                  loaded;
} ngx_http_oci_idkey_t;


/* a sweep of a root's _uploads (ngx_http_oci_sweep_run()) */
typedef struct {
    u_char                     *dir;         /* <root>/_uploads */
    time_t                      ttl;
    time_t                      now;
    ngx_uint_t                  removed;
    ngx_err_t                   err;
    char                       *failed;
} ngx_http_oci_sweep_t;


typedef struct {
    ngx_str_t                   root;
    time_t                      ttl;
    ngx_http_oci_spares_t      *spares;
    ngx_http_oci_idkey_t       *idkey;
    ngx_http_oci_sweep_t        sweep;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool; /* for the sweep, or NULL */
    ngx_thread_task_t          *task;
#endif
    unsigned                    sweeping:1;
} ngx_http_oci_storage_t;


typedef struct {
    ngx_array_t                 redis;       /* ngx_http_oci_redis_conf_t * */
    ngx_array_t                 storages;    /* ngx_http_oci_storage_t */
    ngx_event_t                 sweeper;
    ngx_log_t                  *log;
    ngx_str_t                   identity;    /* of this process: locks */
} ngx_http_oci_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_str_t                   storage;
    ngx_str_t                   key_prefix;
    ngx_http_oci_redis_conf_t  *redis;
    size_t                      manifest_max_size;
    time_t                      upload_ttl;
    ngx_str_t                   upload_ttl_text;   /* "%T", for scripts */
    time_t                      fresh;       /* a signed id's life, s */
    ngx_str_t                   fresh_text;
    ngx_flag_t                  durable;
    ngx_flag_t                  delete;
    ngx_flag_t                  auto_mount;
    ngx_int_t                   referrers_max;
    ngx_str_t                   referrers_max_text;
    ngx_int_t                   uploads_max;
    ngx_str_t                   uploads_max_text;
    ngx_http_oci_spares_t      *spares;
    ngx_http_oci_idkey_t       *idkey;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
} ngx_http_oci_loc_conf_t;


typedef struct ngx_http_oci_hash_s  ngx_http_oci_hash_t;


/*
 * Making a verified upload the blob (ngx_http_oci_blob_commit()): what it
 * needs, copied, since it may run in a thread pool task, and what came
 * of it.
 */
typedef struct {
    ngx_fd_t                    fd;
    u_char                     *upload;      /* the upload's file name */
    u_char                     *blob;
    ngx_uint_t                  alg;
    u_char                     *hex;         /* the expected digest */
    off_t                       size;        /* the bytes received */
    unsigned                    durable:1;
    unsigned                    anonymous:1; /* the bytes are only in fd */
    unsigned                    leftover:1;  /* remove "upload" first */

    ngx_err_t                   err;
    char                       *failed;      /* the step that failed */
    unsigned                    replaced:1;  /* a bad blob file was */
    unsigned                    corrupt:1;   /* our file != our bytes */
} ngx_http_oci_commit_t;


typedef struct {
    ngx_http_oci_route_t        route;
    ngx_http_oci_loc_conf_t    *conf;

    /* "<prefix>{<name>}:", the base of every key of the repository */
    ngx_str_t                   base;

    ngx_int_t                   page_n;
    ngx_str_t                   page_last;

    /* a request body streamed through our body filter */
    ngx_file_t                  file;
    off_t                       offset;      /* where this body starts */
    off_t                       received;    /* bytes of this body */
    off_t                       range_start;
    off_t                       range_end;   /* -1: no Content-Range */
    ngx_http_oci_hash_t        *hash;
    u_char                     *mem;         /* manifests: the body */
    size_t                      mem_len;
    size_t                      mem_max;
    ngx_buf_t                  *eof;
    ngx_chain_t                 eof_link;
    ngx_uint_t                  body_status; /* error seen while reading */

    /* uploads */
    ngx_str_t                   upload_id;
    ngx_str_t                   upload_path;
    ngx_str_t                   token;
    ngx_str_t                   stale;       /* a dead holder's token */
    ngx_str_t                   digest;      /* expected, from ?digest= */
    ngx_http_oci_digest_t       parsed;
    ngx_uint_t                  alg;
    ngx_str_t                   final;       /* computed "<alg>:<hex>" */
    ngx_str_t                   blob_path;
    ngx_msec_t                  lock_refreshed;
    ngx_http_oci_commit_t       commit;

    /* manifests */
    ngx_str_t                   tags[NGX_HTTP_OCI_TAGS_MAX];
    ngx_uint_t                  ntags;
    ngx_str_t                   subject;

    unsigned                    stream:1;    /* body to ctx->file */
    unsigned                    memory:1;    /* body to ctx->mem */
    unsigned                    locked:1;    /* we hold the upload lock */
    unsigned                    closing:1;   /* PUT: the last chunk */
    unsigned                    monolithic:1;
    unsigned                    anonymous:1; /* file is a spare: no name */
    unsigned                    eager:1;     /* PUT: whole blob, no lock */
    unsigned                    lazy:1;      /* a signed id, still fresh */
} ngx_http_oci_ctx_t;


/* ngx_http_oci_route.c: pure parsers, no request or I/O (fuzzable) */
ngx_int_t ngx_http_oci_route_parse(ngx_str_t *uri, ngx_http_oci_route_t *rt,
    ngx_http_oci_err_e *err);
ngx_int_t ngx_http_oci_name_valid(u_char *p, size_t len);
ngx_int_t ngx_http_oci_tag_valid(u_char *p, size_t len);
ngx_int_t ngx_http_oci_digest_parse(u_char *p, size_t len,
    ngx_http_oci_digest_t *d);
ngx_uint_t ngx_http_oci_route_methods(ngx_http_oci_route_e type);
ngx_int_t ngx_http_oci_content_range_parse(u_char *p, size_t len,
    off_t *start, off_t *end);
ngx_int_t ngx_http_oci_arg_next(ngx_str_t *args, u_char **pos, char *name,
    ngx_str_t *value);

/* ngx_http_oci_error.c */
ngx_int_t ngx_http_oci_send_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_oci_err_e err, ngx_str_t *detail);
ngx_int_t ngx_http_oci_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len);
ngx_int_t ngx_http_oci_send_typed(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len);
ngx_int_t ngx_http_oci_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_oci_nosniff_header(ngx_http_request_t *r);

/* ngx_http_oci_errors.c: pure */
ngx_int_t ngx_http_oci_error_body(ngx_pool_t *pool, ngx_http_oci_err_e err,
    ngx_str_t *detail, ngx_str_t *out);

/* ngx_http_oci_handler.c */
ngx_int_t ngx_http_oci_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_oci_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_oci_unescape(ngx_http_request_t *r, ngx_str_t *value);
ngx_int_t ngx_http_oci_suspend(ngx_http_request_t *r, ngx_int_t rc);
const char **ngx_http_oci_argv(ngx_http_request_t *r, ngx_uint_t n,
    size_t **lens);
void ngx_http_oci_unavailable(ngx_http_request_t *r);
void ngx_http_oci_finalize_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_http_oci_err_e err, ngx_str_t *detail);
ngx_int_t ngx_http_oci_location(ngx_http_request_t *r, char *kind,
    ngx_str_t *ref);
ngx_int_t ngx_http_oci_created(ngx_http_request_t *r, char *kind,
    ngx_str_t *digest);
ngx_int_t ngx_http_oci_set_str(ngx_http_request_t *r, ngx_str_t *dst,
    u_char *src, size_t len);

/* ngx_http_oci_body.c */
ngx_int_t ngx_http_oci_body_init(ngx_conf_t *cf);
ngx_int_t ngx_http_oci_body_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt done);
ngx_uint_t ngx_http_oci_body_replay(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
ngx_uint_t ngx_http_oci_body_write_file(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, u_char *p, size_t len, off_t off);

/* ngx_http_oci_storage.c */
ngx_int_t ngx_http_oci_blob_path(ngx_pool_t *pool, ngx_str_t *root,
    ngx_http_oci_digest_t *d, ngx_str_t *path);
ngx_int_t ngx_http_oci_upload_path(ngx_pool_t *pool, ngx_str_t *root,
    ngx_str_t *id, ngx_str_t *path);
ngx_int_t ngx_http_oci_upload_id(ngx_pool_t *pool, ngx_str_t *id);
ngx_int_t ngx_http_oci_upload_id_signed(ngx_pool_t *pool,
    ngx_http_oci_idkey_t *k, ngx_str_t *base, ngx_str_t *id);
ngx_int_t ngx_http_oci_upload_id_fresh(ngx_http_oci_idkey_t *k,
    ngx_str_t *base, ngx_str_t *id, time_t window);
ngx_int_t ngx_http_oci_storage_init(ngx_cycle_t *cycle,
    ngx_http_oci_storage_t *st);
ngx_int_t ngx_http_oci_process_identity(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *id);
ngx_fd_t ngx_http_oci_upload_open(ngx_log_t *log, ngx_str_t *path,
    off_t offset);
void ngx_http_oci_sweep_run(ngx_http_oci_sweep_t *sw);
void ngx_http_oci_blob_commit(ngx_http_oci_commit_t *c);
ngx_int_t ngx_http_oci_blob_verify(u_char *path, ngx_uint_t alg, u_char *hex,
    off_t size);
ngx_http_oci_spares_t *ngx_http_oci_spares_create(ngx_pool_t *pool,
    ngx_str_t *root);
ngx_err_t ngx_http_oci_spare_link(ngx_fd_t fd, u_char *name);
#if (NGX_THREADS)
ngx_fd_t ngx_http_oci_spare_take(ngx_http_oci_spares_t *sp,
    ngx_thread_pool_t *tp, ngx_log_t *log);
#endif

/* ngx_http_oci_blob.c */
ngx_int_t ngx_http_oci_blob(ngx_http_request_t *r, ngx_http_oci_ctx_t *ctx);

/* ngx_http_oci_upload.c */
ngx_int_t ngx_http_oci_upload(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
size_t ngx_http_oci_upload_lock_key(ngx_http_oci_ctx_t *ctx, u_char *buf);

/* ngx_http_oci_manifest.c */
ngx_int_t ngx_http_oci_manifest(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
ngx_int_t ngx_http_oci_referrers(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


extern ngx_module_t  ngx_http_oci_registry_module;


#endif /* _NGX_HTTP_OCI_REGISTRY_H_INCLUDED_ */
