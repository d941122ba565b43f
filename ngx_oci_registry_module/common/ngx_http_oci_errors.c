
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_errors.h"
#include "ngx_http_oci_json.h"


/*
 * The OCI error body, {"errors":[{"code","message","detail"}]}: the codes
 * of the distribution spec and their messages, and the builder.  Pure (no
 * request), so that it is fuzzed with hostile details.
 */


typedef struct {
    ngx_str_t                   code;
    ngx_str_t                   message;
} ngx_http_oci_err_t;


/* indexed by ngx_http_oci_err_e; messages follow the spec's wording */
static ngx_http_oci_err_t  ngx_http_oci_errors[] = {
    { ngx_string("BLOB_UNKNOWN"),
      ngx_string("blob unknown to registry") },
    { ngx_string("BLOB_UPLOAD_INVALID"),
      ngx_string("blob upload invalid") },
    { ngx_string("BLOB_UPLOAD_UNKNOWN"),
      ngx_string("blob upload unknown to registry") },
    { ngx_string("DIGEST_INVALID"),
      ngx_string("provided digest did not match uploaded content") },
    { ngx_string("MANIFEST_BLOB_UNKNOWN"),
      ngx_string("manifest references a manifest or blob unknown to "
                 "registry") },
    { ngx_string("MANIFEST_INVALID"),
      ngx_string("manifest invalid") },
    { ngx_string("MANIFEST_UNKNOWN"),
      ngx_string("manifest unknown to registry") },
    { ngx_string("NAME_INVALID"),
      ngx_string("invalid repository name") },
    { ngx_string("NAME_UNKNOWN"),
      ngx_string("repository name not known to registry") },
    { ngx_string("SIZE_INVALID"),
      ngx_string("provided length did not match content length") },
    { ngx_string("UNAUTHORIZED"),
      ngx_string("authentication required") },
    { ngx_string("DENIED"),
      ngx_string("requested access to the resource is denied") },
    { ngx_string("UNSUPPORTED"),
      ngx_string("the operation is unsupported") },
    { ngx_string("TOOMANYREQUESTS"),
      ngx_string("too many requests") },
    { ngx_string("TAG_INVALID"),
      ngx_string("manifest tag did not match URI") },
    { ngx_string("RANGE_INVALID"),
      ngx_string("invalid content range") },
    { ngx_string("PAGINATION_NUMBER_INVALID"),
      ngx_string("invalid number of results requested") },
    { ngx_string("UNAVAILABLE"),
      ngx_string("service unavailable") },
    { ngx_string("NOT_FOUND"),
      ngx_string("no such API endpoint") },
    { ngx_string("POLICY_INVALID"),
      ngx_string("lifecycle policy invalid") },
    { ngx_string("POLICY_UNKNOWN"),
      ngx_string("lifecycle policy unknown to registry") },
    { ngx_string("UNKNOWN"),
      ngx_string("unknown error") }
};


typedef struct {
    ngx_http_oci_err_t         *error;
    ngx_str_t                  *detail;
} ngx_http_oci_error_body_t;


static void ngx_http_oci_error_fill(ngx_http_oci_text_t *t, void *data);


/*
 * The detail usually carries client input: it is escaped into a JSON
 * string.  A NULL detail is sent as null.
 */

ngx_int_t
ngx_http_oci_error_body(ngx_pool_t *pool, ngx_http_oci_err_e err,
    ngx_str_t *detail, ngx_str_t *out)
{
    ngx_http_oci_error_body_t  eb;

    if ((size_t) err >= sizeof(ngx_http_oci_errors)
                        / sizeof(ngx_http_oci_err_t))
    {
        err = NGX_HTTP_OCI_ERR_UNKNOWN;
    }

    eb.error = &ngx_http_oci_errors[err];
    eb.detail = detail;

    return ngx_http_oci_text_build(pool, ngx_http_oci_error_fill, &eb, out);
}


static void
ngx_http_oci_error_fill(ngx_http_oci_text_t *t, void *data)
{
    ngx_http_oci_error_body_t  *eb = data;

    ngx_http_oci_text_lit(t, "{\"errors\":[{\"code\":\"");
    ngx_http_oci_text_str(t, &eb->error->code);
    ngx_http_oci_text_lit(t, "\",\"message\":\"");
    ngx_http_oci_text_str(t, &eb->error->message);
    ngx_http_oci_text_lit(t, "\",\"detail\":");

    if (eb->detail != NULL) {
        ngx_http_oci_text_lit(t, "\"");
        ngx_http_oci_text_json(t, eb->detail->data, eb->detail->len);
        ngx_http_oci_text_lit(t, "\"");

    } else {
        ngx_http_oci_text_lit(t, "null");
    }

    ngx_http_oci_text_lit(t, "}]}");
}
