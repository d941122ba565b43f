
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_REDIS_H_INCLUDED_
#define _NGX_HTTP_OCI_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_oci_registry.h"


typedef struct ngx_http_oci_redis_s  ngx_http_oci_redis_t;


typedef struct {
    int                         argc;
    const char                **argv;
    const size_t               *argvlen;
} ngx_http_oci_redis_cmd_t;


typedef enum {
    NGX_HTTP_OCI_SCRIPT_MANIFEST_GET = 0,
    NGX_HTTP_OCI_SCRIPT_MANIFEST_PUT,
    NGX_HTTP_OCI_SCRIPT_MANIFEST_DELETE,
    NGX_HTTP_OCI_SCRIPT_REFERRERS,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_LOCK,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_SAVE,
    NGX_HTTP_OCI_SCRIPT_BLOB_LINK,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_CREATE,
    NGX_HTTP_OCI_SCRIPT_BLOB_CLOSE,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_STATUS,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_UNLOCK,
    NGX_HTTP_OCI_SCRIPT_UPLOAD_RENEW,
    NGX_HTTP_OCI_SCRIPT_N
} ngx_http_oci_script_e;


/* ngx_http_oci_scripts.c */
extern ngx_str_t  ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_N];


/*
 * Called with the reply of a command issued for a request.  The reply is
 * freed by hiredis when the handler returns, so anything kept must be
 * copied.  The handler owns the request from then on: it must finalize it
 * or issue another command.  A failed or timed out command never reaches
 * the handler: the request is answered with 503 UNAVAILABLE instead.
 */
typedef void (*ngx_http_oci_redis_handler_pt)(ngx_http_request_t *r,
    redisReply *reply);


struct ngx_http_oci_redis_conf_s {
    ngx_str_t                   addr;        /* as written, for logs */
    u_char                     *host;        /* NUL-terminated IP or path */
    int                         port;
    unsigned                    unix_socket:1;
    ngx_int_t                   db;
    ngx_str_t                   password;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;

    ngx_http_oci_redis_t       *conn;        /* per worker, init_process */
};


char *ngx_http_oci_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_oci_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_oci_redis_conf_t *rcf);
void ngx_http_oci_redis_exit_process(ngx_http_oci_redis_conf_t *rcf);

/*
 * Sends one command for the request.  Returns NGX_OK when the command is
 * queued (the handler will run later), or NGX_ERROR when Redis cannot be
 * reached now (the caller answers 503).
 */
ngx_int_t ngx_http_oci_redis_command(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    int argc, const char **argv, const size_t *argvlen);

/*
 * Sends a command whose reply nobody waits for (cleanups from places
 * where no request can wait, such as a pool cleanup).  While Redis is
 * away it is kept (a bounded number of them) and sent after the
 * reconnect.
 */
void ngx_http_oci_redis_fire(ngx_http_oci_redis_conf_t *rcf, int argc,
    const char **argv, const size_t *argvlen);

/*
 * Runs one of our Lua scripts with EVALSHA (EVAL when Redis does not know
 * it yet).  argv holds the keys, then the arguments; it must stay valid
 * until the handler runs (allocate it from the request pool).
 */
ngx_int_t ngx_http_oci_redis_script(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, int nkeys, int argc, const char **argv,
    const size_t *argvlen);

/*
 * The same, with a command that undoes it if its reply is lost (a timeout
 * or a dropped connection: it may or may not have run).  The undo is
 * formatted at once and sent after the reconnect.
 */
ngx_int_t ngx_http_oci_redis_script_undo(ngx_http_request_t *r,
    ngx_http_oci_redis_conf_t *rcf, ngx_http_oci_redis_handler_pt handler,
    ngx_http_oci_script_e script, int nkeys, int argc, const char **argv,
    const size_t *argvlen, ngx_http_oci_redis_cmd_t *undo);


/* ngx_http_oci_handler.c */
ngx_int_t ngx_http_oci_reply_deleted(ngx_http_request_t *r, redisReply *reply,
    ngx_http_oci_err_e err, ngx_str_t *detail);


#endif /* _NGX_HTTP_OCI_REDIS_H_INCLUDED_ */
