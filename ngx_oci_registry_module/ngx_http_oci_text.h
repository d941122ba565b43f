
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_TEXT_H_INCLUDED_
#define _NGX_HTTP_OCI_TEXT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


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


#endif /* _NGX_HTTP_OCI_TEXT_H_INCLUDED_ */
