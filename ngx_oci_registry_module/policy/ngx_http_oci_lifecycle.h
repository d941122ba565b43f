
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_LIFECYCLE_H_INCLUDED_
#define _NGX_HTTP_OCI_LIFECYCLE_H_INCLUDED_


#include "ngx_http_oci_common.h"
#include "ngx_http_oci_redis.h"


/*
 * Lifecycle policies in Amazon ECR's JSON, evaluated as ECR evaluates
 * them (docs/lifecycle.md).  The parser and the evaluation are pure: no
 * request, no I/O; the endpoints are in ngx_http_oci_lifecycle_api.c.
 */


#define NGX_HTTP_OCI_LC_TEXT_MAX     30720   /* ECR's policy text limit */
#define NGX_HTTP_OCI_LC_RULES_MAX    50      /* ECR's rules per policy */
#define NGX_HTTP_OCI_LC_LIST_MAX     100     /* prefixes or patterns */
#define NGX_HTTP_OCI_LC_WILDCARDS    4       /* per pattern */
#define NGX_HTTP_OCI_LC_IMAGES_MAX   100000  /* a preview's images */
#define NGX_HTTP_OCI_LC_RUN_MAX      1000    /* expiries in one run */


typedef enum {
    NGX_HTTP_OCI_LC_TAGGED = 0,
    NGX_HTTP_OCI_LC_UNTAGGED,
    NGX_HTTP_OCI_LC_ANY
} ngx_http_oci_lc_status_e;


typedef enum {
    NGX_HTTP_OCI_LC_COUNT = 0,               /* imageCountMoreThan */
    NGX_HTTP_OCI_LC_PUSHED                   /* sinceImagePushed, days */
} ngx_http_oci_lc_count_e;


typedef struct {
    ngx_uint_t                  priority;
    ngx_str_t                   description;
    ngx_http_oci_lc_status_e    status;
    ngx_str_t                  *list;        /* prefixes or patterns */
    ngx_uint_t                  nlist;
    unsigned                    patterns:1;
    ngx_http_oci_lc_count_e     count;
    ngx_uint_t                  number;
} ngx_http_oci_lc_rule_t;


typedef struct {
    ngx_http_oci_lc_rule_t     *rules;       /* by priority, first first */
    ngx_uint_t                  nrules;
} ngx_http_oci_lc_policy_t;


/* an image: a manifest of the repository, with what evaluation decides */
typedef struct {
    ngx_str_t                   digest;
    time_t                      pushed;
    ngx_str_t                  *tags;
    ngx_uint_t                  ntags;
    unsigned                    child:1;     /* an index references it */
    unsigned                    expired:1;   /* a run deleted it */
    ngx_int_t                   expire;      /* a rule's index, or -1 */
} ngx_http_oci_lc_image_t;


/*
 * Parses and validates a policy.  NGX_DECLINED with *err saying which
 * rule and field is wrong (a static or pool string), NGX_ERROR when out
 * of memory.
 */
ngx_int_t ngx_http_oci_lc_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_http_oci_lc_policy_t *policy, ngx_str_t *err);

/*
 * Sets each image's "expire" as of "now".  Sorts the images, newest
 * first.  NGX_ERROR when out of memory.
 */
ngx_int_t ngx_http_oci_lc_evaluate(ngx_pool_t *pool,
    ngx_http_oci_lc_policy_t *policy, ngx_http_oci_lc_image_t *images,
    ngx_uint_t n, time_t now);

ngx_uint_t ngx_http_oci_lc_glob(u_char *p, u_char *pe, u_char *s,
    u_char *se);

ngx_int_t ngx_http_oci_lifecycle(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);


/*
 * oci_registry_lifecycle_policy <glob> <file>: the operator's policy for
 * the repositories the glob matches ("*" matches any run, "/" too); the
 * first matching directive of the location counts, and a repository's
 * own policy (PUT .../_lifecycle/policy) replaces it
 */
typedef struct {
    ngx_str_t                   glob;
    ngx_str_t                   file;
    ngx_str_t                   text;
} ngx_http_oci_lc_configured_t;

char *ngx_http_oci_lc_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_oci_lc_configured_t *ngx_http_oci_lc_configured(
    ngx_http_oci_loc_conf_t *conf, ngx_str_t *name);


/* between the endpoint files: a request's state (ctx->data) */

typedef struct {
    ngx_http_oci_lc_policy_t    policy;
    ngx_array_t                 images;      /* ngx_http_oci_lc_image_t */
    ngx_uint_t                  next;        /* index of the next page */
    time_t                      at;
    unsigned                    run:1;

    /* a run's progress: the next image to look at, what it did */
    ngx_uint_t                  todo;
    ngx_uint_t                  expired;
    ngx_uint_t                  changed;
    ngx_uint_t                  remaining;
    ngx_uint_t                  referrers;
} ngx_http_oci_lc_ctx_t;


ngx_int_t ngx_http_oci_lc_policy_get(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx, ngx_http_oci_redis_handler_pt handler);
void ngx_http_oci_lc_preview_policy(ngx_http_request_t *r,
    redisReply *reply);
void ngx_http_oci_lc_answer(ngx_http_request_t *r,
    ngx_http_oci_lc_ctx_t *lc);
void ngx_http_oci_lc_run_body(ngx_http_request_t *r);

/*
 * A page of LIFECYCLE_IMAGES into the images (copied: the reply is freed
 * after its handler); referrers are skipped
 */
ngx_int_t ngx_http_oci_lc_page_add(ngx_pool_t *pool, ngx_array_t *images,
    ngx_uint_t *next, redisReply *reply);

/*
 * What a run (trigger 0) or a scheduled step (1) did, into the metrics:
 * "repositories" 1 when a repository is done
 */
void ngx_http_oci_lc_counted(ngx_uint_t trigger, ngx_uint_t repositories,
    ngx_uint_t images, ngx_uint_t referrers);

/* policy/ngx_http_oci_lifecycle_sched.c: runs on a schedule */
char *ngx_http_oci_lc_schedule_add(ngx_conf_t *cf,
    ngx_http_oci_loc_conf_t *conf, ngx_array_t *schedules);
void ngx_http_oci_lc_schedule_start(ngx_array_t *schedules, ngx_log_t *log,
    ngx_str_t *identity);
void ngx_http_oci_lc_schedule_stop(ngx_array_t *schedules);
void ngx_http_oci_lc_run_next(ngx_http_request_t *r,
    ngx_http_oci_ctx_t *ctx);
ngx_int_t ngx_http_oci_lc_expire_args(ngx_pool_t *pool,
    ngx_http_oci_args_t *a, ngx_str_t *base, ngx_http_oci_loc_conf_t *conf,
    ngx_http_oci_lc_image_t *im);


#endif /* _NGX_HTTP_OCI_LIFECYCLE_H_INCLUDED_ */
