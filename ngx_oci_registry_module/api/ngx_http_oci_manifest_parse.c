
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_tree.h>
#include <yajl/yajl_gen.h>

#include "ngx_http_oci_manifest_parse.h"
#include "ngx_http_oci_grammar.h"


/*
 * Manifest validation: pure functions over the pushed bytes (no request,
 * no I/O), so a fuzzer can drive them.  The bytes themselves are stored
 * unchanged; this only decides whether to accept them and extracts what
 * the registry indexes (referenced digests, subject, artifactType,
 * annotations).
 */


#define NGX_HTTP_OCI_REFS_MAX         10000


static ngx_int_t ngx_http_oci_manifest_tree(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_http_oci_manifest_t *m, char **err);
static ngx_int_t ngx_http_oci_manifest_type(ngx_pool_t *pool,
    ngx_str_t *content_type, ngx_http_oci_manifest_t *m, char **err);
static ngx_int_t ngx_http_oci_manifest_fields(ngx_http_oci_manifest_t *m,
    char **err);
static ngx_int_t ngx_http_oci_manifest_refs(ngx_pool_t *pool,
    ngx_http_oci_manifest_t *m, char **err);
static ngx_int_t ngx_http_oci_media_type_valid(ngx_str_t *mt, char **err);
static ngx_int_t ngx_http_oci_descriptor(yajl_val v, ngx_str_t *digest,
    ngx_str_t *media_type, char **err);
static ngx_uint_t ngx_http_oci_nondistributable(yajl_val v, ngx_str_t *mt);
static ngx_int_t ngx_http_oci_descriptors(ngx_pool_t *pool, yajl_val arr,
    ngx_array_t *out, ngx_uint_t skip_foreign, char **err);
static ngx_int_t ngx_http_oci_gen_value(yajl_gen g, yajl_val v);


static ngx_str_t  ngx_http_oci_media_types[] = {
    ngx_string(NGX_HTTP_OCI_MT_OCI_MANIFEST),
    ngx_string(NGX_HTTP_OCI_MT_OCI_INDEX),
    ngx_string(NGX_HTTP_OCI_MT_DOCKER_MANIFEST),
    ngx_string(NGX_HTTP_OCI_MT_DOCKER_LIST),
    ngx_null_string
};


ngx_int_t
ngx_http_oci_manifest_parse(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_str_t *content_type, ngx_http_oci_manifest_t *m, char **err)
{
    ngx_int_t  rc;

    ngx_memzero(m, sizeof(ngx_http_oci_manifest_t));

    if (ngx_array_init(&m->blobs, pool, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&m->manifests, pool, 4, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    *err = NULL;

    rc = ngx_http_oci_manifest_tree(pool, body, len, m, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_oci_manifest_type(pool, content_type, m, err);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_oci_manifest_fields(m, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (!m->known) {
        /* a self-declared type: stored as is, nothing to check inside */
        return NGX_OK;
    }

    return ngx_http_oci_manifest_refs(pool, m, err);
}


/* a JSON object, not too deep, without duplicate keys or too many */

static ngx_int_t
ngx_http_oci_manifest_tree(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_oci_manifest_t *m, char **err)
{
    u_char               *text;
    ngx_int_t             rc;
    ngx_http_oci_keys_t   ks;

    if (len == 0) {
        *err = "empty manifest";
        return NGX_DECLINED;
    }

    /*
     * yajl builds and frees its tree recursively: bound the nesting first,
     * so that "[[[[..." cannot exhaust the worker's stack
     */

    if (ngx_http_oci_json_depth_ok(body, len) != NGX_OK) {
        *err = "manifest is nested too deeply";
        return NGX_DECLINED;
    }

    /* yajl_tree_parse() wants a NUL-terminated copy */

    text = ngx_pnalloc(pool, len + 1);
    if (text == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(text, body, len);
    text[len] = '\0';

    if (ngx_strlen(text) != len) {
        *err = "manifest contains a NUL byte";
        return NGX_DECLINED;
    }

    rc = ngx_http_oci_json_parse(pool, text, &m->root);

    if (rc == NGX_DECLINED) {
        *err = "manifest is not valid JSON";
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (!YAJL_IS_OBJECT(m->root)) {
        *err = "manifest is not a JSON object";
        return NGX_DECLINED;
    }

    /* two keys of one name would let us and a client read different data */

    ks.total = 0;
    ks.keys = ngx_palloc(pool, NGX_HTTP_OCI_JSON_KEYS_MAX * sizeof(char *));
    if (ks.keys == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_oci_json_unique_keys(&ks, m->root, 0, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The media type: the body's own, else the Content-Type header; a token,
 * JSON-shaped, and not Docker's schema 1
 */

static ngx_int_t
ngx_http_oci_manifest_type(ngx_pool_t *pool, ngx_str_t *content_type,
    ngx_http_oci_manifest_t *m, char **err)
{
    u_char      *semi;
    yajl_val     v;
    ngx_str_t    ct, mt;
    ngx_uint_t   i;

    ngx_str_null(&ct);

    if (content_type != NULL && content_type->len) {
        ct = *content_type;
        semi = ngx_strlchr(ct.data, ct.data + ct.len, ';');
        if (semi != NULL) {
            ct.len = semi - ct.data;
        }

        while (ct.len && ct.data[ct.len - 1] == ' ') {
            ct.len--;
        }
    }

    v = ngx_http_oci_json_get(m->root, "mediaType");

    if (v != NULL) {
        if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0') {
            *err = "mediaType is not a string";
            return NGX_DECLINED;
        }

        mt.data = (u_char *) v->u.string;
        mt.len = ngx_strlen(v->u.string);

        if (ct.len && (ct.len != mt.len || ngx_strncmp(ct.data, mt.data,
                                                       mt.len) != 0))
        {
            *err = "mediaType does not match Content-Type";
            return NGX_DECLINED;
        }

    } else if (ct.len) {
        mt = ct;

    } else {
        *err = "no mediaType and no Content-Type";
        return NGX_DECLINED;
    }

    if (ngx_http_oci_media_type_valid(&mt, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    /*
     * A manifest is served back with its media type: one a browser
     * renders (text/html, image/svg+xml) would make pushed bytes a page
     * on the registry's origin
     */

    if (ngx_http_oci_media_type_json(&mt) != NGX_OK) {
        *err = "a manifest's media type must be application/json or "
               "application/*+json";
        return NGX_DECLINED;
    }

    m->media_type.data = ngx_pstrdup(pool, &mt);
    if (m->media_type.data == NULL) {
        return NGX_ERROR;
    }

    m->media_type.len = mt.len;

    for (i = 0; ngx_http_oci_media_types[i].len; i++) {
        if (mt.len == ngx_http_oci_media_types[i].len
            && ngx_strncmp(mt.data, ngx_http_oci_media_types[i].data, mt.len)
               == 0)
        {
            m->known = 1;
            m->is_index = (i == 1 || i == 3);
            break;
        }
    }

    if (mt.len > sizeof("application/vnd.docker.distribution.manifest.v1")
                 - 1
        && ngx_strncmp(mt.data, "application/vnd.docker.distribution."
                       "manifest.v1", sizeof("application/vnd.docker."
                       "distribution.manifest.v1") - 1) == 0)
    {
        *err = "Docker schema 1 manifests are not supported";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* schemaVersion, artifactType, subject, annotations */

static ngx_int_t
ngx_http_oci_manifest_fields(ngx_http_oci_manifest_t *m, char **err)
{
    size_t    n;
    yajl_val  v;

    if (m->known) {
        v = ngx_http_oci_json_get(m->root, "schemaVersion");

        if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) != 2) {
            *err = "schemaVersion must be 2";
            return NGX_DECLINED;
        }
    }

    v = ngx_http_oci_json_get(m->root, "artifactType");

    if (v != NULL) {
        if (!YAJL_IS_STRING(v)) {
            *err = "artifactType is not a string";
            return NGX_DECLINED;
        }

        m->artifact_type.data = (u_char *) v->u.string;
        m->artifact_type.len = ngx_strlen(v->u.string);
    }

    if (m->artifact_type.len
        && ngx_http_oci_media_type_valid(&m->artifact_type, err) != NGX_OK)
    {
        *err = "artifactType is not a valid media type";
        return NGX_DECLINED;
    }

    v = ngx_http_oci_json_get(m->root, "subject");

    if (v != NULL
        && ngx_http_oci_descriptor(v, &m->subject, NULL, err) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    v = ngx_http_oci_json_get(m->root, "annotations");

    if (v == NULL) {
        return NGX_OK;
    }

    if (!YAJL_IS_OBJECT(v)) {
        *err = "annotations is not an object";
        return NGX_DECLINED;
    }

    for (n = 0; n < v->u.object.len; n++) {
        if (!YAJL_IS_STRING(v->u.object.values[n])) {
            *err = "annotation values must be strings";
            return NGX_DECLINED;
        }
    }

    m->annotations = v;

    return NGX_OK;
}


/*
 * What a manifest or index of a known type references: an index's
 * manifests, a manifest's config and layers
 */

static ngx_int_t
ngx_http_oci_manifest_refs(ngx_pool_t *pool, ngx_http_oci_manifest_t *m,
    char **err)
{
    yajl_val   v, cfg;
    ngx_str_t  mt;

    if (m->is_index) {
        v = ngx_http_oci_json_get(m->root, "manifests");

        if (v == NULL || !YAJL_IS_ARRAY(v)) {
            *err = "index without a manifests array";
            return NGX_DECLINED;
        }

        return ngx_http_oci_descriptors(pool, v, &m->manifests, 0, err);
    }

    cfg = ngx_http_oci_json_get(m->root, "config");

    if (cfg == NULL) {
        *err = "manifest without config";
        return NGX_DECLINED;
    }

    if (ngx_http_oci_descriptor(cfg, NULL, &mt, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (m->artifact_type.len == 0) {
        /* referrers fall back to the config's media type */
        m->artifact_type = mt;
    }

    /* an index key and a filter of the referrers API: a media type */

    if (m->artifact_type.len
        && ngx_http_oci_media_type_valid(&m->artifact_type, err) != NGX_OK)
    {
        *err = "artifactType (or the config's mediaType) is not a valid "
               "media type";
        return NGX_DECLINED;
    }

    v = ngx_http_oci_json_get(m->root, "layers");

    if (v == NULL || !YAJL_IS_ARRAY(v)) {
        *err = "manifest without a layers array";
        return NGX_DECLINED;
    }

    if (ngx_http_oci_descriptors(pool, cfg, &m->blobs, 0, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_http_oci_descriptors(pool, v, &m->blobs, 1, err);
}


/* media types are tokens: nothing a header, key or JSON would choke on */

static ngx_int_t
ngx_http_oci_media_type_valid(ngx_str_t *mt, char **err)
{
    size_t  n;

    for (n = 0; n < mt->len; n++) {
        if (mt->data[n] <= ' ' || mt->data[n] >= 0x7f || mt->data[n] == '"'
            || mt->data[n] == '\\' || mt->data[n] == ',')
        {
            *err = "invalid media type";
            return NGX_DECLINED;
        }
    }

    if (mt->len > 255) {
        *err = "media type too long";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "application/json" or "application/<subtype>+json", nothing else */

ngx_int_t
ngx_http_oci_media_type_json(ngx_str_t *mt)
{
    size_t  n;

    n = sizeof("application/") - 1;

    if (mt->len < n + 4
        || ngx_strncasecmp(mt->data, (u_char *) "application/", n) != 0)
    {
        return NGX_DECLINED;
    }

    if (mt->len == n + 4) {
        return ngx_strncasecmp(mt->data + n, (u_char *) "json", 4) == 0
               ? NGX_OK : NGX_DECLINED;
    }

    return ngx_strncasecmp(mt->data + mt->len - 5, (u_char *) "+json", 5)
           == 0 ? NGX_OK : NGX_DECLINED;
}


/*
 * The descriptor the referrers API lists for this manifest:
 * {"mediaType","digest","size","artifactType","annotations"}, as JSON text
 * in the pool.  yajl_gen keeps UTF-8 in annotations intact.
 */

ngx_int_t
ngx_http_oci_manifest_descriptor(ngx_pool_t *pool, ngx_http_oci_manifest_t *m,
    ngx_str_t *digest, size_t size, ngx_str_t *out)
{
    size_t                glen;
    ngx_int_t             rc;
    yajl_gen              g;
    const unsigned char  *gbuf;
    u_char                num[NGX_OFF_T_LEN];

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || yajl_gen_string(g, (u_char *) "mediaType", 9) != yajl_gen_status_ok
        || yajl_gen_string(g, m->media_type.data, m->media_type.len)
           != yajl_gen_status_ok
        || yajl_gen_string(g, (u_char *) "digest", 6) != yajl_gen_status_ok
        || yajl_gen_string(g, digest->data, digest->len)
           != yajl_gen_status_ok
        || yajl_gen_string(g, (u_char *) "size", 4) != yajl_gen_status_ok
        || yajl_gen_number(g, (char *) num,
                           ngx_sprintf(num, "%uz", size) - num)
           != yajl_gen_status_ok)
    {
        goto done;
    }

    if (m->artifact_type.len
        && (yajl_gen_string(g, (u_char *) "artifactType", 12)
            != yajl_gen_status_ok
            || yajl_gen_string(g, m->artifact_type.data, m->artifact_type.len)
               != yajl_gen_status_ok))
    {
        goto done;
    }

    if (m->annotations != NULL
        && (yajl_gen_string(g, (u_char *) "annotations", 11)
            != yajl_gen_status_ok
            || ngx_http_oci_gen_value(g, m->annotations) != NGX_OK))
    {
        goto done;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_get_buf(g, &gbuf, &glen) != yajl_gen_status_ok)
    {
        goto done;
    }

    out->data = ngx_pnalloc(pool, glen);
    if (out->data == NULL) {
        goto done;
    }

    ngx_memcpy(out->data, gbuf, glen);
    out->len = glen;

    rc = NGX_OK;

done:

    yajl_gen_free(g);

    return rc;
}


static ngx_int_t
ngx_http_oci_gen_value(yajl_gen g, yajl_val v)
{
    size_t  i;

    /* annotations are validated to be an object of strings */

    if (YAJL_IS_STRING(v)) {
        return yajl_gen_string(g, (u_char *) v->u.string,
                               ngx_strlen(v->u.string))
               == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
    }

    if (!YAJL_IS_OBJECT(v) || yajl_gen_map_open(g) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    for (i = 0; i < v->u.object.len; i++) {
        if (yajl_gen_string(g, (u_char *) v->u.object.keys[i],
                            ngx_strlen(v->u.object.keys[i]))
            != yajl_gen_status_ok
            || !YAJL_IS_STRING(v->u.object.values[i])
            || ngx_http_oci_gen_value(g, v->u.object.values[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return yajl_gen_map_close(g) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
}


/* {"mediaType": string, "digest": valid digest, "size": integer >= 0} */

static ngx_int_t
ngx_http_oci_descriptor(yajl_val v, ngx_str_t *digest, ngx_str_t *media_type,
    char **err)
{
    size_t                 len;
    yajl_val               d, mt, size;
    ngx_http_oci_digest_t  parsed;

    if (!YAJL_IS_OBJECT(v)) {
        *err = "descriptor is not an object";
        return NGX_DECLINED;
    }

    mt = ngx_http_oci_json_get(v, "mediaType");
    d = ngx_http_oci_json_get(v, "digest");
    size = ngx_http_oci_json_get(v, "size");

    if (mt == NULL || !YAJL_IS_STRING(mt)) {
        *err = "descriptor without mediaType";
        return NGX_DECLINED;
    }

    if (d == NULL || !YAJL_IS_STRING(d)) {
        *err = "descriptor without digest";
        return NGX_DECLINED;
    }

    len = ngx_strlen(d->u.string);

    if (ngx_http_oci_digest_parse((u_char *) d->u.string, len, &parsed)
        != NGX_OK)
    {
        *err = "descriptor with an invalid or unsupported digest";
        return NGX_DECLINED;
    }

    if (size == NULL || !YAJL_IS_INTEGER(size) || YAJL_GET_INTEGER(size) < 0)
    {
        *err = "descriptor without a valid size";
        return NGX_DECLINED;
    }

    if (digest != NULL) {
        digest->data = (u_char *) d->u.string;
        digest->len = len;
    }

    if (media_type != NULL) {
        media_type->data = (u_char *) mt->u.string;
        media_type->len = ngx_strlen(mt->u.string);
    }

    return NGX_OK;
}


/*
 * A layer the registry is not expected to have: non-distributable by its
 * media type (application/vnd.oci.image.layer.nondistributable.*, which
 * the image spec deprecates but clients still push), or fetched from its
 * "urls" (Docker's foreign layers, Windows base layers)
 */

static ngx_uint_t
ngx_http_oci_nondistributable(yajl_val v, ngx_str_t *mt)
{
    static u_char  nd[] = "application/vnd.oci.image.layer.nondistributable.";

    if (ngx_http_oci_json_get(v, "urls") != NULL) {
        return 1;
    }

    return mt->len > sizeof(nd) - 1
           && ngx_strncmp(mt->data, nd, sizeof(nd) - 1) == 0;
}


/*
 * Collects the digests of a descriptor or an array of them; with
 * skip_foreign (layers), not those of non-distributable layers.
 */

static ngx_int_t
ngx_http_oci_descriptors(ngx_pool_t *pool, yajl_val arr, ngx_array_t *out,
    ngx_uint_t skip_foreign, char **err)
{
    size_t      i, n;
    yajl_val   *items, one[1];
    ngx_str_t  *s, digest, mt;

    if (YAJL_IS_ARRAY(arr)) {
        items = arr->u.array.values;
        n = arr->u.array.len;

    } else {
        one[0] = arr;
        items = one;
        n = 1;
    }

    if (out->nelts + n > NGX_HTTP_OCI_REFS_MAX) {
        *err = "manifest references too many blobs or manifests";
        return NGX_DECLINED;
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_oci_descriptor(items[i], &digest, &mt, err) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (skip_foreign && ngx_http_oci_nondistributable(items[i], &mt)) {
            continue;
        }

        s = ngx_array_push(out);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = digest;
    }

    return NGX_OK;
}
