
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_JSON_H_INCLUDED_
#define _NGX_HTTP_OCI_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_tree.h>


/*
 * JSON and other text built from untrusted parts: a two-pass builder that
 * cannot overrun what it counted, JSON string escaping, and yajl tree
 * helpers.  Pure (fuzzed through the builders that use it).
 */


/*
 * A text being built by a fill function that runs twice: to count
 * (start == NULL), then to write into exactly that many bytes.
 */
typedef struct {
    u_char                     *start;
    u_char                     *pos;
    size_t                      len;
    size_t                      cap;
    unsigned                    overflow:1;
} ngx_http_oci_text_t;


typedef void (*ngx_http_oci_text_pt)(ngx_http_oci_text_t *t, void *data);


#define NGX_HTTP_OCI_JSON_DEPTH_MAX   32
#define NGX_HTTP_OCI_JSON_KEYS_MAX    1024      /* in one object */
#define NGX_HTTP_OCI_JSON_KEYS_TOTAL  131072    /* in one document */


/* the keys of a document being checked: a scratch array, and a count */
typedef struct {
    const char                **keys;        /* NGX_HTTP_OCI_JSON_KEYS_MAX */
    ngx_uint_t                  total;
} ngx_http_oci_keys_t;


#define ngx_http_oci_text_lit(t, s)                                           \
    ngx_http_oci_text_add(t, (u_char *) s, sizeof(s) - 1)

#define ngx_http_oci_text_str(t, s)                                           \
    ngx_http_oci_text_add(t, (s)->data, (s)->len)


ngx_int_t ngx_http_oci_text_build(ngx_pool_t *pool, ngx_http_oci_text_pt fill,
    void *data, ngx_str_t *out);
void ngx_http_oci_text_add(ngx_http_oci_text_t *t, u_char *s, size_t len);
void ngx_http_oci_text_json(ngx_http_oci_text_t *t, u_char *s, size_t len);
void ngx_http_oci_text_number(ngx_http_oci_text_t *t, off_t n);

size_t ngx_http_oci_json_escape_len(u_char *src, size_t len);
u_char *ngx_http_oci_json_escape(u_char *dst, u_char *src, size_t len);

/*
 * yajl trees: parsed from NUL-terminated text and freed with the pool;
 * NGX_DECLINED for invalid JSON, NGX_ERROR when out of memory
 */
ngx_int_t ngx_http_oci_json_parse(ngx_pool_t *pool, u_char *text,
    yajl_val *root);
yajl_val ngx_http_oci_json_get(yajl_val obj, const char *key);
ngx_int_t ngx_http_oci_json_depth_ok(u_char *p, size_t len);
ngx_int_t ngx_http_oci_unescape(ngx_pool_t *pool, ngx_str_t *value);
ngx_int_t ngx_http_oci_json_unique_keys(ngx_http_oci_keys_t *ks, yajl_val v,
    ngx_uint_t depth, char **err);


#endif /* _NGX_HTTP_OCI_JSON_H_INCLUDED_ */
