
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ngx_http_oci_store.h"


static u_char *ngx_http_oci_uuid_format(u_char *p, u_char *b);
static ngx_int_t ngx_http_oci_upload_id_mac(ngx_http_oci_idkey_t *k,
    ngx_str_t *base, u_char *b, u_char *mac);


/* a random (version 4) UUID: upload ids must not be guessable */

ngx_int_t
ngx_http_oci_upload_id(ngx_pool_t *pool, ngx_str_t *id)
{
    u_char  rnd[16];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    rnd[6] = (rnd[6] & 0x0f) | 0x40;
    rnd[8] = (rnd[8] & 0x3f) | 0x80;

    id->data = ngx_pnalloc(pool, NGX_HTTP_OCI_UPLOAD_ID_LEN);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    id->len = ngx_http_oci_uuid_format(id->data, rnd) - id->data;

    return NGX_OK;
}


/*
 * A signed upload id, shaped like a version 4 UUID: 4 bytes of issue
 * time, 6 random bytes (less the 6 bits of version and variant), and 6
 * bytes of HMAC-SHA256 over the repository's key base and the first 10
 * bytes.  A node that shares the key recognizes it as one we issued for
 * that repository without asking Redis, so the POST that starts an upload
 * needs no round trip: the upload's state is made by the first request
 * that writes to it.  42 random bits a second keep ids unguessable and
 * distinct; 48 bits of MAC make forging one hopeless.
 */

ngx_int_t
ngx_http_oci_upload_id_signed(ngx_pool_t *pool, ngx_http_oci_idkey_t *k,
    ngx_str_t *base, ngx_str_t *id)
{
    time_t  now;
    u_char  b[16];

    now = ngx_time();

    b[0] = (u_char) (now >> 24);
    b[1] = (u_char) (now >> 16);
    b[2] = (u_char) (now >> 8);
    b[3] = (u_char) now;

    if (RAND_bytes(b + 4, 6) != 1) {
        return NGX_ERROR;
    }

    /* still a version 4 UUID to whoever looks */

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    if (ngx_http_oci_upload_id_mac(k, base, b, b + 10) != NGX_OK) {
        return NGX_ERROR;
    }

    id->data = ngx_pnalloc(pool, NGX_HTTP_OCI_UPLOAD_ID_LEN);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    id->len = ngx_http_oci_uuid_format(id->data, b) - id->data;

    return NGX_OK;
}


/*
 * Is "id" (validated: 36 characters, lowercase hex and dashes) one we
 * signed for this repository less than "window" seconds ago?  Such an
 * upload exists even when Redis has no state for it yet.
 */

ngx_int_t
ngx_http_oci_upload_id_fresh(ngx_http_oci_idkey_t *k, ngx_str_t *base,
    ngx_str_t *id, time_t window)
{
    u_char      *p, b[16], mac[6];
    time_t       t;
    ngx_int_t    n;
    ngx_uint_t   i;

    if (k == NULL || !k->loaded || id->len != NGX_HTTP_OCI_UPLOAD_ID_LEN) {
        return 0;
    }

    p = id->data;

    for (i = 0; i < 16; i++) {
        if (*p == '-') {
            p++;
        }

        n = ngx_hextoi(p, 2);
        if (n == NGX_ERROR) {
            return 0;
        }

        b[i] = (u_char) n;
        p += 2;
    }

    if (ngx_http_oci_upload_id_mac(k, base, b, mac) != NGX_OK
        || CRYPTO_memcmp(mac, b + 10, 6) != 0)
    {
        return 0;
    }

    t = ((time_t) b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];

    /* a minute of clock skew between nodes is tolerated */

    return t <= ngx_time() + 60 && ngx_time() - t <= window;
}


static ngx_int_t
ngx_http_oci_upload_id_mac(ngx_http_oci_idkey_t *k, ngx_str_t *base,
    u_char *b, u_char *mac)
{
    u_char        md[EVP_MAX_MD_SIZE], buf[NGX_HTTP_OCI_KEY_MAX + 10];
    unsigned int  len;

    if (base->len > NGX_HTTP_OCI_KEY_MAX) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(buf, base->data, base->len), b, 10);

    if (HMAC(EVP_sha256(), k->key, NGX_HTTP_OCI_IDKEY_LEN, buf,
             base->len + 10, md, &len)
        == NULL)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(mac, md, 6);

    return NGX_OK;
}


static u_char *
ngx_http_oci_uuid_format(u_char *p, u_char *b)
{
    p = ngx_hex_dump(p, b, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 8, 2);
    *p++ = '-';

    return ngx_hex_dump(p, b + 10, 6);
}
