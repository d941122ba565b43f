
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ec.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <yajl/yajl_tree.h>

#include "ngx_http_oci_auth.h"


/*
 * Keys and JWS signatures.  Each key type accepts exactly one algorithm
 * (P-256 ES256, RSA RS256, Ed25519 EdDSA), so a token cannot choose how
 * its signature is checked: no "none", no HS256 keyed with a public key.
 */


#define NGX_HTTP_OCI_KID_LEN         16
#define NGX_HTTP_OCI_JWKS_MAX        (1024 * 1024)


static char *ngx_http_oci_key_setup(ngx_conf_t *cf, EVP_PKEY *pkey,
    ngx_str_t *kid, ngx_http_oci_key_t *key);
static EVP_PKEY *ngx_http_oci_jwk_pkey(ngx_conf_t *cf, yajl_val jwk,
    char **err);
static ngx_int_t ngx_http_oci_jwk_bytes(ngx_conf_t *cf, yajl_val jwk,
    const char *name, ngx_str_t *out);
static void ngx_http_oci_pkey_cleanup(void *data);


/* a PEM public key, certificate or (private ≙ 1) private key */

char *
ngx_http_oci_key_pem(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t private,
    ngx_str_t *kid, ngx_http_oci_key_t *key)
{
    BIO       *bio;
    X509      *x509;
    EVP_PKEY  *pkey;

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_file((char *) file->data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot open key file \"%V\"", file);
        return NGX_CONF_ERROR;
    }

    if (private) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

    } else {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

        if (pkey == NULL) {
            /* a certificate is fine too: its public key is used */
            (void) BIO_reset(bio);
            x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);

            if (x509 != NULL) {
                pkey = X509_get_pubkey(x509);
                X509_free(x509);
            }
        }
    }

    BIO_free(bio);

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no PEM %s", file,
                           private ? "private key" : "public key");
        return NGX_CONF_ERROR;
    }

    return ngx_http_oci_key_setup(cf, pkey, kid, key);
}


/* takes ownership of pkey: picks the algorithm and the kid */

static char *
ngx_http_oci_key_setup(ngx_conf_t *cf, EVP_PKEY *pkey, ngx_str_t *kid,
    ngx_http_oci_key_t *key)
{
    int                  len;
    char                 group[64];
    u_char              *der, *p;
    u_char               md[EVP_MAX_MD_SIZE];
    size_t               glen;
    ngx_str_t            src, dst;
    unsigned int         mdlen;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_oci_pkey_cleanup;
    cln->data = pkey;

    key->pkey = pkey;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1
            || ngx_strcmp(group, "prime256v1") != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "EC keys must be on P-256 (ES256)");
            return NGX_CONF_ERROR;
        }

        key->alg = NGX_HTTP_OCI_JWT_ES256;
        break;

    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < 2048) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "RSA keys must have at least 2048 bits");
            return NGX_CONF_ERROR;
        }

        key->alg = NGX_HTTP_OCI_JWT_RS256;
        break;

    case EVP_PKEY_ED25519:
        key->alg = NGX_HTTP_OCI_JWT_EDDSA;
        break;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unsupported key type: use P-256, RSA or Ed25519");
        return NGX_CONF_ERROR;
    }

    if (kid != NULL && kid->len) {
        key->kid = *kid;
        return NGX_CONF_OK;
    }

    /* the default kid: a prefix of the public key's SHA-256, base64url */

    len = i2d_PUBKEY(pkey, NULL);
    if (len <= 0) {
        return NGX_CONF_ERROR;
    }

    der = ngx_pnalloc(cf->pool, len);
    if (der == NULL) {
        return NGX_CONF_ERROR;
    }

    p = der;
    if (i2d_PUBKEY(pkey, &p) != len
        || EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1)
    {
        return NGX_CONF_ERROR;
    }

    src.data = md;
    src.len = mdlen;

    dst.data = ngx_pnalloc(cf->pool, ngx_base64_encoded_length(mdlen));
    if (dst.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_encode_base64url(&dst, &src);

    key->kid.data = dst.data;
    key->kid.len = NGX_HTTP_OCI_KID_LEN;

    return NGX_CONF_OK;
}


/*
 * Reads a whole file, NUL-terminated, into the pool; failures are logged
 * at "level".  Small files only (keys, policies, an htpasswd): this is a
 * blocking read, as auth_basic's of its user file.
 */

u_char *
ngx_http_oci_read_file(ngx_pool_t *pool, ngx_log_t *log, ngx_uint_t level,
    ngx_str_t *name, size_t max, size_t *len)
{
    u_char           *buf;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        f;
    ngx_file_info_t   fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(level, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", name);
        return NULL;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = *name;
    f.log = log;

    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || (size_t) ngx_file_size(&fi) > max)
    {
        ngx_log_error(level, log, 0, "\"%V\" is unreadable or too large",
                      name);
        goto done;
    }

    buf = ngx_pnalloc(pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&f, buf, ngx_file_size(&fi), 0);
    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_log_error(level, log, 0, "cannot read \"%V\"", name);
        buf = NULL;
        goto done;
    }

    buf[n] = '\0';
    *len = n;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", name);
    }

    return buf;
}


/* a configuration file (a JWKS, the policy), relative to nginx.conf's dir */

u_char *
ngx_http_oci_conf_file(ngx_conf_t *cf, ngx_str_t *file, size_t max,
    size_t *len)
{
    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NULL;
    }

    return ngx_http_oci_read_file(cf->pool, cf->log, NGX_LOG_EMERG, file,
                                  max, len);
}


/* {"keys":[...]}: every usable public key in it, with its kid */

char *
ngx_http_oci_key_jwks(ngx_conf_t *cf, ngx_str_t *file, ngx_array_t *keys)
{
    char                *err;
    u_char              *buf;
    size_t               i, len;
    yajl_val             root, arr, jwk, v;
    ngx_str_t            kid;
    EVP_PKEY            *pkey;
    ngx_http_oci_key_t  *key;

    buf = ngx_http_oci_conf_file(cf, file, NGX_HTTP_OCI_JWKS_MAX, &len);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_oci_json_parse(cf->pool, buf, &root) == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    /* invalid JSON leaves root NULL: reported as "not a JWKS" below */

    arr = ngx_http_oci_json_get(root, "keys");
    if (arr == NULL || !YAJL_IS_ARRAY(arr) || arr->u.array.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a JWKS with keys", file);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < arr->u.array.len; i++) {
        jwk = arr->u.array.values[i];

        v = ngx_http_oci_json_get(jwk, "use");
        if (v != NULL && YAJL_IS_STRING(v) && ngx_strcmp(v->u.string, "sig"))
        {
            continue;
        }

        v = ngx_http_oci_json_get(jwk, "kid");
        if (v == NULL || !YAJL_IS_STRING(v) || v->u.string[0] == '\0') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key %uz of \"%V\" has no kid", i, file);
            return NGX_CONF_ERROR;
        }

        /* the tree lives as long as the configuration */
        kid.len = ngx_strlen(v->u.string);
        kid.data = (u_char *) v->u.string;

        err = NULL;
        pkey = ngx_http_oci_jwk_pkey(cf, jwk, &err);
        if (pkey == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key \"%V\" of \"%V\": %s", &kid, file,
                               err ? err : "invalid");
            return NGX_CONF_ERROR;
        }

        key = ngx_array_push(keys);
        if (key == NULL) {
            EVP_PKEY_free(pkey);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_oci_key_setup(cf, pkey, &kid, key) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        v = ngx_http_oci_json_get(jwk, "alg");
        if (v != NULL && (!YAJL_IS_STRING(v)
                          || ngx_http_oci_jwt_alg((u_char *) v->u.string,
                                                  ngx_strlen(v->u.string))
                             != key->alg))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key \"%V\" of \"%V\": alg does not match "
                               "the key type", &kid, file);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static EVP_PKEY *
ngx_http_oci_jwk_pkey(ngx_conf_t *cf, yajl_val jwk, char **err)
{
    int              selection;
    u_char          *pub;
    BIGNUM          *n, *e;
    yajl_val         kty, crv;
    EVP_PKEY        *pkey;
    ngx_str_t        x, y, nn, ee;
    const char      *type;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    kty = ngx_http_oci_json_get(jwk, "kty");
    crv = ngx_http_oci_json_get(jwk, "crv");

    if (kty == NULL || !YAJL_IS_STRING(kty)) {
        *err = "no kty";
        return NULL;
    }

    if (ngx_strcmp(kty->u.string, "OKP") == 0) {
        if (crv == NULL || !YAJL_IS_STRING(crv)
            || ngx_strcmp(crv->u.string, "Ed25519") != 0
            || ngx_http_oci_jwk_bytes(cf, jwk, "x", &x) != NGX_OK
            || x.len != 32)
        {
            *err = "OKP keys must be Ed25519 with a 32-byte x";
            return NULL;
        }

        return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                           x.data, x.len);
    }

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) {
        return NULL;
    }

    n = NULL;
    e = NULL;
    params = NULL;
    ctx = NULL;
    pkey = NULL;

    if (ngx_strcmp(kty->u.string, "EC") == 0) {
        if (crv == NULL || !YAJL_IS_STRING(crv)
            || ngx_strcmp(crv->u.string, "P-256") != 0
            || ngx_http_oci_jwk_bytes(cf, jwk, "x", &x) != NGX_OK
            || ngx_http_oci_jwk_bytes(cf, jwk, "y", &y) != NGX_OK
            || x.len != 32 || y.len != 32)
        {
            *err = "EC keys must be P-256 with 32-byte x and y";
            goto failed;
        }

        pub = ngx_pnalloc(cf->pool, 65);
        if (pub == NULL) {
            goto failed;
        }

        /* an uncompressed point: 0x04 || x || y */
        pub[0] = 0x04;
        ngx_memcpy(pub + 1, x.data, 32);
        ngx_memcpy(pub + 33, y.data, 32);

        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            "prime256v1", 0) != 1
            || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                pub, 65) != 1)
        {
            goto failed;
        }

        type = "EC";

    } else if (ngx_strcmp(kty->u.string, "RSA") == 0) {
        if (ngx_http_oci_jwk_bytes(cf, jwk, "n", &nn) != NGX_OK
            || ngx_http_oci_jwk_bytes(cf, jwk, "e", &ee) != NGX_OK)
        {
            *err = "RSA keys need n and e";
            goto failed;
        }

        n = BN_bin2bn(nn.data, nn.len, NULL);
        e = BN_bin2bn(ee.data, ee.len, NULL);

        if (n == NULL || e == NULL
            || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
            || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
        {
            goto failed;
        }

        type = "RSA";

    } else {
        *err = "kty must be EC, RSA or OKP";
        goto failed;
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    selection = EVP_PKEY_PUBLIC_KEY;

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1)
    {
        *err = "OpenSSL refused the key";
        pkey = NULL;
    }

failed:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return pkey;
}


static ngx_int_t
ngx_http_oci_jwk_bytes(ngx_conf_t *cf, yajl_val jwk, const char *name,
    ngx_str_t *out)
{
    yajl_val   v;
    ngx_str_t  src;

    v = ngx_http_oci_json_get(jwk, name);
    if (v == NULL || !YAJL_IS_STRING(v)) {
        return NGX_ERROR;
    }

    src.data = (u_char *) v->u.string;
    src.len = ngx_strlen(v->u.string);

    out->data = ngx_pnalloc(cf->pool, ngx_base64_decoded_length(src.len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    return ngx_decode_base64url(out, &src);
}


/*
 * NGX_OK: the signature is good; NGX_DECLINED: it is not (or the key is
 * of another algorithm); NGX_ERROR: OpenSSL failed.
 */

ngx_int_t
ngx_http_oci_jwt_verify(ngx_http_oci_key_t *key, ngx_http_oci_jwt_t *jwt,
    ngx_log_t *log)
{
    int            rc, len;
    u_char        *der, *p;
    BIGNUM        *r, *s;
    ngx_int_t      result;
    ECDSA_SIG     *sig;
    EVP_MD_CTX    *md;
    const EVP_MD  *type;
    u_char         buf[80];

    if (key->alg != jwt->alg) {
        return NGX_DECLINED;
    }

    der = jwt->signature.data;
    len = (int) jwt->signature.len;
    type = EVP_sha256();

    if (key->alg == NGX_HTTP_OCI_JWT_ES256) {

        /* JWS carries r || s; OpenSSL wants DER */

        if (jwt->signature.len != 64) {
            return NGX_DECLINED;
        }

        sig = ECDSA_SIG_new();
        r = BN_bin2bn(jwt->signature.data, 32, NULL);
        s = BN_bin2bn(jwt->signature.data + 32, 32, NULL);

        if (sig == NULL || r == NULL || s == NULL
            || ECDSA_SIG_set0(sig, r, s) != 1)
        {
            ECDSA_SIG_free(sig);
            BN_free(r);
            BN_free(s);
            return NGX_ERROR;
        }

        p = buf;
        len = i2d_ECDSA_SIG(sig, NULL);

        if (len <= 0 || len > (int) sizeof(buf)
            || i2d_ECDSA_SIG(sig, &p) != len)
        {
            ECDSA_SIG_free(sig);
            return NGX_ERROR;
        }

        ECDSA_SIG_free(sig);
        der = buf;

    } else if (key->alg == NGX_HTTP_OCI_JWT_EDDSA) {
        type = NULL;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    result = NGX_DECLINED;

    if (EVP_DigestVerifyInit(md, NULL, type, NULL, key->pkey) != 1) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "EVP_DigestVerifyInit() failed");
        result = NGX_ERROR;

    } else {
        rc = EVP_DigestVerify(md, der, len, jwt->signed_part.data,
                              jwt->signed_part.len);
        if (rc == 1) {
            result = NGX_OK;
        }
    }

    EVP_MD_CTX_free(md);

    return result;
}


/* builds "<header>.<claims>.<signature>" signed by a private key */

ngx_int_t
ngx_http_oci_jwt_sign(ngx_pool_t *pool, ngx_http_oci_key_t *key,
    ngx_str_t *claims, ngx_str_t *token)
{
    size_t                len, siglen;
    u_char               *p, *sigbuf, raw[64];
    ngx_int_t             rc;
    ngx_str_t             src, dst, header;
    ECDSA_SIG            *sig;
    EVP_MD_CTX           *md;
    const BIGNUM         *r, *s;
    const EVP_MD         *type;
    const unsigned char  *q;
    static const char    *algs[] = { "", "ES256", "RS256", "EdDSA" };

    header.data = ngx_pnalloc(pool, 64 + key->kid.len);
    if (header.data == NULL) {
        return NGX_ERROR;
    }

    header.len = ngx_sprintf(header.data,
                             "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%V\"}",
                             algs[key->alg], &key->kid)
                 - header.data;

    siglen = (size_t) EVP_PKEY_get_size(key->pkey);

    len = ngx_base64_encoded_length(header.len) + 1
          + ngx_base64_encoded_length(claims->len) + 1
          + ngx_base64_encoded_length(siglen > 64 ? siglen : 64);

    token->data = ngx_pnalloc(pool, len);
    sigbuf = ngx_pnalloc(pool, siglen);
    if (token->data == NULL || sigbuf == NULL) {
        return NGX_ERROR;
    }

    dst.data = token->data;
    ngx_encode_base64url(&dst, &header);
    p = dst.data + dst.len;
    *p++ = '.';

    dst.data = p;
    ngx_encode_base64url(&dst, claims);
    p = dst.data + dst.len;

    type = (key->alg == NGX_HTTP_OCI_JWT_EDDSA) ? NULL : EVP_sha256();

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_DigestSignInit(md, NULL, type, NULL, key->pkey) != 1
        || EVP_DigestSign(md, sigbuf, &siglen, token->data,
                          p - token->data) != 1)
    {
        goto done;
    }

    src.data = sigbuf;
    src.len = siglen;

    if (key->alg == NGX_HTTP_OCI_JWT_ES256) {
        q = sigbuf;
        sig = d2i_ECDSA_SIG(NULL, &q, siglen);
        if (sig == NULL) {
            goto done;
        }

        ECDSA_SIG_get0(sig, &r, &s);

        if (BN_bn2binpad(r, raw, 32) != 32
            || BN_bn2binpad(s, raw + 32, 32) != 32)
        {
            ECDSA_SIG_free(sig);
            goto done;
        }

        ECDSA_SIG_free(sig);

        src.data = raw;
        src.len = 64;
    }

    *p++ = '.';
    dst.data = p;
    ngx_encode_base64url(&dst, &src);

    token->len = dst.data + dst.len - token->data;
    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);

    return rc;
}


static void
ngx_http_oci_pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


