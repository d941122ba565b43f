
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_SCRIPTS_LIFECYCLE_H_INCLUDED_
#define _NGX_HTTP_OCI_SCRIPTS_LIFECYCLE_H_INCLUDED_


/*
 * Lifecycle policies' scripts (policy/ngx_http_oci_lifecycle_*.c), as
 * text for ngx_http_oci_scripts[]: a repository's images, expiring one
 * (with NGX_HTTP_OCI_LUA_EVENT and NGX_HTTP_OCI_LUA_DELETE of
 * ngx_http_oci_scripts.c), and the schedule's lease and pass, which are
 * no repository's keys.
 */


/*
 * LIFECYCLE_IMAGES: ARGV the first index, how many.  A page of the
 * repository's manifests by push time: {total, {digest, pushed,
 * flags, tag ...} ...}, flags "s" for a referrer (it has a subject),
 * "c" for a manifest an index references.  The index of manifests is
 * made on push; the first call also indexes the tagged manifests of
 * versions before it (untagged ones of those it cannot find).
 */
#define NGX_HTTP_OCI_LUA_LIFECYCLE_IMAGES                                    \
    "local b = KEYS[1]\n"                                                    \
    "local ix = b .. 'manifests'\n"                                          \
    "if redis.call('EXISTS', ix .. ':indexed') == 0 then\n"                  \
    "  local tm = redis.call('HGETALL', b .. 'tagmap')\n"                    \
    "  for i = 2, #tm, 2 do\n"                                               \
    "    local p = redis.call('HGET', b .. 'm:' .. tm[i], 'pushed')\n"       \
    "    if p then redis.call('ZADD', ix, 'NX', p, tm[i]) end\n"             \
    "  end\n"                                                                \
    "  redis.call('SET', ix .. ':indexed', '1')\n"                           \
    "end\n"                                                                  \
    "local first = tonumber(ARGV[1])\n"                                      \
    "local out = {redis.call('ZCARD', ix)}\n"                                \
    "local ds = redis.call('ZRANGE', ix, first,\n"                           \
    "                      first + tonumber(ARGV[2]) - 1, 'WITHSCORES')\n"   \
    "for i = 1, #ds, 2 do\n"                                                 \
    "  local d = ds[i]\n"                                                    \
    "  local f = ''\n"                                                       \
    "  local s = redis.call('HGET', b .. 'm:' .. d, 'subject')\n"            \
    "  if s and s ~= '' then f = 's' end\n"                                  \
    "  if redis.call('SCARD', b .. 'mrefs:' .. d) > 0 then\n"                \
    "    f = f .. 'c'\n"                                                     \
    "  end\n"                                                                \
    "  local e = {d, ds[i + 1], f}\n"                                        \
    "  for _, t in ipairs(redis.call('SMEMBERS',\n"                          \
    "                                b .. 'digesttags:' .. d)) do\n"         \
    "    e[#e + 1] = t\n"                                                    \
    "  end\n"                                                                \
    "  out[#out + 1] = e\n"                                                  \
    "end\n"                                                                  \
    "return out\n"


/*
 * LIFECYCLE_EXPIRE: KEYS[2..3] events; ARGV digest, the number of
 * tags it had when the policy was evaluated, the tags, then the
 * event.  Expires the manifest and the referrers of it, only if it
 * still has exactly those tags and no index references it (a push
 * may have moved a tag since): {"DELETED", referrers deleted},
 * "STATE" when it changed, "UNKNOWN" when it is gone.
 */
#define NGX_HTTP_OCI_LUA_LIFECYCLE_EXPIRE                                    \
    NGX_HTTP_OCI_LUA_EVENT                                                   \
    NGX_HTTP_OCI_LUA_DELETE                                                  \
    "local b = KEYS[1]\n"                                                    \
    "local dg = ARGV[1]\n"                                                   \
    "local n = tonumber(ARGV[2])\n"                                          \
    "local i = n + 3\n"                                                      \
    "if redis.call('EXISTS', b .. 'm:' .. dg) == 0 then\n"                   \
    "  return 'UNKNOWN'\n"                                                   \
    "end\n"                                                                  \
    "local want = {}\n"                                                      \
    "for j = 1, n do want[ARGV[2 + j]] = true end\n"                         \
    "local have = redis.call('SMEMBERS', b .. 'digesttags:' .. dg)\n"        \
    "if #have ~= n then return 'STATE' end\n"                                \
    "for _, t in ipairs(have) do\n"                                          \
    "  if not want[t] then return 'STATE' end\n"                             \
    "end\n"                                                                  \
    "if redis.call('SCARD', b .. 'mrefs:' .. dg) > 0 then\n"                 \
    "  return 'STATE'\n"                                                     \
    "end\n"                                                                  \
    "local refs = redis.call('ZRANGE', b .. 'referrers:' .. dg, 0, -1)\n"    \
    "for _, r in ipairs(refs) do\n"                                          \
    "  if delete(b, r) then event(2, i, '', r) end\n"                        \
    "end\n"                                                                  \
    "delete(b, dg)\n"                                                        \
    "event(2, i, '', dg)\n"                                                  \
    "return {'DELETED', #refs}\n"


/*
 * LIFECYCLE_STEP: KEYS[1] the schedule's lease, KEYS[2] its pass
 * (hash: "cursor", the last repository done; "next", when the next
 * pass is due), KEYS[3] the catalog; ARGV the holder, the lease's
 * life (ms), a holder known to be dead ("" if none), the interval
 * (s).  Takes or renews the lease and names the repository to do:
 * {"STATE", name}; {"STATE", "", next} when no pass is due (the
 * lease is let go; a pass that just ended sets "next");
 * {"LOCKED", holder} while another process has the lease.
 */
#define NGX_HTTP_OCI_LUA_LIFECYCLE_STEP                                      \
    "local l = redis.call('GET', KEYS[1])\n"                                 \
    "if l and l ~= ARGV[1] and l ~= ARGV[3] then\n"                          \
    "  return {'LOCKED', l}\n"                                               \
    "end\n"                                                                  \
    "local now = tonumber(redis.call('TIME')[1])\n"                          \
    "local st = redis.call('HMGET', KEYS[2], 'cursor', 'next')\n"            \
    "if st[2] and tonumber(st[2]) > now then\n"                              \
    "  if l then redis.call('DEL', KEYS[1]) end\n"                           \
    "  return {'STATE', '', st[2]}\n"                                        \
    "end\n"                                                                  \
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"                   \
    "local start = '-'\n"                                                    \
    "if st[1] and st[1] ~= '' then start = '(' .. st[1] end\n"               \
    "local n = redis.call('ZRANGEBYLEX', KEYS[3], start, '+',\n"             \
    "                     'LIMIT', 0, 1)\n"                                  \
    "if #n > 0 then return {'STATE', n[1]} end\n"                            \
    "local nx = now + tonumber(ARGV[4])\n"                                   \
    "redis.call('HSET', KEYS[2], 'cursor', '', 'next', nx)\n"                \
    "redis.call('DEL', KEYS[1])\n"                                           \
    "return {'STATE', '', tostring(nx)}\n"


/*
 * LIFECYCLE_DONE: KEYS[1] the lease, KEYS[2] the pass; ARGV the
 * holder, the lease's life (ms), the repository done.  Moves the
 * cursor past it, if the lease is still ours: "OK", or "LOCK_LOST"
 * (another process goes on from the cursor).
 */
#define NGX_HTTP_OCI_LUA_LIFECYCLE_DONE                                      \
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"                        \
    "  return 'LOCK_LOST'\n"                                                 \
    "end\n"                                                                  \
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"                              \
    "redis.call('HSET', KEYS[2], 'cursor', ARGV[3])\n"                       \
    "return 'OK'\n"


#endif /* _NGX_HTTP_OCI_SCRIPTS_LIFECYCLE_H_INCLUDED_ */
