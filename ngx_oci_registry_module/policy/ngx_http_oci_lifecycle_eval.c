
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_lifecycle.h"


/*
 * ECR's evaluation (AWS user guide, "How lifecycle policies work" and its
 * worked examples; docs/lifecycle.md has the walk-through):
 *
 * - every rule sees every image its selection matches, including the
 *   images a rule of higher priority matches or expires ("can still
 *   identify them as if they haven't been expired"), and picks from them
 *   by its count or age alone;
 * - an image belongs to the first rule, by priority, whose selection
 *   matches it, and only that rule may expire it ("an image that matches
 *   the tagging requirements of a rule cannot be expired by a rule with a
 *   lower priority"): so it is expired by one rule or none;
 * - counts go from the newest image to the oldest by push time (ties by
 *   digest, which ECR does not document);
 * - an image an index references is never expired (it still counts).
 */


static ngx_uint_t ngx_http_oci_lc_match(ngx_http_oci_lc_rule_t *rule,
    ngx_http_oci_lc_image_t *image);
static ngx_uint_t ngx_http_oci_lc_entry(ngx_http_oci_lc_rule_t *rule,
    ngx_str_t *entry, ngx_http_oci_lc_image_t *image);
static int ngx_libc_cdecl ngx_http_oci_lc_newest_first(const void *a,
    const void *b);


ngx_int_t
ngx_http_oci_lc_evaluate(ngx_pool_t *pool, ngx_http_oci_lc_policy_t *policy,
    ngx_http_oci_lc_image_t *images, ngx_uint_t n, time_t now)
{
    time_t                   age;
    ngx_int_t               *owner;
    ngx_uint_t               i, r, seen;
    ngx_http_oci_lc_rule_t  *rule;

    ngx_qsort(images, n, sizeof(ngx_http_oci_lc_image_t),
              ngx_http_oci_lc_newest_first);

    owner = ngx_palloc(pool, (n ? n : 1) * sizeof(ngx_int_t));
    if (owner == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        images[i].expire = -1;
        owner[i] = -1;

        for (r = 0; r < policy->nrules; r++) {
            if (ngx_http_oci_lc_match(&policy->rules[r], &images[i])) {
                owner[i] = r;
                break;
            }
        }
    }

    for (r = 0; r < policy->nrules; r++) {
        rule = &policy->rules[r];
        seen = 0;

        for (i = 0; i < n; i++) {
            if (!ngx_http_oci_lc_match(rule, &images[i])) {
                continue;
            }

            seen++;

            if (rule->count == NGX_HTTP_OCI_LC_COUNT) {
                if (seen <= rule->number) {
                    continue;
                }

            } else {
                age = now - images[i].pushed;

                /* older than the days: a day's image is not yet 1 day old */
                if (age <= (time_t) rule->number * 86400) {
                    continue;
                }
            }

            if (owner[i] == (ngx_int_t) r && !images[i].child) {
                images[i].expire = r;
            }
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_oci_lc_match(ngx_http_oci_lc_rule_t *rule,
    ngx_http_oci_lc_image_t *image)
{
    ngx_uint_t  i;

    switch (rule->status) {

    case NGX_HTTP_OCI_LC_ANY:
        return 1;

    case NGX_HTTP_OCI_LC_UNTAGGED:
        return image->ntags == 0;

    default: /* NGX_HTTP_OCI_LC_TAGGED */

        if (image->ntags == 0) {
            return 0;
        }

        /* every entry of the list matches one of the tags, or more */

        for (i = 0; i < rule->nlist; i++) {
            if (!ngx_http_oci_lc_entry(rule, &rule->list[i], image)) {
                return 0;
            }
        }

        return 1;
    }
}


static ngx_uint_t
ngx_http_oci_lc_entry(ngx_http_oci_lc_rule_t *rule, ngx_str_t *entry,
    ngx_http_oci_lc_image_t *image)
{
    ngx_uint_t  i;
    ngx_str_t  *tag;

    for (i = 0; i < image->ntags; i++) {
        tag = &image->tags[i];

        if (rule->patterns) {
            if (ngx_http_oci_lc_glob(entry->data, entry->data + entry->len,
                                     tag->data, tag->data + tag->len))
            {
                return 1;
            }

            continue;
        }

        if (tag->len >= entry->len
            && ngx_strncmp(tag->data, entry->data, entry->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The whole text against a pattern whose "*" matches any run, the empty
 * one too (a tag pattern, a repository glob); each star restarts the
 * scan at most once per character, so it stays linear per star
 */

ngx_uint_t
ngx_http_oci_lc_glob(u_char *p, u_char *pe, u_char *s, u_char *se)
{
    u_char  *star, *mark;

    star = NULL;
    mark = NULL;

    while (s < se) {
        if (p < pe && *p == '*') {
            star = ++p;
            mark = s;
            continue;
        }

        if (p < pe && *p == *s) {
            p++;
            s++;
            continue;
        }

        if (star == NULL) {
            return 0;
        }

        p = star;
        s = ++mark;
    }

    while (p < pe && *p == '*') {
        p++;
    }

    return p == pe;
}


static int ngx_libc_cdecl
ngx_http_oci_lc_newest_first(const void *a, const void *b)
{
    const ngx_http_oci_lc_image_t  *ia = a, *ib = b;

    size_t     len;
    ngx_int_t  rc;

    if (ia->pushed != ib->pushed) {
        return ia->pushed > ib->pushed ? -1 : 1;
    }

    len = ngx_min(ia->digest.len, ib->digest.len);
    rc = ngx_strncmp(ia->digest.data, ib->digest.data, len);

    if (rc != 0) {
        return rc < 0 ? -1 : 1;
    }

    return (ia->digest.len == ib->digest.len) ? 0
           : (ia->digest.len < ib->digest.len ? -1 : 1);
}
