
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_STORE_H_INCLUDED_
#define _NGX_HTTP_OCI_STORE_H_INCLUDED_


/*
 * The storage root on the file system: paths, the master's preparation
 * of a root, signed upload ids, upload files, the sink that writes
 * blob bytes, the commit that makes them a blob, spare files, the sweep.
 */


#include "ngx_http_oci_common.h"


/*
 * Anonymous (O_TMPFILE) files a worker keeps open in <root>/_uploads for
 * uploads that complete in one request: creating an inode can cost more
 * than the rest of a small push (see ngx_http_oci_spare_take()).
 */

#define NGX_HTTP_OCI_SPARES          8

struct ngx_http_oci_spares_s {
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
};


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

struct ngx_http_oci_idkey_s {
    u_char                      key[NGX_HTTP_OCI_IDKEY_LEN];
    ngx_uint_t                  loaded;
};


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


/*
 * Making a verified upload the blob (ngx_http_oci_blob_commit()): what it
 * needs, since it may run in a thread pool task, and what came of it.
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
    unsigned                    verify:1;    /* hash the file first */

    ngx_err_t                   err;
    char                       *failed;      /* the step that failed */
    unsigned                    replaced:1;  /* a bad blob file was */
    unsigned                    corrupt:1;   /* our file != our bytes */
    unsigned                    mismatch:1;  /* verify: not the digest */
} ngx_http_oci_commit_t;


struct ngx_http_oci_sink_s {
    ngx_fd_t                    fd;
    off_t                       offset;      /* of the sink's first byte */
    off_t                       limit;       /* the most it takes, or -1 */
    off_t                       written;
    ngx_http_oci_hash_t        *hash;        /* NULL: hashed elsewhere */
    u_char                     *name;        /* of the file, for logs */
    ngx_err_t                   err;
};


/*
 * The garbage collector's file system work (ngx_http_oci_gc_fs_run()):
 * a batch of blob files, or one directory to walk
 */
typedef struct {
    ngx_str_t                   digest;      /* "<algorithm>:<hex>" */
    off_t                       size;
    unsigned                    found:1;     /* the file or its trash */
    unsigned                    trashed:1;   /* under its trash name */
    unsigned                    collect:1;   /* no repository links it */
    unsigned                    remove:1;    /* confirmed: delete it */
    unsigned                    restored:1;
} ngx_http_oci_gc_file_t;


typedef enum {
    NGX_HTTP_OCI_GC_MEASURE = 0,             /* sizes only: a dry run */
    NGX_HTTP_OCI_GC_TRASH,                   /* to the trash names */
    NGX_HTTP_OCI_GC_FINISH,                  /* trash: removed or back */
    NGX_HTTP_OCI_GC_WALK                     /* a directory: candidates */
} ngx_http_oci_gc_op_e;


typedef struct {
    ngx_str_t                   root;
    ngx_http_oci_gc_op_e        op;
    ngx_array_t                 files;       /* ngx_http_oci_gc_file_t */
    ngx_pool_t                 *pool;        /* the walk's allocations */
    ngx_uint_t                  dir;         /* walk: 0-255 sha256, sha512 */
    ngx_uint_t                  ndirs;       /* walk: from dir on */
    time_t                      since;       /* walk: changed since */
    time_t                      before;      /* walk: files changed before */

    ngx_uint_t                  freed;
    off_t                       freed_bytes;
    ngx_err_t                   err;
    char                       *failed;
} ngx_http_oci_gc_fs_t;


/* ngx_http_oci_paths.c */
ngx_int_t ngx_http_oci_blob_path(ngx_pool_t *pool, ngx_str_t *root,
    ngx_http_oci_digest_t *d, ngx_str_t *path);
ngx_int_t ngx_http_oci_upload_path(ngx_pool_t *pool, ngx_str_t *root,
    ngx_str_t *id, ngx_str_t *path);

/* ngx_http_oci_root.c: in the master, at configuration time */
ngx_int_t ngx_http_oci_storage_init(ngx_cycle_t *cycle,
    ngx_http_oci_storage_t *st);

/* ngx_http_oci_upload_id.c */
ngx_int_t ngx_http_oci_upload_id(ngx_pool_t *pool, ngx_str_t *id);
ngx_int_t ngx_http_oci_upload_id_signed(ngx_pool_t *pool,
    ngx_http_oci_idkey_t *k, ngx_str_t *base, ngx_str_t *id);
ngx_int_t ngx_http_oci_upload_id_fresh(ngx_http_oci_idkey_t *k,
    ngx_str_t *base, ngx_str_t *id, time_t window);

/* ngx_http_oci_upload_file.c */
ngx_fd_t ngx_http_oci_upload_open(ngx_log_t *log, ngx_str_t *path,
    off_t offset);

/* ngx_http_oci_sink.c */
void ngx_http_oci_sink_init(ngx_http_oci_sink_t *s, ngx_fd_t fd,
    u_char *name, off_t offset, off_t limit, ngx_http_oci_hash_t *hash);
ngx_int_t ngx_http_oci_sink_write(ngx_http_oci_sink_t *s, u_char *p,
    size_t len);

/* ngx_http_oci_commit.c: system calls only (thread pool) */
void ngx_http_oci_blob_commit(ngx_http_oci_commit_t *c);
ngx_int_t ngx_http_oci_blob_verify(u_char *path, ngx_uint_t alg,
    u_char *hex, off_t size);

/* ngx_http_oci_spares.c */
ngx_http_oci_spares_t *ngx_http_oci_spares_create(ngx_pool_t *pool,
    ngx_str_t *root);
ngx_err_t ngx_http_oci_spare_link(ngx_fd_t fd, u_char *name);
#if (NGX_THREADS)
ngx_fd_t ngx_http_oci_spare_take(ngx_http_oci_spares_t *sp,
    ngx_thread_pool_t *tp, ngx_log_t *log);
#endif

/* ngx_http_oci_sweep.c: system calls only (thread pool) */
void ngx_http_oci_sweep_run(ngx_http_oci_sweep_t *sw);

/* ngx_http_oci_gc_files.c: system calls only (thread pool) */
void ngx_http_oci_gc_fs_run(ngx_http_oci_gc_fs_t *fs);

/* ngx_http_oci_sweeper.c: its schedule, in one worker */
void ngx_http_oci_sweeper_start(ngx_http_oci_main_conf_t *omcf,
    ngx_log_t *log);


#endif /* _NGX_HTTP_OCI_STORE_H_INCLUDED_ */
