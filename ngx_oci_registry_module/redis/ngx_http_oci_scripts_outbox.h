
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_SCRIPTS_OUTBOX_H_INCLUDED_
#define _NGX_HTTP_OCI_SCRIPTS_OUTBOX_H_INCLUDED_


/*
 * A repository's outbox on a Redis Cluster (ngx_http_oci_redis_outbox.c),
 * as text for ngx_http_oci_scripts[].  The outbox "<base>x:" holds, in
 * the repository's slot, what its scripts would have written to keys
 * that are no repository's: "catalog" (its name), "events" (a stream,
 * which also carries the "letgo" entries of its unlinks for the blob
 * records) and "events:dropped"; and "blob", "gc:repos", "gc:orphans",
 * the link scripts' record keys, which are dropped (on a cluster the
 * records are kept by BLOB_HOLD and "letgo": ngx_http_oci_scripts_gc.h).
 */


/*
 * OUTBOX_TAKE: KEYS[1] the outbox; ARGV the most events to take.
 * {} when it is empty, else {dropped, n, name..., then per event: id, m,
 * its m field and value texts}.  Nothing is removed: OUTBOX_DONE does,
 * once the cluster's global slot has it.
 */
#define NGX_HTTP_OCI_LUA_OUTBOX_TAKE                                         \
    "local x = KEYS[1]\n"                                                    \
    "redis.call('DEL', x .. 'blob', x .. 'gc:repos', x .. 'gc:orphans')\n"   \
    "local c = redis.call('ZRANGE', x .. 'catalog', 0, -1)\n"                \
    "local e = redis.call('XRANGE', x .. 'events', '-', '+',\n"              \
    "                     'COUNT', ARGV[1])\n"                               \
    "local d = redis.call('GET', x .. 'events:dropped') or '0'\n"            \
    "if #c == 0 and #e == 0 and d == '0' then return {} end\n"               \
    "local out = {d, tostring(#c)}\n"                                        \
    "for _, n in ipairs(c) do out[#out + 1] = n end\n"                       \
    "for _, en in ipairs(e) do\n"                                            \
    "  out[#out + 1] = en[1]\n"                                              \
    "  out[#out + 1] = tostring(#en[2])\n"                                   \
    "  for _, v in ipairs(en[2]) do out[#out + 1] = v end\n"                 \
    "end\n"                                                                  \
    "return out\n"


/*
 * OUTBOX_APPLY: KEYS[1] the global prefix "<prefix>{_}:"; ARGV the
 * outbox, the events' backlog, then OUTBOX_TAKE's reply.  The names go
 * into the catalog; the events into the stream, in order, each once: the
 * last outbox id applied is kept per outbox in "<global>outbox", so a
 * forward that runs twice (two workers, or a retry after a lost reply)
 * skips what the first did.  An entry "letgo <digest>" is no event: an
 * unlink in the repository (ngx_http_oci_scripts_gc.h), whose blob
 * record lets go of it here, once.  Returns that last id, "" for none.
 */
#define NGX_HTTP_OCI_LUA_OUTBOX_APPLY                                        \
    NGX_HTTP_OCI_LUA_LETGO                                                   \
    "local g = KEYS[1]\n"                                                    \
    "local s = g .. 'events'\n"                                              \
    "local function less(a, b)\n"                                            \
    "  local am, as = string.match(a, '(%d+)-(%d+)')\n"                      \
    "  local bm, bs = string.match(b, '(%d+)-(%d+)')\n"                      \
    "  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm),\n"         \
    "                   tonumber(bs)\n"                                      \
    "  return am < bm or (am == bm and as < bs)\n"                           \
    "end\n"                                                                  \
    "local hw = redis.call('HGET', g .. 'outbox', ARGV[1])\n"                \
    "local max = tonumber(ARGV[2])\n"                                        \
    "local dropped = tonumber(ARGV[3])\n"                                    \
    "local i = 5\n"                                                          \
    "for j = 1, tonumber(ARGV[4]) do\n"                                      \
    "  redis.call('ZADD', g .. 'catalog', 0, ARGV[i])\n"                     \
    "  i = i + 1\n"                                                          \
    "end\n"                                                                  \
    "local b = string.sub(ARGV[1], 1, -3)\n"                                 \
    "local last, added, moved = '', 0, false\n"                              \
    "while i <= #ARGV do\n"                                                  \
    "  local id, n = ARGV[i], tonumber(ARGV[i + 1])\n"                       \
    "  if not hw or less(hw, id) then\n"                                     \
    "    if ARGV[i + 2] == 'letgo' then\n"                                   \
    "      local d = ARGV[i + 3]\n"                                          \
    "      letgo(g .. 'blob:' .. d, b, d, g .. 'gc:orphans')\n"              \
    "    else\n"                                                             \
    "      redis.call('XADD', s, '*', unpack(ARGV, i + 2, i + 1 + n))\n"     \
    "      added = added + 1\n"                                              \
    "    end\n"                                                              \
    "    hw = id\n"                                                          \
    "    moved = true\n"                                                     \
    "  end\n"                                                                \
    "  last = id\n"                                                          \
    "  i = i + 2 + n\n"                                                      \
    "end\n"                                                                  \
    "if moved then redis.call('HSET', g .. 'outbox', ARGV[1], hw) end\n"     \
    "if added > 0 then\n"                                                    \
    "  if max > 0 and redis.call('XLEN', s) > max then\n"                    \
    "    dropped = dropped + redis.call('XTRIM', s, 'MAXLEN', max)\n"        \
    "  end\n"                                                                \
    "end\n"                                                                  \
    "if dropped > 0 then\n"                                                  \
    "  redis.call('INCRBY', g .. 'events:dropped', dropped)\n"               \
    "end\n"                                                                  \
    "return last\n"


/*
 * OUTBOX_DONE: KEYS[1] the outbox; ARGV the last event id forwarded (""
 * for none), the dropped count forwarded, the names forwarded.  Removes
 * them, and marks the repository listed ("catalog:listed": its pushes
 * do not write the catalog again).  The stream stays, empty: its last
 * id keeps new ids above the ones forwarded, whatever a new master's
 * clock says.
 */
#define NGX_HTTP_OCI_LUA_OUTBOX_DONE                                         \
    "local x = KEYS[1]\n"                                                    \
    "if ARGV[1] ~= '' then\n"                                                \
    "  local ms, sq = string.match(ARGV[1], '(%d+)-(%d+)')\n"                \
    "  redis.call('XTRIM', x .. 'events', 'MINID',\n"                        \
    "             ms .. '-' .. (tonumber(sq) + 1))\n"                        \
    "end\n"                                                                  \
    "if tonumber(ARGV[2]) > 0 then\n"                                        \
    "  redis.call('DECRBY', x .. 'events:dropped', ARGV[2])\n"               \
    "end\n"                                                                  \
    "for i = 3, #ARGV do redis.call('ZREM', x .. 'catalog', ARGV[i]) end\n"  \
    "if #ARGV > 2 then redis.call('SET', x .. 'catalog:listed', 1) end\n"    \
    "return 'OK'\n"


#endif /* _NGX_HTTP_OCI_SCRIPTS_OUTBOX_H_INCLUDED_ */
