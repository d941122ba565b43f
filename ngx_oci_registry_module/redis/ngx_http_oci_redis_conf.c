
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_redis.h"


/*
 * The oci_registry_redis parameters: where the server is and how to talk
 * to it.  Host names are resolved here, once: hiredis would resolve them
 * with a blocking call at request time.
 */


static char *ngx_http_oci_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *url,
    in_port_t default_port, ngx_http_oci_redis_addr_t *addr);
static char *ngx_http_oci_redis_parse_param(ngx_conf_t *cf,
    ngx_http_oci_redis_conf_t *rcf, ngx_str_t *value);
static char *ngx_http_oci_redis_check(ngx_conf_t *cf,
    ngx_http_oci_redis_conf_t *rcf);


/*
 * "address [db=] [password=] [connect_timeout=] [timeout=] [wait=]
 * [wait_timeout=]", or, instead of the address, "sentinel=address ...
 * master=name [sentinel_password=]" or "cluster=address ...", of the
 * directive in cf->args (the directive's name first) into a new server
 * configuration.  Whose server it is, is the caller's business.
 */

char *
ngx_http_oci_redis_parse(ngx_conf_t *cf, ngx_http_oci_redis_conf_t **out)
{
    char                       *rv;
    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_http_oci_redis_conf_t  *rcf;

    value = cf->args->elts;

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->connect_timeout = 1000;
    rcf->timeout = 2000;
    rcf->wait_timeout = 1000;

    i = 1;

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '=')
        == NULL)
    {
        rcf->addr = value[1];

        rv = ngx_http_oci_redis_parse_addr(cf, &value[1], 6379,
                                           &rcf->server);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        i = 2;
    }

    for ( /* void */ ; i < cf->args->nelts; i++) {
        rv = ngx_http_oci_redis_parse_param(cf, rcf, &value[i]);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    rv = ngx_http_oci_redis_check(cf, rcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    *out = rcf;

    return NGX_CONF_OK;
}


/*
 * hiredis resolves host names with a blocking getaddrinfo(); do it here,
 * once, at configuration time, and hand hiredis a numeric address
 */

static char *
ngx_http_oci_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *url,
    in_port_t default_port, ngx_http_oci_redis_addr_t *addr)
{
    size_t               len;
    ngx_url_t            u;
    struct sockaddr_un  *saun;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *url;
    u.default_port = default_port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in redis address \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0 || u.addrs == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" has no address", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX) {
        saun = (struct sockaddr_un *) u.addrs[0].sockaddr;
        len = ngx_strlen(saun->sun_path);

        addr->host = ngx_pnalloc(cf->pool, len + 1);
        if (addr->host == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(addr->host, (u_char *) saun->sun_path, len + 1);
        addr->unix_socket = 1;

        return NGX_CONF_OK;
    }

    addr->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (addr->host == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, addr->host,
                        NGX_SOCKADDR_STRLEN, 0);
    addr->host[len] = '\0';
    addr->port = u.port;

    return NGX_CONF_OK;
}


static char *
ngx_http_oci_redis_parse_param(ngx_conf_t *cf,
    ngx_http_oci_redis_conf_t *rcf, ngx_str_t *value)
{
    char                       *rv;
    ngx_int_t                   n;
    ngx_str_t                   s;
    ngx_msec_t                 *msp;
    ngx_http_oci_redis_addr_t  *sentinel, *seed;

    if (ngx_strncmp(value->data, "db=", 3) == 0) {
        n = ngx_atoi(value->data + 3, value->len - 3);
        if (n == NGX_ERROR || n > 65535) {
            goto invalid;
        }

        rcf->db = n;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "wait=", 5) == 0) {
        n = ngx_atoi(value->data + 5, value->len - 5);
        if (n == NGX_ERROR || n > 64) {
            goto invalid;
        }

        rcf->wait = n;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "password=", 9) == 0) {
        rcf->password.data = value->data + 9;
        rcf->password.len = value->len - 9;

        return rcf->password.len ? NGX_CONF_OK : "has an empty password";
    }

    if (ngx_strncmp(value->data, "sentinel_password=", 18) == 0) {
        rcf->sentinel_password.data = value->data + 18;
        rcf->sentinel_password.len = value->len - 18;

        return rcf->sentinel_password.len ? NGX_CONF_OK
                                          : "has an empty sentinel_password";
    }

    if (ngx_strncmp(value->data, "master=", 7) == 0) {
        rcf->master.data = value->data + 7;
        rcf->master.len = value->len - 7;

        if (rcf->master.len == 0
            || ngx_strlchr(rcf->master.data,
                           rcf->master.data + rcf->master.len, ' ')
               != NULL)
        {
            goto invalid;
        }

        rcf->addr = rcf->master;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "cluster=", 8) == 0) {
        if (rcf->cluster == NULL) {
            rcf->cluster = ngx_array_create(cf->pool, 3,
                                      sizeof(ngx_http_oci_redis_addr_t));
            if (rcf->cluster == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        seed = ngx_array_push(rcf->cluster);
        if (seed == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(seed, sizeof(ngx_http_oci_redis_addr_t));

        s.data = value->data + 8;
        s.len = value->len - 8;

        rv = ngx_http_oci_redis_parse_addr(cf, &s, 6379, seed);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        if (seed->unix_socket) {
            return "has a cluster node on a unix socket: a cluster "
                   "announces its nodes by IP address";
        }

        ngx_str_set(&rcf->addr, "cluster");
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "sentinel=", 9) == 0) {
        if (rcf->sentinels == NULL) {
            rcf->sentinels = ngx_array_create(cf->pool, 3,
                                      sizeof(ngx_http_oci_redis_addr_t));
            if (rcf->sentinels == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        sentinel = ngx_array_push(rcf->sentinels);
        if (sentinel == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(sentinel, sizeof(ngx_http_oci_redis_addr_t));

        s.data = value->data + 9;
        s.len = value->len - 9;

        rv = ngx_http_oci_redis_parse_addr(cf, &s, 26379, sentinel);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        if (sentinel->unix_socket) {
            return "has a sentinel on a unix socket: sentinels announce "
                   "masters by IP address";
        }

        return NGX_CONF_OK;
    }

    msp = NULL;

    if (ngx_strncmp(value->data, "connect_timeout=", 16) == 0) {
        s.data = value->data + 16;
        s.len = value->len - 16;
        msp = &rcf->connect_timeout;

    } else if (ngx_strncmp(value->data, "wait_timeout=", 13) == 0) {
        s.data = value->data + 13;
        s.len = value->len - 13;
        msp = &rcf->wait_timeout;

    } else if (ngx_strncmp(value->data, "timeout=", 8) == 0) {
        s.data = value->data + 8;
        s.len = value->len - 8;
        msp = &rcf->timeout;
    }

    if (msp != NULL) {
        *msp = ngx_parse_time(&s, 0);
        if (*msp == (ngx_msec_t) NGX_ERROR || *msp == 0) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"%V\"", value,
                       (ngx_str_t *) cf->args->elts);

    return NGX_CONF_ERROR;
}


/* the parameters together, and WAIT's arguments, formatted once */

static char *
ngx_http_oci_redis_check(ngx_conf_t *cf, ngx_http_oci_redis_conf_t *rcf)
{
    u_char  *p;

    if (rcf->cluster != NULL) {
        if (rcf->server.host != NULL || rcf->sentinels != NULL) {
            return "takes an address, sentinels or cluster nodes, "
                   "one of them";
        }

        if (rcf->db != 0) {
            return "takes no \"db=\" with \"cluster=\": a cluster has "
                   "database 0 only";
        }

        if (rcf->master.len || rcf->sentinel_password.len) {
            return "takes \"master=\" and \"sentinel_password=\" only with "
                   "\"sentinel=\"";
        }

    } else if (rcf->sentinels != NULL) {
        if (rcf->server.host != NULL) {
            return "takes either an address or sentinels, not both";
        }

        if (rcf->master.len == 0) {
            return "needs \"master=\" with \"sentinel=\"";
        }

    } else if (rcf->master.len || rcf->sentinel_password.len) {
        return "takes \"master=\" and \"sentinel_password=\" only with "
               "\"sentinel=\"";

    } else if (rcf->server.host == NULL) {
        return "needs an address, \"sentinel=\" or \"cluster=\"";
    }

    if (rcf->wait == 0) {
        return NGX_CONF_OK;
    }

    /* a WAIT outlasting the command timeout would drop the connection */

    if (rcf->wait_timeout >= rcf->timeout) {
        return "needs \"wait_timeout=\" shorter than \"timeout=\"";
    }

    p = ngx_pnalloc(cf->pool, 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->wait_argv[0] = "WAIT";
    rcf->wait_lens[0] = 4;
    rcf->wait_argv[1] = (char *) p;
    rcf->wait_lens[1] = ngx_sprintf(p, "%ui", rcf->wait) - p;
    p += NGX_INT_T_LEN;
    rcf->wait_argv[2] = (char *) p;
    rcf->wait_lens[2] = ngx_sprintf(p, "%M", rcf->wait_timeout) - p;

    return NGX_CONF_OK;
}
