
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_UPLOADS_H_INCLUDED_
#define _NGX_HTTP_OCI_UPLOADS_H_INCLUDED_


/*
 * Blob uploads (end-4 to end-6, end-11, end-13, end-14): POST starts one
 * (or uploads a whole blob with ?digest=, or mounts one), PATCH appends a
 * chunk, PUT closes it with the digest of the whole blob, GET reports
 * progress, DELETE cancels.  The bytes go to <root>/_uploads/<id> (or a
 * spare file), hashed as they arrive; the state (offset, algorithm, the
 * exported hash) lives in Redis, so any worker of any node sharing Redis
 * and the storage root takes the next chunk.  One writer at a time: a
 * chunk takes a lock in Redis and an flock() on the file.
 *
 *     ngx_http_oci_upload_session.c  POST, GET, DELETE; the headers
 *     ngx_http_oci_upload_chunk.c    PATCH and the closing PUT's chunk
 *     ngx_http_oci_upload_lock.c     the lock, its holder, its renewal
 *     ngx_http_oci_upload_eager.c    a closing PUT with a small blob whole
 *     ngx_http_oci_upload_commit.c   the file, the commit, the link
 *     ngx_http_oci_mount.c           POST ?mount=
 */


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_store.h"
#include "ngx_http_oci_redis.h"


typedef enum {
    NGX_HTTP_OCI_UPLOAD_SESSION = 0,         /* POST, GET, DELETE */
    NGX_HTTP_OCI_UPLOAD_MONOLITHIC,          /* POST ?digest= with the blob */
    NGX_HTTP_OCI_UPLOAD_CHUNK,               /* PATCH */
    NGX_HTTP_OCI_UPLOAD_CLOSE,               /* PUT ?digest=, last chunk */
    NGX_HTTP_OCI_UPLOAD_EAGER,               /* PUT, small blob read first */
    NGX_HTTP_OCI_UPLOAD_MIRROR               /* a mirror's fetched blob */
} ngx_http_oci_upload_mode_e;


typedef struct ngx_http_oci_upload_s  ngx_http_oci_upload_t;

/* the blob is linked: the answer is the caller's (a mirror's stream) */
typedef void (*ngx_http_oci_upload_done_pt)(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);

/* sends the link script: after the blob's record was held, on a cluster */
typedef ngx_int_t (*ngx_http_oci_upload_link_pt)(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);


struct ngx_http_oci_upload_s {
    ngx_http_oci_ctx_t         *ctx;
    ngx_http_oci_upload_mode_e  mode;

    ngx_str_t                   id;
    ngx_str_t                   path;        /* <root>/_uploads/<id> */
    ngx_str_t                   token;       /* of our lock */
    ngx_str_t                   stale;       /* a dead holder's token */

    ngx_str_t                   digest;      /* expected, from ?digest= */
    ngx_str_t                   from;        /* a mount's source */
    ngx_http_oci_digest_t       expected;
    ngx_uint_t                  alg;         /* of the running hash */
    ngx_http_oci_hash_t        *hash;

    off_t                       offset;      /* where this body starts */
    off_t                       range_start;
    off_t                       range_end;   /* -1: no Content-Range */

    ngx_fd_t                    fd;
    ngx_http_oci_sink_t         sink;
    ngx_str_t                   blob_path;
    ngx_http_oci_commit_t       commit;

    ngx_event_t                 renew;       /* of the lock, while locked */

    /* the answer of a rejected upload, once its state is gone */
    ngx_uint_t                  reject_status;
    ngx_http_oci_err_e          reject_err;
    ngx_str_t                  *reject_detail;

    unsigned                    locked:1;    /* we hold the upload lock */
    unsigned                    anonymous:1; /* the file is a spare */
    unsigned                    remove:1;    /* unlink the file on cleanup */
    unsigned                    fresh:1;     /* a signed id, still fresh */
    unsigned                    verify:1;    /* digest of another alg */
    unsigned                    held:1;      /* the record, on a cluster */

    ngx_http_oci_upload_done_pt done;        /* NULL: answer 201 */
    ngx_http_oci_upload_link_pt link;        /* once held */
};


/* ngx_http_oci_upload_session.c */
ngx_int_t ngx_http_oci_uploads(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
ngx_int_t ngx_http_oci_upload_create(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_int_t ngx_http_oci_upload_accepted(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, ngx_uint_t status, off_t size);
ngx_int_t ngx_http_oci_upload_full(ngx_http_request_t *r, redisReply *reply);

/* ngx_http_oci_upload_chunk.c */
ngx_int_t ngx_http_oci_upload_chunk(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_int_t ngx_http_oci_upload_monolithic(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_int_t ngx_http_oci_upload_range(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
void ngx_http_oci_upload_locked(ngx_http_request_t *r, redisReply *reply);

/* ngx_http_oci_upload_lock.c */

/* the longest lease holder a reply may name that is read as one */
#define NGX_HTTP_OCI_HOLDER_MAX  256

/*
 * NGX_OK: "holder" ("<identity>:<pid>:...") is a process of this boot and
 * PID namespace that is gone, so what it holds may be taken at once
 */
ngx_int_t ngx_http_oci_holder_dead(ngx_str_t *identity, ngx_str_t *holder);

/*
 * NGX_OK: a background script's reply is {"LOCKED", holder} and the holder
 * is such a process; it is copied into stale (NGX_HTTP_OCI_HOLDER_MAX
 * bytes at stale->data), for the next call to take the lease over
 */
ngx_int_t ngx_http_oci_lease_dead(ngx_str_t *identity, redisReply *reply,
    ngx_str_t *stale);
ngx_int_t ngx_http_oci_process_identity(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *id);
ngx_int_t ngx_http_oci_upload_token(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_int_t ngx_http_oci_upload_lock(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_int_t ngx_http_oci_upload_held(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, redisReply *reply,
    ngx_int_t (*again)(ngx_http_request_t *r, ngx_http_oci_upload_t *up));
void ngx_http_oci_upload_unlock_args(ngx_http_oci_upload_t *up,
    ngx_http_oci_args_t *a, const char **argv, size_t *lens, u_char *key);
void ngx_http_oci_upload_release(ngx_http_oci_upload_t *up);
void ngx_http_oci_upload_renew_start(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);

/* ngx_http_oci_upload_eager.c */
#if (NGX_THREADS)
ngx_int_t ngx_http_oci_upload_eager(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_int_t ngx_http_oci_upload_eager_close(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
#endif

/* ngx_http_oci_upload_commit.c */
ngx_int_t ngx_http_oci_upload_file(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
#if (NGX_THREADS)
ngx_thread_pool_t *ngx_http_oci_thread_pool(ngx_http_request_t *r);
ngx_int_t ngx_http_oci_upload_spare(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, ngx_pool_cleanup_t *cln);
#endif
void ngx_http_oci_upload_finish(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
ngx_http_oci_upload_t *ngx_http_oci_upload_released(ngx_http_request_t *r,
    redisReply *reply);
void ngx_http_oci_blob_created(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up);
void ngx_http_oci_upload_fail(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, ngx_uint_t status, ngx_http_oci_err_e err,
    ngx_str_t *detail);
void ngx_http_oci_upload_reject(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, ngx_uint_t status, ngx_http_oci_err_e err,
    ngx_str_t *detail);

/*
 * policy/ngx_http_oci_gc_cluster.c: on a Redis Cluster a link holds the
 * blob's record first, and its reply settles the hold
 */
ngx_int_t ngx_http_oci_gc_hold(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, ngx_http_oci_upload_link_pt link);
void ngx_http_oci_gc_settle(ngx_http_request_t *r, ngx_http_oci_upload_t *up,
    redisReply *reply);

/* ngx_http_oci_mount.c */
ngx_int_t ngx_http_oci_upload_mount(ngx_http_request_t *r,
    ngx_http_oci_upload_t *up, ngx_str_t *digest, ngx_str_t *from);


#endif /* _NGX_HTTP_OCI_UPLOADS_H_INCLUDED_ */
