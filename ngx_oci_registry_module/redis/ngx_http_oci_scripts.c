
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_oci_scripts.h"
#include "ngx_http_oci_scripts_gc.h"
#include "ngx_http_oci_scripts_lifecycle.h"
#include "ngx_http_oci_scripts_mirror.h"
#include "ngx_http_oci_scripts_outbox.h"


/*
 * The Lua scripts that keep multi-key updates atomic.  KEYS[1] is always
 * the repository's key base "<prefix>{<name>}:", so every key a script
 * touches shares the repository's hash tag (one Redis Cluster slot).
 * The key schema is documented in docs/architecture.md.  What a script
 * says happened is a named reply ("LINKED", "LOCK_LOST"; an array whose
 * first element is one, {"LOCKED", holder}), read with
 * ngx_http_oci_script_reply(); data replies are documented per script.
 */


static ngx_str_t  ngx_http_oci_replies[] = {
    ngx_null_string,                 /* NGX_HTTP_OCI_R_NONE */
    ngx_string("OK"),
    ngx_string("DELETED"),
    ngx_string("UNKNOWN"),
    ngx_string("LOCKED"),
    ngx_string("STATE"),
    ngx_string("FULL"),
    ngx_string("SAVED"),
    ngx_string("LINKED"),
    ngx_string("LINKED_FRESH"),
    ngx_string("LOCK_LOST"),
    ngx_string("HAD_BYTES"),
    ngx_string("CREATED"),
    ngx_string("CANCELLED"),
    ngx_string("BLOB"),
    ngx_string("MANIFEST"),
    ngx_string("REFERRERS"),
    ngx_string("AGAIN"),
    ngx_string("FILES"),
    ngx_string("WALK"),
    ngx_string("DONE"),
    ngx_string("IDLE"),
    ngx_string("LEASED"),
    ngx_string("REPO")
};


/*
 * The named reply of a script: a string, or the first element of an
 * array.  NGX_HTTP_OCI_R_NONE for anything else (data, errors, nil).
 */

ngx_http_oci_reply_e
ngx_http_oci_script_reply(redisReply *reply)
{
    ngx_uint_t   i;
    redisReply  *e;

    e = reply;

    if (e->type == REDIS_REPLY_ARRAY) {
        if (e->elements == 0) {
            return NGX_HTTP_OCI_R_NONE;
        }

        e = e->element[0];
    }

    if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) {
        return NGX_HTTP_OCI_R_NONE;
    }

    for (i = 1; i < sizeof(ngx_http_oci_replies) / sizeof(ngx_str_t); i++) {
        if ((size_t) e->len == ngx_http_oci_replies[i].len
            && ngx_strncmp(e->str, ngx_http_oci_replies[i].data, e->len) == 0)
        {
            return (ngx_http_oci_reply_e) i;
        }
    }

    return NGX_HTTP_OCI_R_NONE;
}


/*
 * event(ki, i, tag, digest): the change's event (api/ngx_http_oci_events.h)
 * appended to the stream KEYS[ki]; KEYS[ki + 1] counts the entries
 * dropped because the stream held the backlog ARGV[i] already.  ARGV[i +
 * 1] is the action, "" for no event; without the key (events off) there
 * are no event arguments either.
 */
#define NGX_HTTP_OCI_LUA_EVENT                                               \
    "local function event(ki, i, tag, digest, mt)\n"                         \
    "  if not KEYS[ki] or (ARGV[i + 1] or '') == '' then return end\n"       \
    "  local s = KEYS[ki]\n"                                                 \
    "  redis.call('XADD', s, '*', 'a', ARGV[i + 1], 'r', ARGV[i + 2],\n"      \
    "             'm', mt or ARGV[i + 3], 'd', digest, 't', tag,\n"           \
    "             'x', ARGV[i + 4], 'u', ARGV[i + 5], 'q', ARGV[i + 6])\n"    \
    "  local max = tonumber(ARGV[i])\n"                                      \
    "  if redis.call('XLEN', s) > max then\n"                                \
    "    redis.call('INCRBY', KEYS[ki + 1],\n"                               \
    "               redis.call('XTRIM', s, 'MAXLEN', max))\n"                \
    "  end\n"                                                                \
    "end\n"


/*
 * catalog(key, name): the repository is in the catalog.  On a cluster
 * the key is the repository's outbox, and "<outbox>catalog:listed"
 * says that a forward put the name in the global catalog already, so
 * that a push to a listed repository has nothing to forward (on one
 * Redis that key never exists)
 */
#define NGX_HTTP_OCI_LUA_CATALOG                                             \
    "local function catalog(k, name)\n"                                      \
    "  if redis.call('EXISTS', k .. ':listed') == 0 then\n"                  \
    "    redis.call('ZADD', k, 0, name)\n"                                   \
    "  end\n"                                                                \
    "end\n"


/*
 * delete(b, digest): a manifest by digest, with its tags, its reverse
 * indexes, its referrer entry and its place in the index of manifests;
 * false when there is none.  A blob it leaves unreferenced starts its
 * grace period for the collector (ngx_http_oci_scripts_gc.h).
 */
#define NGX_HTTP_OCI_LUA_DELETE                                              \
    NGX_HTTP_OCI_LUA_REFD                                                    \
    "local function unref(b, d)\n"                                           \
    "  if not refd(b, d)\n"                                                  \
    "     and redis.call('HEXISTS', b .. 'blobs', d) == 1 then\n"            \
    "    redis.call('ZADD', b .. 'unref', redis.call('TIME')[1], d)\n"       \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "local function delete(b, dg)\n"                                         \
    "  local mk = b .. 'm:' .. dg\n"                                         \
    "  local m = redis.call('HMGET', mk, 'subject', 'blobs', 'manifests',\n"  \
    "                       'at')\n"                                         \
    "  if not m[1] then return false end\n"                                  \
    "  for _, t in ipairs(redis.call('SMEMBERS',\n"                          \
    "                                 b .. 'digesttags:' .. dg)) do\n"       \
    "    redis.call('HDEL', b .. 'tagmap', t)\n"                             \
    "    redis.call('ZREM', b .. 'tags', t)\n"                               \
    "  end\n"                                                                \
    "  redis.call('DEL', b .. 'digesttags:' .. dg)\n"                        \
    "  for d in string.gmatch(m[2] or '', '%S+') do\n"                       \
    "    redis.call('SREM', b .. 'blobrefs:' .. d, dg)\n"                    \
    "    unref(b, d)\n"                                                      \
    "  end\n"                                                                \
    "  for d in string.gmatch(m[3] or '', '%S+') do\n"                       \
    "    redis.call('SREM', b .. 'mrefs:' .. d, dg)\n"                       \
    "    unref(b, d)\n"                                                      \
    "  end\n"                                                                \
    "  if m[1] ~= '' then\n"                                                 \
    "    redis.call('ZREM', b .. 'referrers:' .. m[1], dg)\n"                \
    "    if m[4] and m[4] ~= '' then\n"                                      \
    "      redis.call('ZREM',\n"                                             \
    "                 b .. 'referrers:' .. m[1] .. ':type:' .. m[4], dg)\n"  \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  redis.call('DEL', mk)\n"                                              \
    "  redis.call('ZREM', b .. 'manifests', dg)\n"                           \
    "  return true\n"                                                        \
    "end\n"


/*
 * store(b, digest, type, body, size, subject, descriptor, artifactType,
 * blobs, manifests): a manifest not yet in the repository is, with its
 * reverse indexes and referrer entries; tag(b, t, digest) points a tag
 * at it.  MANIFEST_PUT checks first; MIRROR_PUT stores what an upstream
 * sent, whose blobs come when they are pulled.
 */
#define NGX_HTTP_OCI_LUA_STORE                                               \
    "local function store(b, dg, ty, body, size, subj, desc, at,\n"          \
    "                     blobs, mans)\n"                                    \
    "  local mk = b .. 'm:' .. dg\n"                                         \
    "  if redis.call('EXISTS', mk) == 1 then return end\n"                   \
    "  local rk = b .. 'referrers:' .. subj\n"                               \
    "  local now = redis.call('TIME')[1]\n"                                  \
    "  redis.call('HSET', mk, 'type', ty, 'body', body, 'size', size,\n"     \
    "             'subject', subj, 'desc', desc, 'at', at,\n"                \
    "             'blobs', table.concat(blobs, ' '),\n"                      \
    "             'manifests', table.concat(mans, ' '), 'pushed', now)\n"    \
    "  redis.call('ZADD', b .. 'manifests', now, dg)\n"                      \
    "  for _, d in ipairs(blobs) do\n"                                       \
    "    redis.call('SADD', b .. 'blobrefs:' .. d, dg)\n"                    \
    "    redis.call('ZREM', b .. 'unref', d)\n"                              \
    "  end\n"                                                                \
    "  for _, d in ipairs(mans) do\n"                                        \
    "    redis.call('SADD', b .. 'mrefs:' .. d, dg)\n"                       \
    "    redis.call('ZREM', b .. 'unref', d)\n"                              \
    "  end\n"                                                                \
    "  if subj ~= '' then\n"                                                 \
    "    redis.call('ZADD', rk, 0, dg)\n"                                    \
    "    if at ~= '' then\n"                                                 \
    "      redis.call('ZADD', rk .. ':type:' .. at, 0, dg)\n"                \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "local function tag(b, t, dg)\n"                                         \
    "  local old = redis.call('HGET', b .. 'tagmap', t)\n"                   \
    "  if old and old ~= dg then\n"                                          \
    "    redis.call('SREM', b .. 'digesttags:' .. old, t)\n"                 \
    "  end\n"                                                                \
    "  redis.call('HSET', b .. 'tagmap', t, dg)\n"                           \
    "  redis.call('ZADD', b .. 'tags', 0, t)\n"                              \
    "  redis.call('SADD', b .. 'digesttags:' .. dg, t)\n"                    \
    "end\n"


ngx_str_t  ngx_http_oci_scripts[NGX_HTTP_OCI_SCRIPT_N] = {

    /*
     * MANIFEST_GET: KEYS[2..3] events; ARGV tag-or-digest, "t"|"d",
     * "get"|"head", a mirror's TTL ("": not mirrored) and now, then the
     * event of a pull (no action: pulls are not events, or a HEAD).
     * Returns {digest, type, body or size}, with a fourth "stale" for a
     * mirrored tag fetched more than its TTL ago, or nil.  A mirrored
     * manifest's last pull is recorded, to the minute.
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        "local b = KEYS[1]\n"
        "local d = ARGV[1]\n"
        "local tag = ''\n"
        "if ARGV[2] == 't' then\n"
        "  d = redis.call('HGET', b .. 'tagmap', ARGV[1])\n"
        "  if not d then return nil end\n"
        "  tag = ARGV[1]\n"
        "end\n"
        "local f = 'body'\n"
        "if ARGV[3] == 'head' then f = 'size' end\n"
        "local mk = b .. 'm:' .. d\n"
        "local m\n"
        "if ARGV[4] == '' then\n"
        "  m = redis.call('HMGET', mk, 'type', f)\n"
        "else\n"
        "  m = redis.call('HMGET', mk, 'type', f, 'pulled',\n"
        "                 'fetched:' .. tag)\n"
        "end\n"
        "if not m[1] then return nil end\n"
        "event(2, 6, tag, d, m[1])\n"
        "if ARGV[4] ~= '' then\n"
        "  if not m[3] or tonumber(m[3]) < tonumber(ARGV[5]) - 60 then\n"
        "    redis.call('HSET', mk, 'pulled', ARGV[5])\n"
        "  end\n"
        "  if tag ~= '' and m[4]\n"
        "     and tonumber(m[4]) < tonumber(ARGV[5]) - tonumber(ARGV[4])\n"
        "  then\n"
        "    return {d, m[1], m[2], 'stale'}\n"
        "  end\n"
        "end\n"
        "return {d, m[1], m[2]}\n"),

    /*
     * MANIFEST_PUT: KEYS[2] the catalog, KEYS[3..4] events; ARGV name,
     * digest, type, body, size, subject, descriptor, artifactType, the
     * most referrers a subject may have, then three counted lists: tags,
     * blobs, child manifests, then the event: one per tag, or one.
     * Returns "OK", {kind, digest} for the first reference that is not in
     * the repository, or {"REFERRERS", subject} when the subject has as
     * many referrers as it may.  An index entry may also
     * be a blob: BuildKit's registry cache is an index whose entries are
     * layers and its cache config.  A referrer is listed for its subject
     * and, for the artifactType filter, for its subject and type.
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        NGX_HTTP_OCI_LUA_STORE
        NGX_HTTP_OCI_LUA_CATALOG
        "local b = KEYS[1]\n"
        "local dg = ARGV[2]\n"
        "local i = 10\n"
        "local function list()\n"
        "  local n = tonumber(ARGV[i]); local t = {}\n"
        "  for j = 1, n do t[j] = ARGV[i + j] end\n"
        "  i = i + n + 1\n"
        "  return t\n"
        "end\n"
        "local tags = list()\n"
        "local blobs = list()\n"
        "local mans = list()\n"
        "for _, d in ipairs(blobs) do\n"
        "  if redis.call('HEXISTS', b .. 'blobs', d) == 0 then\n"
        "    return {'BLOB', d}\n"
        "  end\n"
        "end\n"
        "for _, d in ipairs(mans) do\n"
        "  if redis.call('EXISTS', b .. 'm:' .. d) == 0\n"
        "     and redis.call('HEXISTS', b .. 'blobs', d) == 0 then\n"
        "    return {'MANIFEST', d}\n"
        "  end\n"
        "end\n"
        "local rk = b .. 'referrers:' .. ARGV[6]\n"
        "if ARGV[6] ~= '' and redis.call('EXISTS', b .. 'm:' .. dg) == 0\n"
        "   and redis.call('ZCARD', rk) >= tonumber(ARGV[9]) then\n"
        "  return {'REFERRERS', ARGV[6]}\n"
        "end\n"
        "store(b, dg, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8],\n"
        "      blobs, mans)\n"
        "for _, t in ipairs(tags) do tag(b, t, dg) end\n"
        "catalog(KEYS[2], ARGV[1])\n"
        "for _, t in ipairs(tags) do event(3, i, t, dg) end\n"
        "if #tags == 0 then event(3, i, '', dg) end\n"
        "return 'OK'\n"),

    /*
     * MANIFEST_DELETE: KEYS[2..3] events; ARGV tag-or-digest, "t"|"d",
     * then the event.  A tag is only untagged; a digest takes its tags,
     * reverse indexes and referrer entry with it.  "DELETED", or
     * "UNKNOWN" when there was nothing to delete.
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        NGX_HTTP_OCI_LUA_DELETE
        "local b = KEYS[1]\n"
        "if ARGV[2] == 't' then\n"
        "  local d = redis.call('HGET', b .. 'tagmap', ARGV[1])\n"
        "  if not d then return 'UNKNOWN' end\n"
        "  redis.call('HDEL', b .. 'tagmap', ARGV[1])\n"
        "  redis.call('ZREM', b .. 'tags', ARGV[1])\n"
        "  redis.call('SREM', b .. 'digesttags:' .. d, ARGV[1])\n"
        "  event(2, 3, ARGV[1], d)\n"
        "  return 'DELETED'\n"
        "end\n"
        "if not delete(b, ARGV[1]) then return 'UNKNOWN' end\n"
        "event(2, 3, '', ARGV[1])\n"
        "return 'DELETED'\n"),

    /*
     * REFERRERS: ARGV subject digest, artifactType filter ("" for none),
     * last digest of the previous page ("" for the first), page size, the
     * most descriptor bytes a page may hold.  Returns {next, descriptor
     * ...}: "next" is the digest to continue after, "" when this is the
     * last page.  A page costs O(log N + n): the filter has an index of
     * its own, and only the page's entries are read (a page holds at
     * least one descriptor, whatever its size).
     */
    ngx_string(
        "local b = KEYS[1]\n"
        "local key = b .. 'referrers:' .. ARGV[1]\n"
        "if ARGV[2] ~= '' then key = key .. ':type:' .. ARGV[2] end\n"
        "local n = tonumber(ARGV[4])\n"
        "local cap = tonumber(ARGV[5])\n"
        "local start = '-'\n"
        "if ARGV[3] ~= '' then start = '(' .. ARGV[3] end\n"
        "local out = {''}\n"
        "local last = ''\n"
        "local bytes = 0\n"
        "local ds = redis.call('ZRANGEBYLEX', key, start, '+', 'LIMIT', 0,\n"
        "                      n + 1)\n"
        "for i, d in ipairs(ds) do\n"
        "  if i > n then out[1] = last; break end\n"
        "  local mk = b .. 'm:' .. d\n"
        "  local len = redis.call('HSTRLEN', mk, 'desc')\n"
        "  if len > 0 then\n"
        "    if #out > 1 and bytes + len > cap then out[1] = last; break end\n"
        "    out[#out + 1] = redis.call('HGET', mk, 'desc')\n"
        "    bytes = bytes + len\n"
        "  end\n"
        "  last = d\n"
        "end\n"
        "return out\n"),

    /*
     * UPLOAD_LOCK: ARGV upload id, lock token, lock ttl (ms), the token of
     * a holder known to be dead ("" if none), "1" for a fresh signed id
     * (its state is made here, unless it ended), upload ttl (s), the most
     * uploads a repository may have in progress.  One writer per upload
     * at a time.  Returns {"STATE", offset, algorithm, hash state},
     * "UNKNOWN", {"LOCKED", holder's token}, or "FULL" when the upload
     * would be one too many.
     */
    ngx_string(
        "local k = KEYS[1] .. 'upload:' .. ARGV[1]\n"
        "local h = redis.call('HMGET', k, 'offset', 'alg', 'hash')\n"
        "if not h[1] then\n"
        "  if ARGV[5] ~= '1' or redis.call('EXISTS', k .. ':gone') == 1 then\n"
        "    return 'UNKNOWN'\n"
        "  end\n"
        "  local u = KEYS[1] .. 'uploads'\n"
        "  local now = tonumber(redis.call('TIME')[1])\n"
        "  redis.call('ZREMRANGEBYSCORE', u, '-inf', now)\n"
        "  if redis.call('ZCARD', u) >= tonumber(ARGV[7]) then\n"
        "    return 'FULL'\n"
        "  end\n"
        "  redis.call('ZADD', u, now + tonumber(ARGV[6]), ARGV[1])\n"
        "  redis.call('HSET', k, 'offset', 0, 'alg', 'sha256', 'hash', '',\n"
        "             'started', now)\n"
        "  redis.call('EXPIRE', k, ARGV[6])\n"
        "  h = {'0', 'sha256', ''}\n"
        "end\n"
        "local cur = redis.call('GET', k .. ':lock')\n"
        "if cur and cur ~= ARGV[4] then return {'LOCKED', cur} end\n"
        "redis.call('SET', k .. ':lock', ARGV[2], 'PX', ARGV[3])\n"
        "return {'STATE', h[1], h[2], h[3]}\n"),

    /*
     * UPLOAD_SAVE: ARGV upload id, token, new offset, hash state, ttl (s).
     * Records a chunk and releases the lock, if we still hold it.
     * "SAVED", "LOCK_LOST" or "UNKNOWN" (the upload is gone: cancelled).
     */
    ngx_string(
        "local k = KEYS[1] .. 'upload:' .. ARGV[1]\n"
        "if redis.call('EXISTS', k) == 0 then return 'UNKNOWN' end\n"
        "if redis.call('GET', k .. ':lock') ~= ARGV[2] then\n"
        "  return 'LOCK_LOST'\n"
        "end\n"
        "redis.call('HSET', k, 'offset', ARGV[3], 'hash', ARGV[4])\n"
        "redis.call('EXPIRE', k, ARGV[5])\n"
        "redis.call('ZADD', KEYS[1] .. 'uploads', 'XX',\n"
        "           tonumber(redis.call('TIME')[1]) + tonumber(ARGV[5]),\n"
        "           ARGV[1])\n"
        "redis.call('DEL', k .. ':lock')\n"
        "return 'SAVED'\n"),

    /*
     * BLOB_LINK: KEYS[2..4] the blob's record, the collector's
     * repositories and orphans, KEYS[5..6] events; ARGV digest, size,
     * upload id ("" for none: a mount), token, "1" for a signed id, how
     * long it stays fresh (s), then the event.  Links a verified blob to
     * the repository and ends its upload; a signed id is marked gone, or
     * it would look fresh again.  "LINKED", "LOCK_LOST" or "UNKNOWN"
     * (the upload is gone: cancelled); {"LINKED", "0"} when the link was
     * there already (a cluster's hold of the record is let go then).
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        NGX_HTTP_OCI_LUA_LINK
        "local b = KEYS[1]\n"
        "if ARGV[3] ~= '' then\n"
        "  local k = b .. 'upload:' .. ARGV[3]\n"
        "  if redis.call('EXISTS', k) == 0 then return 'UNKNOWN' end\n"
        "  if redis.call('GET', k .. ':lock') ~= ARGV[4] then\n"
        "    return 'LOCK_LOST'\n"
        "  end\n"
        "  redis.call('DEL', k, k .. ':lock')\n"
        "  redis.call('ZREM', b .. 'uploads', ARGV[3])\n"
        "  if ARGV[5] == '1' then\n"
        "    redis.call('SET', k .. ':gone', 1, 'EX', ARGV[6])\n"
        "  end\n"
        "end\n"
        "local new = link(b, ARGV[1], ARGV[2])\n"
        "event(5, 7, '', ARGV[1])\n"
        "if new == 0 then return {'LINKED', '0'} end\n"
        "return 'LINKED'\n"),

    /*
     * UPLOAD_CREATE: ARGV upload id, algorithm, ttl (s), the most uploads
     * a repository may have in progress.  "CREATED", or "FULL".
     */
    ngx_string(
        "local k = KEYS[1] .. 'upload:' .. ARGV[1]\n"
        "local u = KEYS[1] .. 'uploads'\n"
        "local now = tonumber(redis.call('TIME')[1])\n"
        "redis.call('ZREMRANGEBYSCORE', u, '-inf', now)\n"
        "if redis.call('ZCARD', u) >= tonumber(ARGV[4]) then\n"
        "  return 'FULL'\n"
        "end\n"
        "redis.call('ZADD', u, now + tonumber(ARGV[3]), ARGV[1])\n"
        "redis.call('HSET', k, 'offset', 0, 'alg', ARGV[2], 'hash', '',\n"
        "           'started', now)\n"
        "redis.call('EXPIRE', k, ARGV[3])\n"
        "return 'CREATED'\n"),

    /*
     * BLOB_CLOSE: KEYS[2..4] as for BLOB_LINK, KEYS[5..6] events; ARGV
     * digest, size, upload id, the
     * token of a holder known to be dead ("" if none), "1" for a fresh
     * signed id, how long it stays fresh (s), then the event.  Ends an
     * upload whose closing PUT carried a whole blob, verified with the
     * digest's own algorithm, without having locked it: the upload must
     * still be at offset 0 and unlocked.
     * "LINKED", "LINKED_FRESH" (a signed id nobody wrote to, so no upload
     * file exists), "UNKNOWN", "HAD_BYTES" (so the body was not the whole
     * blob: the upload is dropped) or {"LOCKED", holder's token}; the
     * first two as {reply, "0"} when the link was there already.
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        NGX_HTTP_OCI_LUA_LINK
        "local b = KEYS[1]\n"
        "local k = b .. 'upload:' .. ARGV[3]\n"
        "local o = redis.call('HGET', k, 'offset')\n"
        "local linked = 'LINKED'\n"
        "if not o then\n"
        "  if ARGV[5] ~= '1' or redis.call('EXISTS', k .. ':gone') == 1 then\n"
        "    return 'UNKNOWN'\n"
        "  end\n"
        "  o = '0'\n"
        "  linked = 'LINKED_FRESH'\n"
        "end\n"
        "local cur = redis.call('GET', k .. ':lock')\n"
        "if cur and cur ~= ARGV[4] then return {'LOCKED', cur} end\n"
        "redis.call('DEL', k, k .. ':lock')\n"
        "redis.call('ZREM', b .. 'uploads', ARGV[3])\n"
        "if ARGV[5] == '1' then\n"
        "  redis.call('SET', k .. ':gone', 1, 'EX', ARGV[6])\n"
        "end\n"
        "if o ~= '0' then return 'HAD_BYTES' end\n"
        "local new = link(b, ARGV[1], ARGV[2])\n"
        "event(5, 7, '', ARGV[1])\n"
        "if new == 0 then return {linked, '0'} end\n"
        "return linked\n"),

    /*
     * UPLOAD_STATUS: ARGV upload id, "1" for a fresh signed id.
     * {"STATE", offset}: 0 for a signed id nobody wrote to yet; or
     * "UNKNOWN".
     */
    ngx_string(
        "local k = KEYS[1] .. 'upload:' .. ARGV[1]\n"
        "local o = redis.call('HGET', k, 'offset')\n"
        "if o then return {'STATE', o} end\n"
        "if ARGV[2] == '1' and redis.call('EXISTS', k .. ':gone') == 0 then\n"
        "  return {'STATE', '0'}\n"
        "end\n"
        "return 'UNKNOWN'\n"),

    /*
     * UPLOAD_CANCEL: ARGV upload id, "1" for a fresh signed id, how long
     * it stays fresh (s).  "CANCELLED" if the upload existed (and is gone
     * now), else "UNKNOWN".
     */
    ngx_string(
        "local k = KEYS[1] .. 'upload:' .. ARGV[1]\n"
        "redis.call('ZREM', KEYS[1] .. 'uploads', ARGV[1])\n"
        "local n = redis.call('DEL', k, k .. ':lock')\n"
        "if ARGV[2] ~= '1' or (n == 0\n"
        "   and redis.call('EXISTS', k .. ':gone') == 1) then\n"
        "  if n == 0 then return 'UNKNOWN' end\n"
        "  return 'CANCELLED'\n"
        "end\n"
        "redis.call('SET', k .. ':gone', 1, 'EX', ARGV[3])\n"
        "return 'CANCELLED'\n"),

    /*
     * UPLOAD_UNLOCK: KEYS[1] a lock; ARGV token.  Releases the lock if it
     * is still that token's (it may have expired and been taken since).
     */
    ngx_string(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
        "  return redis.call('DEL', KEYS[1])\n"
        "end\n"
        "return 0\n"),

    /* UPLOAD_RENEW: KEYS[1] a lock; ARGV token, ttl (ms) */
    ngx_string(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
        "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
        "end\n"
        "return 0\n"),

    /*
     * BLOB_GET: KEYS[2..3] events; ARGV digest, then the event of a pull.
     * The blob's size in the repository, or nil.  Used instead of a plain
     * HGET only when pulls are events.
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        "local v = redis.call('HGET', KEYS[1] .. 'blobs', ARGV[1])\n"
        "if v then event(2, 2, '', ARGV[1]) end\n"
        "return v\n"),

    /*
     * BLOB_DELETE: KEYS[2..4] as for BLOB_LINK, KEYS[5..6] events; ARGV
     * digest, then the event.  The repository's link goes; the file stays
     * until the collector finds that no repository links it: 1, or 0
     * when there was none.  On a cluster (KEYS[2] is the outbox's) the
     * outbox gets "letgo <digest>" for the record (scripts_outbox.h).
     */
    ngx_string(
        NGX_HTTP_OCI_LUA_EVENT
        "local n = redis.call('HDEL', KEYS[1] .. 'blobs', ARGV[1])\n"
        "if n == 1 then\n"
        "  redis.call('ZREM', KEYS[1] .. 'unref', ARGV[1])\n"
        "  if KEYS[2] == KEYS[1] .. 'x:blob' then\n"
        "    redis.call('XADD', KEYS[1] .. 'x:events', '*', 'letgo', ARGV[1])\n"
        "  end\n"
        "  redis.call('SREM', KEYS[2], KEYS[1])\n"
        "  if redis.call('EXISTS', KEYS[2]) == 0 then\n"
        "    redis.call('ZADD', KEYS[4], redis.call('TIME')[1], ARGV[1])\n"
        "  end\n"
        "  event(5, 2, '', ARGV[1])\n"
        "end\n"
        "return n\n"),

    /*
     * The delivery of events (observe/): not a repository's keys.
     *
     * EVENTS_READ: KEYS[1] the stream, KEYS[2] the endpoint's lease;
     * ARGV the endpoint (its consumer group), the holder, how many, the
     * lease's life (ms), a holder known to be dead ("" if none).  Takes
     * or renews the lease (or takes a dead holder's), then reads what a
     * holder before, or this one, was given and did not acknowledge (in
     * order, first), else what is new.  {"STATE", entries} (none: no
     * entries), or {"LOCKED", holder}.  A group is made on its first
     * read, at the stream's start: a new endpoint gets what the stream
     * still holds (what no endpoint has had yet, or all of it when there
     * was none), then all that comes.
     */
    ngx_string(
        "local l = redis.call('GET', KEYS[2])\n"
        "if l and l ~= ARGV[2] and l ~= ARGV[5] then\n"
        "  return {'LOCKED', l}\n"
        "end\n"
        "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])\n"
        "local r = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], 0,\n"
        "                      '0-0', 'COUNT', ARGV[3])\n"
        "if r.err then\n"
        "  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')\n"
        "  return {'STATE'}\n"
        "end\n"
        "if #r[2] > 0 then return {'STATE', r[2]} end\n"
        "local x = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2],\n"
        "                     'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')\n"
        "if not x then return {'STATE'} end\n"
        "return {'STATE', x[1][2]}\n"),

    /*
     * EVENTS_ACK: KEYS[1] the stream, KEYS[2] its dropped counter; ARGV
     * the group, then the ids delivered.  Then trims what every group has
     * had: below the oldest entry one still waits for, or up to the last
     * delivered to all.  {length, dropped}.
     */
    ngx_string(
        "redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))\n"
        "local function less(a, b)\n"
        "  local am, as = string.match(a, '(%d+)-(%d+)')\n"
        "  local bm, bs = string.match(b, '(%d+)-(%d+)')\n"
        "  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm),\n"
        "                   tonumber(bs)\n"
        "  return am < bm or (am == bm and as < bs)\n"
        "end\n"
        "local min\n"
        "for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do\n"
        "  local h = {}\n"
        "  for j = 1, #g, 2 do h[g[j]] = g[j + 1] end\n"
        "  local ms, sq = string.match(h['last-delivered-id'],\n"
        "                              '(%d+)-(%d+)')\n"
        "  local id = ms .. '-' .. (tonumber(sq) + 1)\n"
        "  if h['pending'] > 0 then\n"
        "    id = redis.call('XPENDING', KEYS[1], h['name'])[2]\n"
        "  end\n"
        "  if not min or less(id, min) then min = id end\n"
        "end\n"
        "if min then redis.call('XTRIM', KEYS[1], 'MINID', min) end\n"
        "return {redis.call('XLEN', KEYS[1]),\n"
        "        tonumber(redis.call('GET', KEYS[2]) or '0')}\n"),

    /* lifecycle policies' (ngx_http_oci_scripts_lifecycle.h) */
    ngx_string(NGX_HTTP_OCI_LUA_LIFECYCLE_IMAGES),
    ngx_string(NGX_HTTP_OCI_LUA_LIFECYCLE_EXPIRE),
    ngx_string(NGX_HTTP_OCI_LUA_LIFECYCLE_STEP),
    ngx_string(NGX_HTTP_OCI_LUA_LIFECYCLE_DONE),

    /* the garbage collector's (ngx_http_oci_scripts_gc.h) */
    ngx_string(NGX_HTTP_OCI_LUA_GC_STEP),
    ngx_string(NGX_HTTP_OCI_LUA_GC_CHECK),
    ngx_string(NGX_HTTP_OCI_LUA_GC_CONFIRM),
    ngx_string(NGX_HTTP_OCI_LUA_GC_STATUS),
    ngx_string(NGX_HTTP_OCI_LUA_GC_USAGE),
    ngx_string(NGX_HTTP_OCI_LUA_GC_REPO),
    ngx_string(NGX_HTTP_OCI_LUA_BLOB_HOLD),
    ngx_string(NGX_HTTP_OCI_LUA_BLOB_LETGO),

    /* the mirrors' (ngx_http_oci_scripts_mirror.h) */
    ngx_string(NGX_HTTP_OCI_LUA_STORE NGX_HTTP_OCI_LUA_CATALOG
               NGX_HTTP_OCI_LUA_MIRROR_PUT),
    ngx_string(NGX_HTTP_OCI_LUA_MIRROR_LEASE),

    /* a cluster's outboxes (ngx_http_oci_scripts_outbox.h) */
    ngx_string(NGX_HTTP_OCI_LUA_OUTBOX_TAKE),
    ngx_string(NGX_HTTP_OCI_LUA_OUTBOX_APPLY),
    ngx_string(NGX_HTTP_OCI_LUA_OUTBOX_DONE)
};


/*
 * The scripts whose change an answer acknowledges (201, 202 of a push,
 * an upload's progress, a delete): with "wait" their replies wait for
 * the replicas.  Reads, locks (they expire anyway) and the background
 * work's scripts do not.
 */

const u_char  ngx_http_oci_script_writes[NGX_HTTP_OCI_SCRIPT_N] = {
    [NGX_HTTP_OCI_SCRIPT_MANIFEST_PUT] = 1,
    [NGX_HTTP_OCI_SCRIPT_MANIFEST_DELETE] = 1,
    [NGX_HTTP_OCI_SCRIPT_UPLOAD_SAVE] = 1,
    [NGX_HTTP_OCI_SCRIPT_BLOB_LINK] = 1,
    [NGX_HTTP_OCI_SCRIPT_UPLOAD_CREATE] = 1,
    [NGX_HTTP_OCI_SCRIPT_BLOB_CLOSE] = 1,
    [NGX_HTTP_OCI_SCRIPT_UPLOAD_CANCEL] = 1,
    [NGX_HTTP_OCI_SCRIPT_BLOB_DELETE] = 1,
    [NGX_HTTP_OCI_SCRIPT_LIFECYCLE_EXPIRE] = 1,
    [NGX_HTTP_OCI_SCRIPT_MIRROR_PUT] = 1,
    [NGX_HTTP_OCI_SCRIPT_BLOB_HOLD] = 1
};


/*
 * The scripts of a repository whose keys after the first are the ones
 * that are no repository's (the catalog, events, blob records): on a
 * cluster those are its outbox, forwarded after the reply when the
 * script had more keys than the number here.  The link scripts' first
 * three (the blob record, the collector's repositories) hold one member
 * each on a cluster and need no forward; their events do.
 */

const u_char  ngx_http_oci_script_outbox[NGX_HTTP_OCI_SCRIPT_N] = {
    [NGX_HTTP_OCI_SCRIPT_MANIFEST_GET] = 1,
    [NGX_HTTP_OCI_SCRIPT_MANIFEST_PUT] = 1,
    [NGX_HTTP_OCI_SCRIPT_MANIFEST_DELETE] = 1,
    [NGX_HTTP_OCI_SCRIPT_BLOB_LINK] = 4,
    [NGX_HTTP_OCI_SCRIPT_BLOB_CLOSE] = 4,
    [NGX_HTTP_OCI_SCRIPT_BLOB_GET] = 1,
    [NGX_HTTP_OCI_SCRIPT_BLOB_DELETE] = 1,
    [NGX_HTTP_OCI_SCRIPT_LIFECYCLE_EXPIRE] = 1,
    [NGX_HTTP_OCI_SCRIPT_MIRROR_PUT] = 1
};
