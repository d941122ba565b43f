
/*
 * Copyright (C) ngx_oci_registry contributors
 */


/*
 * A chunked upload may continue on another worker or another node, so the
 * running hash state travels with the upload (in Redis).  EVP_MD_CTX is
 * opaque and cannot be exported; the low-level SHA256_CTX/SHA512_CTX are
 * plain structs that can.  They are deprecated in OpenSSL 3.0, hence the
 * macro below, which keeps -Werror quiet for this file only.  The state is
 * tagged with the OpenSSL version and struct size: a state written by a
 * different build is refused (the client restarts the upload) rather than
 * misread.  One-shot digests use EVP.
 */

#define OPENSSL_SUPPRESS_DEPRECATED

#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_http_oci_digest.h"


struct ngx_http_oci_hash_s {
    ngx_uint_t                  alg;
    union {
        SHA256_CTX              sha256;
        SHA512_CTX              sha512;
    } ctx;
};


typedef struct {
    uint32_t                    magic;
    uint32_t                    alg;
    uint64_t                    openssl;
    uint64_t                    size;
} ngx_http_oci_hash_tag_t;


#define NGX_HTTP_OCI_HASH_MAGIC  0x4f434948  /* "OCIH" */

/* reads of a file being hashed whole, in a thread */
#define NGX_HTTP_OCI_DIGEST_BUF  (256 * 1024)


static size_t ngx_http_oci_hash_ctx_size(ngx_uint_t alg);
static size_t ngx_http_oci_digest_text(ngx_uint_t alg, u_char *md,
    u_char *digest);


ngx_uint_t
ngx_http_oci_hash_alg(ngx_str_t *name)
{
    if (name->len == 6 && ngx_strncmp(name->data, "sha256", 6) == 0) {
        return NGX_HTTP_OCI_SHA256;
    }

    if (name->len == 6 && ngx_strncmp(name->data, "sha512", 6) == 0) {
        return NGX_HTTP_OCI_SHA512;
    }

    return 0;
}


ngx_http_oci_hash_t *
ngx_http_oci_hash_create(ngx_pool_t *pool, ngx_uint_t alg)
{
    ngx_http_oci_hash_t  *h;

    h = ngx_palloc(pool, sizeof(ngx_http_oci_hash_t));
    if (h == NULL) {
        return NULL;
    }

    h->alg = alg;

    if (alg == NGX_HTTP_OCI_SHA512) {
        SHA512_Init(&h->ctx.sha512);

    } else {
        SHA256_Init(&h->ctx.sha256);
    }

    return h;
}


void
ngx_http_oci_hash_update(ngx_http_oci_hash_t *h, u_char *p, size_t len)
{
    if (h->alg == NGX_HTTP_OCI_SHA512) {
        SHA512_Update(&h->ctx.sha512, p, len);

    } else {
        SHA256_Update(&h->ctx.sha256, p, len);
    }
}


size_t
ngx_http_oci_hash_export(ngx_http_oci_hash_t *h, u_char *buf)
{
    size_t                   size;
    ngx_http_oci_hash_tag_t  tag;

    size = ngx_http_oci_hash_ctx_size(h->alg);

    tag.magic = NGX_HTTP_OCI_HASH_MAGIC;
    tag.alg = (uint32_t) h->alg;
    tag.openssl = (uint64_t) OpenSSL_version_num();
    tag.size = (uint64_t) size;

    ngx_memcpy(buf, &tag, sizeof(tag));
    ngx_memcpy(buf + sizeof(tag), &h->ctx, size);

    return sizeof(tag) + size;
}


/* NGX_DECLINED: the state was written by another build or is damaged */

ngx_int_t
ngx_http_oci_hash_import(ngx_http_oci_hash_t *h, u_char *buf, size_t len)
{
    size_t                   size;
    ngx_http_oci_hash_tag_t  tag;

    size = ngx_http_oci_hash_ctx_size(h->alg);

    if (len != sizeof(tag) + size) {
        return NGX_DECLINED;
    }

    ngx_memcpy(&tag, buf, sizeof(tag));

    if (tag.magic != NGX_HTTP_OCI_HASH_MAGIC
        || tag.alg != (uint32_t) h->alg
        || tag.openssl != (uint64_t) OpenSSL_version_num()
        || tag.size != (uint64_t) size)
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(&h->ctx, buf + sizeof(tag), size);

    return NGX_OK;
}


/* writes "<alg>:<hex>" and returns its length */

size_t
ngx_http_oci_hash_final(ngx_http_oci_hash_t *h, u_char *digest)
{
    u_char  md[SHA512_DIGEST_LENGTH];

    if (h->alg == NGX_HTTP_OCI_SHA512) {
        SHA512_Final(md, &h->ctx.sha512);

    } else {
        SHA256_Final(md, &h->ctx.sha256);
    }

    return ngx_http_oci_digest_text(h->alg, md, digest);
}


/* the digest of a buffer in memory (manifests), through EVP */

size_t
ngx_http_oci_digest_buf(ngx_uint_t alg, u_char *p, size_t len,
    u_char *digest)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen;

    if (EVP_Digest(p, len, md, &mdlen,
                   alg == NGX_HTTP_OCI_SHA512 ? EVP_sha512() : EVP_sha256(),
                   NULL)
        != 1)
    {
        return 0;
    }

    return ngx_http_oci_digest_text(alg, md, digest);
}


static size_t
ngx_http_oci_hash_ctx_size(ngx_uint_t alg)
{
    return alg == NGX_HTTP_OCI_SHA512 ? sizeof(SHA512_CTX)
                                      : sizeof(SHA256_CTX);
}


static size_t
ngx_http_oci_digest_text(ngx_uint_t alg, u_char *md, u_char *digest)
{
    u_char  *p;

    if (alg == NGX_HTTP_OCI_SHA512) {
        p = ngx_cpymem(digest, "sha512:", 7);
        p = ngx_hex_dump(p, md, SHA512_DIGEST_LENGTH);

    } else {
        p = ngx_cpymem(digest, "sha256:", 7);
        p = ngx_hex_dump(p, md, SHA256_DIGEST_LENGTH);
    }

    return p - digest;
}


/*
 * Do the "size" bytes of the file hash to "hex" (that many hex digits of
 * the algorithm's length)?  Read whole with pread() from offset 0: for a
 * blob file that exists already, and for an upload closed with another
 * algorithm than it was hashed with.  System calls and libcrypto only, so
 * that it runs in a thread pool task.  NGX_DECLINED: it does not, or it
 * could not be read (errno says why).
 */

ngx_int_t
ngx_http_oci_digest_fd(ngx_fd_t fd, ngx_uint_t alg, off_t size, u_char *hex)
{
    u_char        *buf, md[EVP_MAX_MD_SIZE], text[EVP_MAX_MD_SIZE * 2];
    off_t          off;
    ssize_t        n;
    ngx_int_t      rc;
    EVP_MD_CTX    *md_ctx;
    unsigned int   mdlen;

    rc = NGX_DECLINED;
    buf = malloc(NGX_HTTP_OCI_DIGEST_BUF);
    md_ctx = EVP_MD_CTX_new();

    if (buf == NULL || md_ctx == NULL
        || EVP_DigestInit_ex(md_ctx, alg == NGX_HTTP_OCI_SHA512
                                     ? EVP_sha512() : EVP_sha256(), NULL)
           != 1)
    {
        goto done;
    }

    for (off = 0; off < size; off += n) {
        n = pread(fd, buf, (size_t) ngx_min(size - off,
                                            NGX_HTTP_OCI_DIGEST_BUF), off);

        if (n == -1 && ngx_errno == NGX_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0 || EVP_DigestUpdate(md_ctx, buf, n) != 1) {
            goto done;
        }
    }

    /* nothing beyond "size" either */

    if (pread(fd, buf, 1, size) != 0
        || EVP_DigestFinal_ex(md_ctx, md, &mdlen) != 1)
    {
        goto done;
    }

    ngx_hex_dump(text, md, mdlen);

    if (ngx_strncmp(text, hex, 2 * mdlen) == 0) {
        rc = NGX_OK;
    }

done:

    EVP_MD_CTX_free(md_ctx);
    free(buf);

    return rc;
}
