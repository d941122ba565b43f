
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_SCRIPTS_H_INCLUDED_
#define _NGX_HTTP_OCI_SCRIPTS_H_INCLUDED_


#include "ngx_http_oci_common.h"

#include <hiredis/hiredis.h>


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
    NGX_HTTP_OCI_SCRIPT_BLOB_GET,
    NGX_HTTP_OCI_SCRIPT_BLOB_DELETE,
    NGX_HTTP_OCI_SCRIPT_EVENTS_READ,
    NGX_HTTP_OCI_SCRIPT_EVENTS_ACK,
    NGX_HTTP_OCI_SCRIPT_LIFECYCLE_IMAGES,
    NGX_HTTP_OCI_SCRIPT_LIFECYCLE_EXPIRE,
    NGX_HTTP_OCI_SCRIPT_N
} ngx_http_oci_script_e;


/* what a script says happened (see ngx_http_oci_scripts.c) */
typedef enum {
    NGX_HTTP_OCI_R_NONE = 0,
    NGX_HTTP_OCI_R_OK,
    NGX_HTTP_OCI_R_DELETED,
    NGX_HTTP_OCI_R_UNKNOWN,
    NGX_HTTP_OCI_R_LOCKED,
    NGX_HTTP_OCI_R_STATE,
    NGX_HTTP_OCI_R_FULL,
    NGX_HTTP_OCI_R_SAVED,
    NGX_HTTP_OCI_R_LINKED,
    NGX_HTTP_OCI_R_LINKED_FRESH,
    NGX_HTTP_OCI_R_LOCK_LOST,
    NGX_HTTP_OCI_R_HAD_BYTES,
    NGX_HTTP_OCI_R_CREATED,
    NGX_HTTP_OCI_R_CANCELLED,
    NGX_HTTP_OCI_R_BLOB,
    NGX_HTTP_OCI_R_MANIFEST,
    NGX_HTTP_OCI_R_REFERRERS
} ngx_http_oci_reply_e;


extern ngx_str_t  ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_N];

/* 1 for a script whose change a request acknowledges (see "wait") */
extern const u_char  ngx_http_oci_script_writes[NGX_HTTP_OCI_SCRIPT_N];

ngx_http_oci_reply_e ngx_http_oci_script_reply(redisReply *reply);


#endif /* _NGX_HTTP_OCI_SCRIPTS_H_INCLUDED_ */
