
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_SCRIPTS_GC_H_INCLUDED_
#define _NGX_HTTP_OCI_SCRIPTS_GC_H_INCLUDED_


/*
 * The garbage collector's scripts (policy/ngx_http_oci_gc_sched.c), as
 * text for ngx_http_oci_scripts[].  The collector's keys are not a
 * repository's: "<prefix>gc:..." and the blob records "<prefix>blob:<d>"
 * (the set of the key bases of the repositories linking blob <d>, which
 * the link scripts keep).  The schema is in docs/architecture.md.
 */


/*
 * refd(b, digest): whether a manifest of the repository references the
 * blob, as a layer or config (blobrefs) or as an index entry (mrefs)
 */
#define NGX_HTTP_OCI_LUA_REFD                                                \
    "local function refd(b, d)\n"                                            \
    "  return redis.call('EXISTS', b .. 'blobrefs:' .. d) == 1\n"            \
    "         or redis.call('EXISTS', b .. 'mrefs:' .. d) == 1\n"            \
    "end\n"


/*
 * link(b, digest, size): the blob is the repository's; its record names
 * the repository, the repository is one the collector visits, and an
 * upload no manifest references yet (a new one, or again) starts its
 * grace period in "<base>unref".  KEYS[2] is the blob's record, KEYS[3]
 * the collector's repositories (on a cluster: the outbox's, dropped, as
 * BLOB_HOLD did that before).  Returns 1 when the link is new, else 0.
 */
#define NGX_HTTP_OCI_LUA_LINK                                                \
    NGX_HTTP_OCI_LUA_REFD                                                    \
    "local function link(b, d, size)\n"                                      \
    "  local new = redis.call('HSET', b .. 'blobs', d, size)\n"              \
    "  if not refd(b, d) then\n"                                             \
    "    redis.call('ZADD', b .. 'unref', redis.call('TIME')[1], d)\n"       \
    "  end\n"                                                                \
    "  redis.call('SADD', KEYS[2], b)\n"                                     \
    "  redis.call('ZADD', KEYS[3], 0, b)\n"                                  \
    "  return new\n"                                                         \
    "end\n"


/*
 * On a Redis Cluster a blob's record "<global>blob:<d>" is a hash in the
 * global slot, the repositories' key bases to a count: the links each
 * has, plus its links in flight.  A link is held (+1, BLOB_HOLD) before
 * the link script runs in the repository's slot, and let go (-1) once a
 * reply says that no new link came of it (BLOB_LETGO), or after an
 * unlink (its "letgo" entry in the repository's outbox, written with
 * the unlink and applied once by the forward): so the record names a
 * repository whenever it links the blob.  A step lost on the way (a
 * crash between hold and link, a lost reply) leaves the count too high:
 * a file kept, never one collected that is linked.
 *
 * letgo(rk, b, d, orphans): one of b's counted links of blob d goes; an
 * emptied record makes the blob an orphan for the collector.
 */
#define NGX_HTTP_OCI_LUA_LETGO                                               \
    "local function letgo(rk, b, d, orphans)\n"                              \
    "  if redis.call('HINCRBY', rk, b, -1) <= 0 then\n"                      \
    "    redis.call('HDEL', rk, b)\n"                                        \
    "    if redis.call('EXISTS', rk) == 0 then\n"                            \
    "      redis.call('ZADD', orphans, redis.call('TIME')[1], d)\n"          \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "end\n"


/*
 * BLOB_HOLD (a cluster's): KEYS[1] the blob's record, KEYS[2] the
 * collector's repositories; ARGV the repository's key base.
 */
#define NGX_HTTP_OCI_LUA_BLOB_HOLD                                           \
    "redis.call('ZADD', KEYS[2], 0, ARGV[1])\n"                              \
    "return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)\n"


/*
 * BLOB_LETGO (a cluster's): KEYS[1] the blob's record, KEYS[2] the
 * orphans; ARGV the repository's key base, the digest.
 */
#define NGX_HTTP_OCI_LUA_BLOB_LETGO                                          \
    NGX_HTTP_OCI_LUA_LETGO                                                   \
    "letgo(KEYS[1], ARGV[1], ARGV[2], KEYS[2])\n"                            \
    "return 1\n"


/*
 * GC_REPO (a cluster's): KEYS[1] a repository's key base; ARGV the
 * work ("unref" or "refs"), its offset (a dry run's, in "unref") or
 * ZSCAN cursor ("refs"), "1" for a dry run, the grace period (s), the
 * batch, "1" to collect referrers.  What GC_STEP does for a repository
 * on one Redis, in the repository's slot.  Each unlink puts "letgo
 * <digest>" in the repository's outbox with it, which the forward
 * applies to the record once (ngx_http_oci_scripts_outbox.h): a
 * collector killed after the unlink leaves it to the next forward or
 * the sweep.  {the work next ("unref", "refs", or "done" and then "1"
 * when the repository has no links left, else "0"), its offset or
 * cursor, unlinked, their bytes, referrers deleted, then the unlinked
 * digests and their sizes}.
 */
#define NGX_HTTP_OCI_LUA_GC_REPO                                             \
    NGX_HTTP_OCI_LUA_DELETE                                                  \
    "local b = KEYS[1]\n"                                                    \
    "local now = tonumber(redis.call('TIME')[1])\n"                          \
    "local dry = (ARGV[3] == '1')\n"                                         \
    "local batch = tonumber(ARGV[5])\n"                                      \
    "local function done()\n"                                                \
    "  return 'done', (redis.call('EXISTS', b .. 'blobs') == 0) and '1'\n"   \
    "                 or '0'\n"                                              \
    "end\n"                                                                  \
    "if ARGV[1] == 'unref' then\n"                                           \
    "  local u = b .. 'unref'\n"                                             \
    "  local off = dry and tonumber(ARGV[2]) or 0\n"                         \
    "  local ds = redis.call('ZRANGEBYSCORE', u, '-inf',\n"                  \
    "                        now - tonumber(ARGV[4]), 'LIMIT', off, batch)\n" \
    "  local un, ub, gone = 0, 0, {}\n"                                      \
    "  for _, d in ipairs(ds) do\n"                                          \
    "    local size = redis.call('HGET', b .. 'blobs', d)\n"                 \
    "    if not size or refd(b, d) then\n"                                   \
    "      if not dry then redis.call('ZREM', u, d) end\n"                   \
    "    else\n"                                                             \
    "      un = un + 1; ub = ub + (tonumber(size) or 0)\n"                   \
    "      if not dry then\n"                                                \
    "        redis.call('HDEL', b .. 'blobs', d)\n"                          \
    "        redis.call('ZREM', u, d)\n"                                     \
    "        redis.call('XADD', b .. 'x:events', '*', 'letgo', d)\n"         \
    "      end\n"                                                            \
    "      gone[#gone + 1] = d; gone[#gone + 1] = size\n"                    \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  local nx, c = 'unref', tostring(off + #ds)\n"                         \
    "  if #ds < batch then\n"                                                \
    "    if ARGV[6] == '1' then nx, c = 'refs', '0' else nx, c = done() end\n"\
    "  end\n"                                                                \
    "  local out = {nx, c, un, string.format('%.0f', ub), 0}\n"              \
    "  for _, v in ipairs(gone) do out[#out + 1] = v end\n"                  \
    "  return out\n"                                                         \
    "end\n"                                                                  \
    "local r = redis.call('ZSCAN', b .. 'manifests', ARGV[2],\n"             \
    "                     'COUNT', batch)\n"                                 \
    "local n = 0\n"                                                          \
    "for i = 1, #r[2], 2 do\n"                                               \
    "  local dg = r[2][i]\n"                                                 \
    "  local m = redis.call('HMGET', b .. 'm:' .. dg, 'subject', 'pushed')\n"\
    "  if m[1] and m[1] ~= ''\n"                                             \
    "     and (tonumber(m[2]) or 0) <= now - tonumber(ARGV[4])\n"            \
    "     and redis.call('EXISTS', b .. 'm:' .. m[1]) == 0 then\n"           \
    "    n = n + 1\n"                                                        \
    "    if not dry then delete(b, dg) end\n"                                \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "local nx, c = 'refs', r[1]\n"                                           \
    "if r[1] == '0' then nx, c = done() end\n"                               \
    "return {nx, c, 0, '0', n}\n"


/*
 * The repos phase on a cluster (ARGV[12] "1"): a repository's work is
 * GC_REPO's, in its own slot; its reply comes back with the next step
 * (ARGV[7] "repo", then the repository, the work it did, and GC_REPO's
 * reply), which counts it (a dry run: what would be freed) and goes on.
 * A reply lost on the way has the work asked again.
 * {"REPO", repository, work, offset or cursor, dry}.
 */
#define NGX_HTTP_OCI_LUA_GC_CLUSTER                                          \
    "if s.phase == 'repos' and ARGV[12] == '1' then\n"                       \
    "  if ARGV[7] == 'repo' and s.repo ~= '' and ARGV[13] == s.repo\n"       \
    "     and ARGV[14] == s.sub then\n"                                      \
    "    local f, fb = 0, 0\n"                                               \
    "    for i = 20, #ARGV - 1, 2 do\n"                                      \
    "      local d, size = ARGV[i], tonumber(ARGV[i + 1]) or 0\n"            \
    "      if dry and redis.call('HINCRBY', KEYS[7], d, 1)\n"                \
    "                 == redis.call('HLEN', pre .. 'blob:' .. d) then\n"     \
    "        f = f + 1; fb = fb + size\n"                                    \
    "      end\n"                                                            \
    "    end\n"                                                              \
    "    redis.call('HINCRBY', p, 'unlinked', ARGV[17])\n"                   \
    "    redis.call('HINCRBY', p, 'unlinkedBytes', ARGV[18])\n"              \
    "    redis.call('HINCRBY', p, 'referrers', ARGV[19])\n"                  \
    "    redis.call('HINCRBY', p, 'files', f)\n"                             \
    "    redis.call('HINCRBY', p, 'bytes', string.format('%.0f', fb))\n"     \
    "    if ARGV[15] == 'done' then\n"                                       \
    "      if ARGV[16] == '1' then redis.call('ZREM', KEYS[3], s.repo) end\n"\
    "      set('repo', '')\n"                                                \
    "    elseif ARGV[15] == 'unref' then set('uc', ARGV[16])\n"              \
    "    else\n"                                                             \
    "      set('sub', 'refs'); set('mc', ARGV[16])\n"                        \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  if s.repo == '' and not pick() then return {'AGAIN'} end\n"           \
    "  return {'REPO', s.repo, s.sub,\n"                                     \
    "          (s.sub == 'refs') and s.mc or s.uc, s.dry}\n"                 \
    "end\n"


/*
 * GC_STEP: KEYS[1] the lease, KEYS[2] the pass (hash), KEYS[3] the
 * repositories, KEYS[4] the orphaned blobs (score: when their record
 * emptied), KEYS[5] the last pass's report, KEYS[6] a requested pass,
 * KEYS[7] a dry run's counts per blob, KEYS[8] the mark that every link
 * has its record; ARGV the holder, the lease's life (ms), a holder known
 * to be dead ("" if none), the interval (s, 0: none), the grace period
 * (s), the key prefix, the work the caller finished ("" or
 * "walked:<dir>"), the batch, "1" to collect referrers, the files and
 * bytes the caller's last work freed (or would have), "1" on a cluster,
 * then a cluster's repository work (NGX_HTTP_OCI_LUA_GC_CLUSTER).
 *
 * A pass is: "index" (once: SCAN for the links older versions made),
 * "repos" (each repository: on the first pass its links, in HSCAN
 * batches, get their record and the unreferenced ones an entry in
 * "<base>unref", as the scripts that change references keep it from
 * then on; the entries older than the grace period are unlinked if still
 * unreferenced; then its referrers whose subject is gone; a step goes on
 * to the next repositories until it did "batch" entries), "orphans"
 * (blob files whose record emptied), "walk" (the blob directories
 * changed since the last walk, for files no record names: 32
 * directories a step), "done".  Replies: {"AGAIN"}, {"FILES", dry,
 * digest...} (files to collect: no record names them now), {"WALK",
 * first dir, since, dry},
 * {"DONE", dry, repositories, unlinked, bytes unlinked, files, bytes,
 * referrers}, {"IDLE"} when no pass is due, {"LOCKED", holder}.
 */
#define NGX_HTTP_OCI_LUA_GC_STEP                                             \
    NGX_HTTP_OCI_LUA_DELETE                                                  \
    "local l = redis.call('GET', KEYS[1])\n"                                 \
    "if l and l ~= ARGV[1] and l ~= ARGV[3] then\n"                          \
    "  return {'LOCKED', l}\n"                                               \
    "end\n"                                                                  \
    "local now = tonumber(redis.call('TIME')[1])\n"                          \
    "local p = KEYS[2]\n"                                                    \
    "local pre = ARGV[6]\n"                                                  \
    "local grace = tonumber(ARGV[5])\n"                                      \
    "local batch = tonumber(ARGV[8])\n"                                      \
    "if redis.call('EXISTS', p) == 0 then\n"                                 \
    "  local req = redis.call('GET', KEYS[6])\n"                             \
    "  local trig = 'request'\n"                                             \
    "  if not req then\n"                                                    \
    "    local nx = tonumber(redis.call('HGET', KEYS[5], 'next') or '')\n"   \
    "    if ARGV[4] == '0' or (nx and nx > now) then\n"                      \
    "      if l then redis.call('DEL', KEYS[1]) end\n"                       \
    "      return {'IDLE'}\n"                                                \
    "    end\n"                                                              \
    "    trig = 'schedule'\n"                                                \
    "    req = 'run'\n"                                                      \
    "  end\n"                                                                \
    "  redis.call('DEL', KEYS[6], KEYS[7])\n"                                \
    "  local ph = 'repos'\n"                                                 \
    "  if redis.call('EXISTS', KEYS[8]) == 0 and ARGV[12] ~= '1' then\n"     \
    "    ph = 'index'\n"                                                     \
    "  end\n"                                                                \
    "  local id = (tonumber(redis.call('HGET', KEYS[5], 'id')) or 0) + 1\n"  \
    "  redis.call('HSET', p, 'id', id, 'phase', ph, 'started', now,\n"       \
    "    'trigger', trig,\n"                                                 \
    "    'dry', (req == 'dry') and '1' or '0', 'cursor', '', 'repo', '',\n"   \
    "    'sub', '', 'hc', '0', 'mc', '0', 'uc', '0', 'scan', '0', 'dir', 0,\n" \
    "    'oc', 0, 'full', (ph == 'index') and '1' or '0',\n"                  \
    "    'repositories', 0, 'unlinked', 0, 'unlinkedBytes', 0,\n"             \
    "    'files', 0, 'bytes', 0, 'referrers', 0)\n"                          \
    "end\n"                                                                  \
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"                   \
    "local h = redis.call('HGETALL', p)\n"                                   \
    "local s = {}\n"                                                         \
    "for i = 1, #h, 2 do s[h[i]] = h[i + 1] end\n"                           \
    "local dry = (s.dry == '1')\n"                                           \
    "if tonumber(ARGV[10]) > 0 or tonumber(ARGV[11]) > 0 then\n"             \
    "  redis.call('HINCRBY', p, 'files', ARGV[10])\n"                        \
    "  redis.call('HINCRBY', p, 'bytes', ARGV[11])\n"                        \
    "end\n"                                                                  \
    "if ARGV[7] ~= '' and ARGV[7] == 'walked:' .. s.dir then\n"              \
    "  s.dir = tostring(tonumber(s.dir) + 32)\n"                             \
    "  redis.call('HSET', p, 'dir', s.dir)\n"                                \
    "end\n"                                                                  \
                                                                             \
    "if s.phase == 'index' then\n"                                           \
    "  local pat = string.gsub(pre, '[%*%?%[%]\\\\]', '\\\\%0')\n"           \
    "  local r = redis.call('SCAN', s.scan, 'MATCH', pat .. '{*}:blobs',\n"  \
    "                       'COUNT', 1000)\n"                                \
    "  for _, k in ipairs(r[2]) do\n"                                        \
    "    redis.call('ZADD', KEYS[3], 0, string.sub(k, 1, -6))\n"             \
    "  end\n"                                                                \
    "  if r[1] == '0' then redis.call('HSET', p, 'phase', 'repos')\n"        \
    "  else redis.call('HSET', p, 'scan', r[1]) end\n"                       \
    "  return {'AGAIN'}\n"                                                   \
    "end\n"                                                                  \
                                                                             \
    "local function repo_done(b)\n"                                          \
    "  if redis.call('EXISTS', b .. 'blobs') == 0 then\n"                    \
    "    redis.call('ZREM', KEYS[3], b)\n"                                   \
    "  end\n"                                                                \
    "  redis.call('HSET', p, 'repo', '')\n"                                  \
    "  s.repo = ''\n"                                                        \
    "end\n"                                                                  \
                                                                             \
    "local function set(k, v)\n"                                             \
    "  redis.call('HSET', p, k, v)\n"                                        \
    "  s[k] = tostring(v)\n"                                                 \
    "end\n"                                                                  \
    "local function pick()\n"                                                \
    "  local start = '-'\n"                                                  \
    "  if s.cursor ~= '' then start = '(' .. s.cursor end\n"                 \
    "  local n = redis.call('ZRANGEBYLEX', KEYS[3], start, '+',\n"           \
    "                       'LIMIT', 0, 1)\n"                                \
    "  if #n == 0 then\n"                                                    \
    "    redis.call('SET', KEYS[8], 1)\n"                                    \
    "    set('phase', 'orphans')\n"                                          \
    "    return nil\n"                                                       \
    "  end\n"                                                                \
    "  set('repo', n[1]); set('cursor', n[1])\n"                             \
    "  set('sub', (s.full == '1') and 'links' or 'unref')\n"                 \
    "  set('hc', '0'); set('mc', '0'); set('uc', '0')\n"                     \
    "  redis.call('HINCRBY', p, 'repositories', 1)\n"                        \
    "  return n[1]\n"                                                        \
    "end\n"                                                                  \
    "local function repos_step()\n"                                          \
    "  local b = s.repo\n"                                                   \
    "  if b == '' then\n"                                                    \
    "    b = pick()\n"                                                       \
    "    if not b then return nil end\n"                                     \
    "  end\n"                                                                \
    "  local u = b .. 'unref'\n"                                             \
    "  if s.sub == 'links' then\n"                                           \
    "    local r = redis.call('HSCAN', b .. 'blobs', s.hc, 'COUNT', batch)\n"\
    "    for i = 1, #r[2], 2 do\n"                                           \
    "      local d = r[2][i]\n"                                              \
    "      redis.call('SADD', pre .. 'blob:' .. d, b)\n"                     \
    "      if refd(b, d) then redis.call('ZREM', u, d)\n"                    \
    "      else redis.call('ZADD', u, 'NX', now, d) end\n"                   \
    "    end\n"                                                              \
    "    if r[1] ~= '0' then set('hc', r[1]) else set('sub', 'unref') end\n" \
    "    return 1 + #r[2] / 2\n"                                             \
    "  end\n"                                                                \
    "  if s.sub == 'unref' then\n"                                           \
    "    local off = 0\n"                                                    \
    "    if dry then off = tonumber(s.uc) end\n"                             \
    "    local ds = redis.call('ZRANGEBYSCORE', u, '-inf', now - grace,\n"   \
    "                          'LIMIT', off, batch)\n"                       \
    "    local un, ub, f, fb = 0, 0, 0, 0\n"                                 \
    "    for _, d in ipairs(ds) do\n"                                        \
    "      local size = redis.call('HGET', b .. 'blobs', d)\n"               \
    "      local rk = pre .. 'blob:' .. d\n"                                 \
    "      if not size or refd(b, d) then\n"                                 \
    "        if not dry then redis.call('ZREM', u, d) end\n"                 \
    "      else\n"                                                           \
    "        size = tonumber(size) or 0\n"                                   \
    "        un = un + 1; ub = ub + size\n"                                  \
    "        if dry then\n"                                                  \
    "          if redis.call('HINCRBY', KEYS[7], d, 1)\n"                    \
    "             == redis.call('SCARD', rk) then\n"                         \
    "            f = f + 1; fb = fb + size\n"                                \
    "          end\n"                                                        \
    "        else\n"                                                         \
    "          redis.call('HDEL', b .. 'blobs', d)\n"                        \
    "          redis.call('ZREM', u, d)\n"                                   \
    "          redis.call('SREM', rk, b)\n"                                  \
    "          if redis.call('EXISTS', rk) == 0 then\n"                      \
    "            redis.call('ZADD', KEYS[4], now, d)\n"                      \
    "          end\n"                                                        \
    "        end\n"                                                          \
    "      end\n"                                                            \
    "    end\n"                                                              \
    "    if un > 0 or f > 0 then\n"                                          \
    "      redis.call('HINCRBY', p, 'unlinked', un)\n"                       \
    "      redis.call('HINCRBY', p, 'unlinkedBytes',\n"                      \
    "                 string.format('%.0f', ub))\n"                          \
    "      redis.call('HINCRBY', p, 'files', f)\n"                           \
    "      redis.call('HINCRBY', p, 'bytes', string.format('%.0f', fb))\n"   \
    "    end\n"                                                              \
    "    if dry then set('uc', off + #ds) end\n"                             \
    "    if #ds < batch then\n"                                              \
    "      if ARGV[9] == '1' then set('sub', 'refs') else repo_done(b) end\n"\
    "    end\n"                                                              \
    "    return 1 + #ds\n"                                                   \
    "  end\n"                                                                \
    "  local r = redis.call('ZSCAN', b .. 'manifests', s.mc, 'COUNT', batch)\n"\
    "  local n = 0\n"                                                        \
    "  for i = 1, #r[2], 2 do\n"                                             \
    "    local dg = r[2][i]\n"                                               \
    "    local m = redis.call('HMGET', b .. 'm:' .. dg, 'subject', 'pushed')\n"\
    "    if m[1] and m[1] ~= '' and (tonumber(m[2]) or 0) <= now - grace\n"  \
    "       and redis.call('EXISTS', b .. 'm:' .. m[1]) == 0 then\n"         \
    "      n = n + 1\n"                                                      \
    "      if not dry then delete(b, dg) end\n"                              \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  if n > 0 then redis.call('HINCRBY', p, 'referrers', n) end\n"         \
    "  if r[1] ~= '0' then set('mc', r[1]) else repo_done(b) end\n"          \
    "  return 1 + #r[2] / 2\n"                                               \
    "end\n"                                                                  \
    NGX_HTTP_OCI_LUA_GC_CLUSTER                                              \
    "if s.phase == 'repos' then\n"                                           \
    "  local spent = 0\n"                                                    \
    "  while spent < batch do\n"                                             \
    "    local w = repos_step()\n"                                           \
    "    if not w then break end\n"                                          \
    "    spent = spent + w\n"                                                \
    "  end\n"                                                                \
    "  return {'AGAIN'}\n"                                                   \
    "end\n"                                                                  \
                                                                             \
    "if s.phase == 'orphans' then\n"                                         \
    "  local off = 0\n"                                                      \
    "  if dry then off = tonumber(s.oc) end\n"                               \
    "  local ds = redis.call('ZRANGE', KEYS[4], off, off + batch - 1)\n"     \
    "  if #ds == 0 then\n"                                                   \
    "    redis.call('HSET', p, 'phase', 'walk')\n"                           \
    "    return {'AGAIN'}\n"                                                 \
    "  end\n"                                                                \
    "  if dry then redis.call('HSET', p, 'oc', off + #ds) end\n"             \
    "  local out = {'FILES', s.dry}\n"                                       \
    "  for _, d in ipairs(ds) do\n"                                          \
    "    if redis.call('EXISTS', pre .. 'blob:' .. d) == 0 then\n"           \
    "      out[#out + 1] = d\n"                                              \
    "    elseif not dry then\n"                                              \
    "      redis.call('ZREM', KEYS[4], d)\n"                                 \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  if #out == 2 then return {'AGAIN'} end\n"                             \
    "  return out\n"                                                         \
    "end\n"                                                                  \
                                                                             \
    "if s.phase == 'walk' then\n"                                            \
    "  if tonumber(s.dir) < 512 then\n"                                      \
    "    local w = tonumber(redis.call('HGET', KEYS[5], 'walked') or '0')\n" \
    "    return {'WALK', s.dir, tostring(w - grace - 60), s.dry}\n"         \
    "  end\n"                                                                \
    "  if not dry then redis.call('HSET', KEYS[5], 'walked', s.started) end\n" \
    "  redis.call('HSET', p, 'phase', 'done')\n"                             \
    "  return {'AGAIN'}\n"                                                   \
    "end\n"                                                                  \
                                                                             \
    "local w = redis.call('HGET', KEYS[5], 'walked') or '0'\n"               \
    "local nx = ''\n"                                                        \
    "if ARGV[4] ~= '0' then nx = now + tonumber(ARGV[4]) end\n"              \
    "h = redis.call('HMGET', p, 'repositories', 'unlinked',\n"               \
    "               'unlinkedBytes', 'files', 'bytes', 'referrers')\n"       \
    "redis.call('DEL', KEYS[5])\n"                                           \
    "redis.call('HSET', KEYS[5], 'id', s.id, 'started', s.started,\n"       \
    "           'finished', now,\n"                                          \
    "           'trigger', s.trigger, 'dry', s.dry, 'repositories', h[1],\n" \
    "           'unlinked', h[2], 'unlinkedBytes', h[3], 'files', h[4],\n"   \
    "           'bytes', h[5], 'referrers', h[6], 'next', nx, 'walked', w)\n" \
    "redis.call('DEL', p, KEYS[7], KEYS[1])\n"                               \
    "return {'DONE', s.dry, h[1], h[2], h[3], h[4], h[5], h[6]}\n"


/*
 * GC_CHECK: KEYS[1] the lease, KEYS[2..n] blob records; ARGV the holder.
 * Per record, "1" when it does not exist (its file is collectable), else
 * "0"; or "LOCK_LOST".
 */
#define NGX_HTTP_OCI_LUA_GC_CHECK                                            \
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'LOCK_LOST' end\n" \
    "local out = {}\n"                                                       \
    "for i = 2, #KEYS do\n"                                                  \
    "  out[i - 1] = (redis.call('EXISTS', KEYS[i]) == 0) and '1' or '0'\n"   \
    "end\n"                                                                  \
    "return table.concat(out)\n"


/*
 * GC_CONFIRM: KEYS[1] the lease, KEYS[2] the orphaned blobs, KEYS[3..n]
 * the records of blobs whose files the collector moved to their trash
 * names; ARGV the holder, then the digests.  Per blob, "d" (delete the
 * file: still no record) or "r" (restore it: a link came meanwhile); or
 * "LOCK_LOST".
 */
#define NGX_HTTP_OCI_LUA_GC_CONFIRM                                          \
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'LOCK_LOST' end\n" \
    "local out = {}\n"                                                       \
    "for i = 3, #KEYS do\n"                                                  \
    "  redis.call('ZREM', KEYS[2], ARGV[i - 1])\n"                           \
    "  out[i - 2] = (redis.call('EXISTS', KEYS[i]) == 0) and 'd' or 'r'\n"   \
    "end\n"                                                                  \
    "return table.concat(out)\n"


/*
 * GC_STATUS: KEYS[1] the pass, KEYS[2] the last report, KEYS[3] a
 * requested pass.  {pass fields, report fields, request or nil}.
 */
#define NGX_HTTP_OCI_LUA_GC_STATUS                                           \
    "return {redis.call('HGETALL', KEYS[1]),\n"                              \
    "        redis.call('HGETALL', KEYS[2]),\n"                              \
    "        redis.call('GET', KEYS[3])}\n"


/*
 * GC_USAGE: KEYS[1] a repository's base.  {links, their bytes, links no
 * manifest references, their bytes, manifests, tags}.  O(links).
 */
#define NGX_HTTP_OCI_LUA_GC_USAGE                                            \
    NGX_HTTP_OCI_LUA_REFD                                                    \
    "local b = KEYS[1]\n"                                                    \
    "local h = redis.call('HGETALL', b .. 'blobs')\n"                        \
    "local n, bytes, un, ub = 0, 0, 0, 0\n"                                  \
    "for i = 1, #h, 2 do\n"                                                  \
    "  local size = tonumber(h[i + 1]) or 0\n"                               \
    "  n = n + 1; bytes = bytes + size\n"                                    \
    "  if not refd(b, h[i]) then\n"                                          \
    "    un = un + 1; ub = ub + size\n"                                      \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "return {n, bytes, un, ub,\n"                                            \
    "        redis.call('ZCARD', b .. 'manifests'),\n"                       \
    "        redis.call('ZCARD', b .. 'tags')}\n"


#endif /* _NGX_HTTP_OCI_SCRIPTS_GC_H_INCLUDED_ */
