
/*
 * Copyright (C) ngx_oci_registry contributors
 */


#ifndef _NGX_HTTP_OCI_SCRIPTS_MIRROR_H_INCLUDED_
#define _NGX_HTTP_OCI_SCRIPTS_MIRROR_H_INCLUDED_


/*
 * The mirrors' scripts (mirror/), as text for ngx_http_oci_scripts[].  A
 * mirrored repository is an ordinary one under its mirror's prefix; its
 * manifests' hashes say when they were fetched, when each tag pointing
 * at them was last fetched or revalidated, and their last pull (our
 * clock, s), "<base>mirror" its source, "<base>mirror:fetch:<digest>"
 * the lease of a blob's fetch (the repository's, so that MIRROR_LEASE
 * reads and takes it in one slot).
 */


/*
 * MIRROR_PUT (after NGX_HTTP_OCI_LUA_STORE and _CATALOG): KEYS[2] the
 * catalog; ARGV name, digest, type, body, size, subject, descriptor,
 * artifactType, the tag ("" by digest), when it was fetched, the
 * upstream, then two
 * counted lists: blobs and child manifests.  Stores what the upstream
 * sent (verified against its digest): its blobs are fetched when they
 * are pulled, so none is checked.  The manifest is marked with when it
 * was fetched ("fetched", and "fetched:<tag>", which the manifest GET
 * script compares with the TTL), the repository with its source.  "OK".
 */
#define NGX_HTTP_OCI_LUA_MIRROR_PUT                                          \
    "local b = KEYS[1]\n"                                                    \
    "local i = 12\n"                                                         \
    "local function list()\n"                                                \
    "  local n = tonumber(ARGV[i]); local t = {}\n"                          \
    "  for j = 1, n do t[j] = ARGV[i + j] end\n"                             \
    "  i = i + n + 1\n"                                                      \
    "  return t\n"                                                           \
    "end\n"                                                                  \
    "local blobs = list()\n"                                                 \
    "local mans = list()\n"                                                  \
    "store(b, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7],\n"       \
    "      ARGV[8], blobs, mans)\n"                                          \
    "redis.call('HSET', b .. 'm:' .. ARGV[2], 'fetched', ARGV[10])\n"      \
    "redis.call('HSET', b .. 'mirror', '@source', ARGV[11])\n"               \
    "if ARGV[9] ~= '' then\n"                                                \
    "  tag(b, ARGV[9], ARGV[2])\n"                                           \
    "  redis.call('HSET', b .. 'm:' .. ARGV[2], 'fetched:' .. ARGV[9],\n"     \
    "             ARGV[10])\n"                                               \
    "end\n"                                                                  \
    "catalog(KEYS[2], ARGV[1])\n"                                            \
    "return 'OK'\n"


/*
 * MIRROR_LEASE: KEYS[2] the blob's fetch lease; ARGV digest, holder, the
 * lease's life (ms), a dead holder to take it from ("" for none).
 * "LINKED": the repository has the blob now; "LEASED": fetch it;
 * {"LOCKED", holder}: another process fetches it (the reply the other
 * leases give, for ngx_http_oci_lease_dead()).
 */
#define NGX_HTTP_OCI_LUA_MIRROR_LEASE                                        \
    "if redis.call('HEXISTS', KEYS[1] .. 'blobs', ARGV[1]) == 1 then\n"      \
    "  return 'LINKED'\n"                                                    \
    "end\n"                                                                  \
    "if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then\n"     \
    "  return 'LEASED'\n"                                                    \
    "end\n"                                                                  \
    "local h = redis.call('GET', KEYS[2]) or ''\n"                           \
    "if ARGV[4] ~= '' and h == ARGV[4] then\n"                               \
    "  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])\n"                 \
    "  return 'LEASED'\n"                                                    \
    "end\n"                                                                  \
    "return {'LOCKED', h}\n"


/* the lease's renewal and release, while it is the holder's */
#define NGX_HTTP_OCI_LUA_MIRROR_RENEW                                        \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"                        \
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"                     \
    "end\n"                                                                  \
    "return 0\n"

#define NGX_HTTP_OCI_LUA_MIRROR_RELEASE                                      \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"                        \
    "  return redis.call('DEL', KEYS[1])\n"                                  \
    "end\n"                                                                  \
    "return 0\n"


#endif /* _NGX_HTTP_OCI_SCRIPTS_MIRROR_H_INCLUDED_ */
