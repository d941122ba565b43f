
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_lifecycle.h"
#include "ngx_http_oci_json.h"


/*
 * A lifecycle policy's JSON, validated as ECR validates it.  What ECR
 * knows and we do not do (storage classes, the archive, "transition", the
 * count types that only archive) is refused with a message saying so,
 * never ignored: a policy that is accepted does what it says.
 */


typedef struct {
    ngx_pool_t                 *pool;
    ngx_str_t                  *err;
    ngx_uint_t                  index;       /* the rule, for messages */
} ngx_http_oci_lc_parse_t;


static ngx_int_t ngx_http_oci_lc_rule(ngx_http_oci_lc_parse_t *ps,
    yajl_val v, ngx_http_oci_lc_rule_t *rule);
static ngx_int_t ngx_http_oci_lc_selection(ngx_http_oci_lc_parse_t *ps,
    yajl_val sel, ngx_http_oci_lc_rule_t *rule);
static ngx_int_t ngx_http_oci_lc_count(ngx_http_oci_lc_parse_t *ps,
    yajl_val sel, ngx_http_oci_lc_rule_t *rule);
static ngx_int_t ngx_http_oci_lc_list(ngx_http_oci_lc_parse_t *ps,
    yajl_val v, const char *field, ngx_http_oci_lc_rule_t *rule);
static ngx_int_t ngx_http_oci_lc_action(ngx_http_oci_lc_parse_t *ps,
    yajl_val action);
static ngx_int_t ngx_http_oci_lc_only(ngx_http_oci_lc_parse_t *ps,
    yajl_val obj, const char *where, const char **known);
static ngx_int_t ngx_http_oci_lc_check(ngx_http_oci_lc_parse_t *ps,
    ngx_http_oci_lc_policy_t *policy);
static ngx_int_t ngx_http_oci_lc_fail(ngx_http_oci_lc_parse_t *ps,
    const char *field, const char *what);
static int ngx_libc_cdecl ngx_http_oci_lc_by_priority(const void *a,
    const void *b);


static const char  *ngx_http_oci_lc_top[] = { "rules", NULL };

static const char  *ngx_http_oci_lc_rule_keys[] = {
    "rulePriority", "description", "selection", "action", NULL
};

static const char  *ngx_http_oci_lc_selection_keys[] = {
    "tagStatus", "tagPrefixList", "tagPatternList", "countType",
    "countUnit", "countNumber", NULL
};

static const char  *ngx_http_oci_lc_action_keys[] = { "type", NULL };


ngx_int_t
ngx_http_oci_lc_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_http_oci_lc_policy_t *policy, ngx_str_t *err)
{
    u_char                   *copy;
    char                     *kerr;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    yajl_val                  root, rules;
    ngx_http_oci_keys_t       ks;
    ngx_http_oci_lc_parse_t   ps;

    ps.pool = pool;
    ps.err = err;
    ps.index = NGX_HTTP_OCI_LC_RULES_MAX;

    if (len == 0 || len > NGX_HTTP_OCI_LC_TEXT_MAX) {
        ngx_str_set(err, "a policy is 1 to 30720 bytes of JSON");
        return NGX_DECLINED;
    }

    if (ngx_http_oci_json_depth_ok(text, len) != NGX_OK
        || ngx_strlchr(text, text + len, '\0') != NULL)
    {
        ngx_str_set(err, "not a JSON policy");
        return NGX_DECLINED;
    }

    copy = ngx_pnalloc(pool, len + 1);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, text, len);
    copy[len] = '\0';

    rc = ngx_http_oci_json_parse(pool, copy, &root);
    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_str_set(err, "not a JSON policy");
        }

        return rc;
    }

    ks.keys = ngx_palloc(pool, NGX_HTTP_OCI_JSON_KEYS_MAX * sizeof(char *));
    if (ks.keys == NULL) {
        return NGX_ERROR;
    }

    ks.total = 0;
    kerr = NULL;

    if (ngx_http_oci_json_unique_keys(&ks, root, 0, &kerr) != NGX_OK) {
        ngx_str_set(err, "a JSON object has the same member twice");
        return NGX_DECLINED;
    }

    if (!YAJL_IS_OBJECT(root)) {
        ngx_str_set(err, "a policy is a JSON object");
        return NGX_DECLINED;
    }

    if (ngx_http_oci_lc_only(&ps, root, "the policy", ngx_http_oci_lc_top)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rules = ngx_http_oci_json_get(root, "rules");

    if (rules == NULL || !YAJL_IS_ARRAY(rules)
        || rules->u.array.len == 0
        || rules->u.array.len > NGX_HTTP_OCI_LC_RULES_MAX)
    {
        ngx_str_set(err, "rules: an array of 1 to 50 rules");
        return NGX_DECLINED;
    }

    policy->nrules = rules->u.array.len;
    policy->rules = ngx_pcalloc(pool, policy->nrules
                                      * sizeof(ngx_http_oci_lc_rule_t));
    if (policy->rules == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < policy->nrules; i++) {
        ps.index = i;

        rc = ngx_http_oci_lc_rule(&ps, rules->u.array.values[i],
                                  &policy->rules[i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_oci_lc_check(&ps, policy);
}


static ngx_int_t
ngx_http_oci_lc_rule(ngx_http_oci_lc_parse_t *ps, yajl_val v,
    ngx_http_oci_lc_rule_t *rule)
{
    ngx_int_t  rc;
    yajl_val   p, d, sel;

    if (!YAJL_IS_OBJECT(v)) {
        return ngx_http_oci_lc_fail(ps, NULL, "a rule is a JSON object");
    }

    if (ngx_http_oci_lc_only(ps, v, "rule", ngx_http_oci_lc_rule_keys)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = ngx_http_oci_json_get(v, "rulePriority");

    if (p == NULL || !YAJL_IS_INTEGER(p) || YAJL_GET_INTEGER(p) < 1
        || YAJL_GET_INTEGER(p) > 0x7fffffff)
    {
        return ngx_http_oci_lc_fail(ps, "rulePriority",
                                    "a positive integer is required");
    }

    rule->priority = (ngx_uint_t) YAJL_GET_INTEGER(p);

    d = ngx_http_oci_json_get(v, "description");

    if (d != NULL) {
        if (!YAJL_IS_STRING(d)) {
            return ngx_http_oci_lc_fail(ps, "description", "a string");
        }

        rule->description.data = (u_char *) d->u.string;
        rule->description.len = ngx_strlen(rule->description.data);
    }

    sel = ngx_http_oci_json_get(v, "selection");

    if (sel == NULL || !YAJL_IS_OBJECT(sel)) {
        return ngx_http_oci_lc_fail(ps, "selection",
                                    "an object is required");
    }

    rc = ngx_http_oci_lc_selection(ps, sel, rule);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_oci_lc_action(ps, ngx_http_oci_json_get(v, "action"));
}


static ngx_int_t
ngx_http_oci_lc_selection(ngx_http_oci_lc_parse_t *ps, yajl_val sel,
    ngx_http_oci_lc_rule_t *rule)
{
    ngx_int_t    rc;
    yajl_val     status, prefixes, patterns;
    const char  *s;

    if (ngx_http_oci_json_get(sel, "storageClass") != NULL) {
        return ngx_http_oci_lc_fail(ps, "selection.storageClass",
                                    "storage classes are not supported: "
                                    "every image is in the standard one");
    }

    if (ngx_http_oci_lc_only(ps, sel, "selection",
                             ngx_http_oci_lc_selection_keys)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    status = ngx_http_oci_json_get(sel, "tagStatus");
    s = YAJL_IS_STRING(status) ? status->u.string : "";

    if (ngx_strcmp(s, "tagged") == 0) {
        rule->status = NGX_HTTP_OCI_LC_TAGGED;

    } else if (ngx_strcmp(s, "untagged") == 0) {
        rule->status = NGX_HTTP_OCI_LC_UNTAGGED;

    } else if (ngx_strcmp(s, "any") == 0) {
        rule->status = NGX_HTTP_OCI_LC_ANY;

    } else {
        return ngx_http_oci_lc_fail(ps, "selection.tagStatus",
                                    "tagged, untagged or any is required");
    }

    prefixes = ngx_http_oci_json_get(sel, "tagPrefixList");
    patterns = ngx_http_oci_json_get(sel, "tagPatternList");

    if (rule->status != NGX_HTTP_OCI_LC_TAGGED) {
        if (prefixes != NULL || patterns != NULL) {
            return ngx_http_oci_lc_fail(ps, "selection",
                                        "tagPrefixList and tagPatternList "
                                        "are only for tagStatus tagged");
        }

    } else if (prefixes != NULL && patterns != NULL) {
        return ngx_http_oci_lc_fail(ps, "selection",
                                    "tagPrefixList or tagPatternList, "
                                    "not both");

    } else if (prefixes == NULL && patterns == NULL) {
        return ngx_http_oci_lc_fail(ps, "selection",
                                    "tagStatus tagged needs tagPrefixList "
                                    "or tagPatternList");

    } else {
        rule->patterns = (patterns != NULL);

        rc = ngx_http_oci_lc_list(ps, patterns ? patterns : prefixes,
                                  patterns ? "selection.tagPatternList"
                                           : "selection.tagPrefixList",
                                  rule);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_oci_lc_count(ps, sel, rule);
}


static ngx_int_t
ngx_http_oci_lc_count(ngx_http_oci_lc_parse_t *ps, yajl_val sel,
    ngx_http_oci_lc_rule_t *rule)
{
    yajl_val     type, unit, number;
    const char  *s;

    type = ngx_http_oci_json_get(sel, "countType");
    s = YAJL_IS_STRING(type) ? type->u.string : "";

    if (ngx_strcmp(s, "imageCountMoreThan") == 0) {
        rule->count = NGX_HTTP_OCI_LC_COUNT;

    } else if (ngx_strcmp(s, "sinceImagePushed") == 0) {
        rule->count = NGX_HTTP_OCI_LC_PUSHED;

    } else if (ngx_strcmp(s, "sinceImagePulled") == 0) {
        return ngx_http_oci_lc_fail(ps, "selection.countType",
                                    "sinceImagePulled only transitions "
                                    "images to the archive (as in ECR), "
                                    "which is not supported");

    } else if (ngx_strcmp(s, "sinceImageTransitioned") == 0) {
        return ngx_http_oci_lc_fail(ps, "selection.countType",
                                    "sinceImageTransitioned is for "
                                    "archived images, which are not "
                                    "supported");

    } else {
        return ngx_http_oci_lc_fail(ps, "selection.countType",
                                    "imageCountMoreThan or "
                                    "sinceImagePushed is required");
    }

    unit = ngx_http_oci_json_get(sel, "countUnit");

    if (rule->count == NGX_HTTP_OCI_LC_COUNT) {
        if (unit != NULL) {
            return ngx_http_oci_lc_fail(ps, "selection.countUnit",
                                        "only with sinceImagePushed");
        }

    } else if (unit == NULL || !YAJL_IS_STRING(unit)
               || ngx_strcmp(unit->u.string, "days") != 0)
    {
        return ngx_http_oci_lc_fail(ps, "selection.countUnit",
                                    "\"days\" is required with "
                                    "sinceImagePushed");
    }

    number = ngx_http_oci_json_get(sel, "countNumber");

    if (number == NULL || !YAJL_IS_INTEGER(number)
        || YAJL_GET_INTEGER(number) < 1
        || YAJL_GET_INTEGER(number) > 0x7fffffff)
    {
        return ngx_http_oci_lc_fail(ps, "selection.countNumber",
                                    "a positive integer is required");
    }

    rule->number = (ngx_uint_t) YAJL_GET_INTEGER(number);

    return NGX_OK;
}


/* prefixes and patterns are made of what a tag is made of, and "*" */

static ngx_int_t
ngx_http_oci_lc_list(ngx_http_oci_lc_parse_t *ps, yajl_val v,
    const char *field, ngx_http_oci_lc_rule_t *rule)
{
    u_char      *p, c;
    size_t       len;
    ngx_uint_t   i, stars;

    if (!YAJL_IS_ARRAY(v) || v->u.array.len == 0
        || v->u.array.len > NGX_HTTP_OCI_LC_LIST_MAX)
    {
        return ngx_http_oci_lc_fail(ps, field,
                                    "an array of 1 to 100 strings");
    }

    rule->nlist = v->u.array.len;
    rule->list = ngx_palloc(ps->pool, rule->nlist * sizeof(ngx_str_t));
    if (rule->list == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < rule->nlist; i++) {
        if (!YAJL_IS_STRING(v->u.array.values[i])) {
            return ngx_http_oci_lc_fail(ps, field, "an array of strings");
        }

        p = (u_char *) v->u.array.values[i]->u.string;
        len = ngx_strlen(p);

        if (len == 0 || len > 128) {
            return ngx_http_oci_lc_fail(ps, field,
                                        "each entry is 1 to 128 "
                                        "characters");
        }

        rule->list[i].data = p;
        rule->list[i].len = len;
        stars = 0;

        for ( /* void */ ; len; len--) {
            c = *p++;

            if (c == '*' && rule->patterns) {
                stars++;
                continue;
            }

            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '_' || c == '.'
                || c == '-')
            {
                continue;
            }

            return ngx_http_oci_lc_fail(ps, field,
                                        rule->patterns
                                        ? "an entry has a character no tag "
                                          "has (letters, digits, _ . - "
                                          "and the wildcard *)"
                                        : "an entry has a character no tag "
                                          "has (letters, digits, _ . -)");
        }

        if (stars > NGX_HTTP_OCI_LC_WILDCARDS) {
            return ngx_http_oci_lc_fail(ps, field,
                                        "at most 4 wildcards in a pattern");
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_oci_lc_action(ngx_http_oci_lc_parse_t *ps, yajl_val action)
{
    yajl_val     type;
    const char  *s;

    if (action == NULL || !YAJL_IS_OBJECT(action)) {
        return ngx_http_oci_lc_fail(ps, "action", "an object is required");
    }

    type = ngx_http_oci_json_get(action, "type");
    s = YAJL_IS_STRING(type) ? type->u.string : "";

    if (ngx_strcmp(s, "transition") == 0
        || ngx_http_oci_json_get(action, "targetStorageClass") != NULL)
    {
        return ngx_http_oci_lc_fail(ps, "action",
                                    "transition to the archive is not "
                                    "supported, only expire");
    }

    if (ngx_strcmp(s, "expire") != 0) {
        return ngx_http_oci_lc_fail(ps, "action.type",
                                    "\"expire\" is required");
    }

    return ngx_http_oci_lc_only(ps, action, "action",
                                ngx_http_oci_lc_action_keys);
}


/* a member we do not know is refused: it may mean something to ECR */

static ngx_int_t
ngx_http_oci_lc_only(ngx_http_oci_lc_parse_t *ps, yajl_val obj,
    const char *where, const char **known)
{
    u_char       *p;
    size_t        i, len;
    const char  **k;

    for (i = 0; i < obj->u.object.len; i++) {
        for (k = known; *k; k++) {
            if (ngx_strcmp(obj->u.object.keys[i], *k) == 0) {
                break;
            }
        }

        if (*k) {
            continue;
        }

        len = sizeof("rules[]: unknown member \"\" of ") + NGX_INT_T_LEN
              + 64 + ngx_strlen(where);

        p = ngx_pnalloc(ps->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ps->err->data = p;

        if (ps->index < NGX_HTTP_OCI_LC_RULES_MAX) {
            p = ngx_snprintf(p, len, "rules[%ui]: ", ps->index);
        }

        p = ngx_snprintf(p, len - (p - ps->err->data),
                         "unknown member \"%*s\" of %s",
                         ngx_min(ngx_strlen(obj->u.object.keys[i]),
                                 (size_t) 64),
                         obj->u.object.keys[i], where);

        ps->err->len = p - ps->err->data;

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the rules together: priorities, "any" last, one untagged rule */

static ngx_int_t
ngx_http_oci_lc_check(ngx_http_oci_lc_parse_t *ps,
    ngx_http_oci_lc_policy_t *policy)
{
    ngx_uint_t               i, untagged;
    ngx_http_oci_lc_rule_t  *rules;

    rules = policy->rules;

    ngx_qsort(rules, policy->nrules, sizeof(ngx_http_oci_lc_rule_t),
              ngx_http_oci_lc_by_priority);

    untagged = 0;

    for (i = 0; i < policy->nrules; i++) {
        ps->index = i;

        if (i > 0 && rules[i].priority == rules[i - 1].priority) {
            ps->index = NGX_HTTP_OCI_LC_RULES_MAX;
            return ngx_http_oci_lc_fail(ps, "rulePriority",
                                        "two rules have the same priority");
        }

        if (rules[i].status == NGX_HTTP_OCI_LC_ANY
            && i != policy->nrules - 1)
        {
            ps->index = NGX_HTTP_OCI_LC_RULES_MAX;
            return ngx_http_oci_lc_fail(ps, "selection.tagStatus",
                                        "a rule with tagStatus any must "
                                        "have the highest rulePriority");
        }

        if (rules[i].status == NGX_HTTP_OCI_LC_UNTAGGED && untagged++) {
            ps->index = NGX_HTTP_OCI_LC_RULES_MAX;
            return ngx_http_oci_lc_fail(ps, "selection.tagStatus",
                                        "only one rule may select "
                                        "untagged images");
        }
    }

    return NGX_OK;
}


/* "rules[<i>].<field>: <what>", the rule counted as written */

static ngx_int_t
ngx_http_oci_lc_fail(ngx_http_oci_lc_parse_t *ps, const char *field,
    const char *what)
{
    u_char  *p;
    size_t   len;

    len = sizeof("rules[]..: ") + NGX_INT_T_LEN
          + (field ? ngx_strlen(field) : 0) + ngx_strlen(what);

    p = ngx_pnalloc(ps->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ps->err->data = p;

    if (ps->index < NGX_HTTP_OCI_LC_RULES_MAX) {
        p = ngx_snprintf(p, len, "rules[%ui]%s%s: %s", ps->index,
                         field ? "." : "", field ? field : "", what);

    } else {
        p = ngx_snprintf(p, len, "%s: %s", field ? field : "rules", what);
    }

    ps->err->len = p - ps->err->data;

    return NGX_DECLINED;
}


static int ngx_libc_cdecl
ngx_http_oci_lc_by_priority(const void *a, const void *b)
{
    const ngx_http_oci_lc_rule_t  *ra = a, *rb = b;

    if (ra->priority == rb->priority) {
        return 0;
    }

    return ra->priority < rb->priority ? -1 : 1;
}
