
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_oci_auth.h"


/*
 * The access policy of the token endpoint, one statement a line, '#'
 * starts a comment:
 *
 *     group  <name> <user> [<user> ...]
 *     allow  <who> <repository-glob | registry:catalog> <actions>
 *
 * <who> is user:<name>, group:<name>, authenticated (any named user) or
 * anonymous (everyone, with or without credentials); <actions> is a
 * comma list of pull, push, delete, or "*" for all of them.  Read at
 * configuration time; a grant is the union of the rules that apply.
 */


#define NGX_HTTP_OCI_POLICY_MAX      (4 * 1024 * 1024)

#define NGX_HTTP_OCI_WHO_ANONYMOUS      0
#define NGX_HTTP_OCI_WHO_AUTHENTICATED  1
#define NGX_HTTP_OCI_WHO_USER           2
#define NGX_HTTP_OCI_WHO_GROUP          3


typedef struct {
    ngx_uint_t                  who;
    ngx_str_t                   name;        /* user or group */
    ngx_str_t                   glob;        /* repositories */
    ngx_uint_t                  catalog;     /* registry:catalog instead */
    ngx_uint_t                  actions;
} ngx_http_oci_rule_t;


typedef struct {
    ngx_str_t                   name;
    ngx_array_t                 members;     /* ngx_str_t */
} ngx_http_oci_group_t;


struct ngx_http_oci_policy_s {
    ngx_array_t                 rules;       /* ngx_http_oci_rule_t */
    ngx_array_t                 groups;      /* ngx_http_oci_group_t */
};


static u_char *ngx_http_oci_policy_words(u_char *p, u_char *last,
    ngx_array_t *words);
static ngx_int_t ngx_http_oci_policy_group(ngx_conf_t *cf,
    ngx_http_oci_policy_t *pol, ngx_str_t *word, ngx_uint_t n);
static ngx_int_t ngx_http_oci_policy_rule(ngx_http_oci_policy_t *pol,
    ngx_str_t *word);
static ngx_uint_t ngx_http_oci_policy_member(ngx_http_oci_policy_t *policy,
    ngx_str_t *group, ngx_str_t *user);
static ngx_uint_t ngx_http_oci_policy_eq(ngx_str_t *s, char *text);


char *
ngx_http_oci_policy_load(ngx_conf_t *cf, ngx_str_t *file,
    ngx_http_oci_policy_t **policy)
{
    u_char                 *buf, *p, *last;
    size_t                  len;
    ngx_int_t               rc;
    ngx_str_t              *word;
    ngx_uint_t              line;
    ngx_array_t             words;
    ngx_http_oci_policy_t  *pol;

    buf = ngx_http_oci_conf_file(cf, file, NGX_HTTP_OCI_POLICY_MAX, &len);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    pol = ngx_pcalloc(cf->pool, sizeof(ngx_http_oci_policy_t));
    if (pol == NULL
        || ngx_array_init(&pol->rules, cf->pool, 8,
                          sizeof(ngx_http_oci_rule_t)) != NGX_OK
        || ngx_array_init(&pol->groups, cf->pool, 4,
                          sizeof(ngx_http_oci_group_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the words of one line; a group may list any number of users */
    if (ngx_array_init(&words, cf->temp_pool, 16, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    last = buf + len;
    line = 0;

    for (p = buf; p < last; /* void */ ) {
        line++;

        p = ngx_http_oci_policy_words(p, last, &words);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        word = words.elts;

        if (words.nelts == 0) {
            continue;
        }

        if (ngx_http_oci_policy_eq(&word[0], "group") && words.nelts >= 3) {
            rc = ngx_http_oci_policy_group(cf, pol, word, words.nelts);

        } else if (ngx_http_oci_policy_eq(&word[0], "allow")
                   && words.nelts == 4)
        {
            rc = ngx_http_oci_policy_rule(pol, word);

        } else {
            rc = NGX_DECLINED;
        }

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid statement in line %ui of \"%V\"",
                               line, file);
            return NGX_CONF_ERROR;
        }
    }

    *policy = pol;

    return NGX_CONF_OK;
}


/*
 * The words of the line at p, without its comment, into "words"; returns
 * the start of the next line, or NULL when out of memory
 */

static u_char *
ngx_http_oci_policy_words(u_char *p, u_char *last, ngx_array_t *words)
{
    u_char     *eol, *end;
    ngx_str_t  *w;

    eol = ngx_strlchr(p, last, '\n');
    if (eol == NULL) {
        eol = last;
    }

    end = ngx_strlchr(p, eol, '#');
    if (end == NULL) {
        end = eol;
    }

    words->nelts = 0;

    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        }

        w = ngx_array_push(words);
        if (w == NULL) {
            return NULL;
        }

        w->data = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }

        w->len = p - w->data;
    }

    return eol < last ? eol + 1 : last;
}


/* group <name> <user> [<user> ...] */

static ngx_int_t
ngx_http_oci_policy_group(ngx_conf_t *cf, ngx_http_oci_policy_t *pol,
    ngx_str_t *word, ngx_uint_t n)
{
    ngx_str_t             *member;
    ngx_uint_t             i;
    ngx_http_oci_group_t  *group;

    group = ngx_array_push(&pol->groups);
    if (group == NULL) {
        return NGX_ERROR;
    }

    group->name = word[1];

    if (ngx_array_init(&group->members, cf->pool, n - 2, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 2; i < n; i++) {
        member = ngx_array_push(&group->members);
        if (member == NULL) {
            return NGX_ERROR;
        }

        *member = word[i];
    }

    return NGX_OK;
}


/* allow <who> <glob | registry:catalog> <actions>; NGX_DECLINED: invalid */

static ngx_int_t
ngx_http_oci_policy_rule(ngx_http_oci_policy_t *pol, ngx_str_t *word)
{
    ngx_http_oci_rule_t  *rule;

    rule = ngx_array_push(&pol->rules);
    if (rule == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_http_oci_rule_t));

    if (ngx_http_oci_policy_eq(&word[1], "anonymous")) {
        rule->who = NGX_HTTP_OCI_WHO_ANONYMOUS;

    } else if (ngx_http_oci_policy_eq(&word[1], "authenticated")) {
        rule->who = NGX_HTTP_OCI_WHO_AUTHENTICATED;

    } else if (word[1].len > 5
               && ngx_strncmp(word[1].data, "user:", 5) == 0)
    {
        rule->who = NGX_HTTP_OCI_WHO_USER;
        rule->name.data = word[1].data + 5;
        rule->name.len = word[1].len - 5;

    } else if (word[1].len > 6
               && ngx_strncmp(word[1].data, "group:", 6) == 0)
    {
        rule->who = NGX_HTTP_OCI_WHO_GROUP;
        rule->name.data = word[1].data + 6;
        rule->name.len = word[1].len - 6;

    } else {
        return NGX_DECLINED;
    }

    if (ngx_http_oci_policy_eq(&word[2], "registry:catalog")) {
        rule->catalog = 1;

    } else {
        rule->glob = word[2];
    }

    rule->actions = ngx_http_oci_actions_parse(word[3].data, word[3].len);

    if (rule->actions == 0) {
        return NGX_DECLINED;
    }

    if (rule->actions & NGX_HTTP_OCI_ACT_ANY) {
        rule->actions = NGX_HTTP_OCI_ACT_MASK;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_oci_policy_grant(ngx_http_oci_policy_t *policy, ngx_str_t *user,
    ngx_http_oci_access_t *scope)
{
    ngx_uint_t            i, granted, catalog;
    ngx_http_oci_rule_t  *rule;

    granted = 0;
    catalog = ngx_http_oci_policy_eq(&scope->type, "registry");

    rule = policy->rules.elts;

    for (i = 0; i < policy->rules.nelts; i++) {

        switch (rule[i].who) {

        case NGX_HTTP_OCI_WHO_ANONYMOUS:
            break;

        case NGX_HTTP_OCI_WHO_AUTHENTICATED:
            if (user->len == 0) {
                continue;
            }
            break;

        case NGX_HTTP_OCI_WHO_USER:
            if (user->len == 0 || rule[i].name.len != user->len
                || ngx_strncmp(rule[i].name.data, user->data, user->len))
            {
                continue;
            }
            break;

        default: /* NGX_HTTP_OCI_WHO_GROUP */
            if (user->len == 0
                || !ngx_http_oci_policy_member(policy, &rule[i].name, user))
            {
                continue;
            }
        }

        if (catalog != rule[i].catalog) {
            continue;
        }

        if (!catalog && !ngx_http_oci_glob_match(&rule[i].glob, &scope->name))
        {
            continue;
        }

        granted |= rule[i].actions;
    }

    /*
     * Asking for "*" (skopeo does to delete) is asking for whatever the
     * policy allows; "*" itself is granted only with every action.
     */

    if (scope->actions & NGX_HTTP_OCI_ACT_ANY) {
        return granted;
    }

    return scope->actions & granted;
}


/* is "user" a member of the group named "group"? */

static ngx_uint_t
ngx_http_oci_policy_member(ngx_http_oci_policy_t *policy, ngx_str_t *group,
    ngx_str_t *user)
{
    ngx_str_t             *m;
    ngx_uint_t             j, k;
    ngx_http_oci_group_t  *g;

    g = policy->groups.elts;

    for (j = 0; j < policy->groups.nelts; j++) {
        if (g[j].name.len != group->len
            || ngx_strncmp(g[j].name.data, group->data, group->len))
        {
            continue;
        }

        m = g[j].members.elts;

        for (k = 0; k < g[j].members.nelts; k++) {
            if (m[k].len == user->len
                && ngx_strncmp(m[k].data, user->data, user->len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_oci_policy_eq(ngx_str_t *s, char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}
