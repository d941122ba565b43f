#!/usr/bin/env bash
# Runs the registry in the foreground: a private redis-server from
# conf/redis.conf and nginx from conf/nginx.conf, on 127.0.0.1:5000.
# With --auth (make run-auth), conf/nginx-auth.conf: token authentication
# with keys and a demo user created in var/auth/ on first start.  With
# --mirror (make run-mirror), conf/nginx-mirror.conf: a pull-through
# mirror of Docker Hub, or of $MIRROR_UPSTREAM when that is set.
# Ctrl-C stops both.
set -euo pipefail

conf=conf/nginx.conf
auth=
mirror=
if [ "${1:-}" = --auth ]; then
    conf=conf/nginx-auth.conf
    auth=1
elif [ "${1:-}" = --mirror ]; then
    conf=var/nginx-mirror.conf
    mirror=${MIRROR_UPSTREAM:-https://registry-1.docker.io}
fi

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

module=build/default/ngx_http_oci_registry_module.so
nginx=${NGINX_BINARY:-/usr/sbin/nginx}
redis_port=6380
port=5000

[ -f "$module" ] || { echo "run: $module is missing; run make" >&2; exit 1; }

port_busy() {
    # bash's /dev/tcp: a successful connect means something listens there
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_alive() {
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

mkdir -p var/redis var/storage var/log var/tmp

if [ -n "$mirror" ]; then
    # the upstream, and a resolver nginx can ask for its host names
    case "$mirror" in
        http://*|https://*) ;;
        *) echo "run: MIRROR_UPSTREAM must be an http:// or https:// URL" >&2
           exit 1 ;;
    esac
    ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf \
         2>/dev/null || true)
    case "$ns" in *:*) ns="[$ns]" ;; esac
    sed -e "s|https://registry-1.docker.io|$mirror|" \
        -e "s|resolver 127.0.0.53|resolver ${ns:-127.0.0.1}|" \
        conf/nginx-mirror.conf > var/nginx-mirror.conf
fi

if [ -n "$auth" ]; then
    # the token signing key pair (ES256) and the DEMO-ONLY htpasswd
    # workers read the htpasswd per request (as auth_basic does); the
    # private key is read by the master only
    mkdir -p var/auth
    if [ ! -f var/auth/token.key ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
            -out var/auth/token.key 2>/dev/null
        chmod 600 var/auth/token.key
        openssl pkey -in var/auth/token.key -pubout -out var/auth/token.pub
    fi
    if [ ! -f var/auth/htpasswd ]; then
        printf 'demo:%s\n' "$(openssl passwd -apr1 demo)" > var/auth/htpasswd
    fi
fi

# A pid file whose process is gone is stale (a killed earlier run): drop it.
for f in var/nginx.pid var/redis/redis.pid; do
    if [ -f "$f" ] && ! pid_alive "$f"; then
        rm -f "$f"
    fi
done

if pid_alive var/nginx.pid || pid_alive var/redis/redis.pid; then
    echo "run: a registry from an earlier 'make run' is still running" >&2
    echo "run: (nginx pid $(cat var/nginx.pid 2>/dev/null || echo -)," \
         "redis pid $(cat var/redis/redis.pid 2>/dev/null || echo -));" \
         "stop it with Ctrl-C in its terminal or: kill <pid>" >&2
    exit 1
fi

if port_busy $redis_port; then
    echo "run: 127.0.0.1:$redis_port is already in use (another Redis?)." >&2
    echo "run: the registry starts its own Redis there; stop the other" \
         "one or change 'port' in conf/redis.conf and" \
         "'oci_registry_redis' in conf/nginx.conf" >&2
    exit 1
fi

if port_busy $port; then
    echo "run: 127.0.0.1:$port is already in use; stop what listens there" >&2
    exit 1
fi

redis_pid=
nginx_pid=

# Background jobs of a script ignore SIGINT, so Ctrl-C reaches only this
# shell: it stops nginx gracefully, then Redis (which flushes its AOF).
stop() {
    trap - INT TERM EXIT
    echo "run: stopping"
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
    [ -n "$nginx_pid" ] && wait "$nginx_pid" 2>/dev/null || true
    [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    exit "$1"
}

trap 'stop 0' INT TERM
trap 'stop $?' EXIT

# Redis resolves relative paths after its chdir to "dir": pass them absolute
redis-server conf/redis.conf --dir "$top/var/redis" \
    --logfile "$top/var/log/redis.log" --pidfile "$top/var/redis/redis.pid" &
redis_pid=$!

for _ in $(seq 50); do
    port_busy $redis_port && break
    kill -0 $redis_pid 2>/dev/null || { echo "run: redis-server failed," \
        "see var/log/redis.log" >&2; tail -5 var/log/redis.log >&2; exit 1; }
    sleep 0.1
done

"$nginx" -p "$top/" -c $conf -e var/log/error.log -t -q || exit 1
"$nginx" -p "$top/" -c $conf -e var/log/error.log &
nginx_pid=$!

for _ in $(seq 50); do
    port_busy $port && break
    kill -0 $nginx_pid 2>/dev/null || { echo "run: nginx failed," \
        "see var/log/error.log" >&2; tail -5 var/log/error.log >&2; exit 1; }
    sleep 0.1
done

cat <<MSG

  OCI registry listening on http://127.0.0.1:$port/v2/
  (Redis on 127.0.0.1:$redis_port, blobs in $top/var/storage,
   logs in $top/var/log)

MSG

if [ -n "$mirror" ]; then
    cat <<MSG
  A read-only pull-through mirror of $mirror
  (conf/nginx-mirror.conf, docs/mirror.md), e.g.:
    skopeo inspect --tls-verify=false \\
        docker://127.0.0.1:$port/dockerhub/library/nginx:latest

MSG
elif [ -z "$auth" ]; then
    cat <<MSG
  Push an image, e.g.:
    skopeo copy --dest-tls-verify=false \\
        oci:/path/to/layout:tag docker://127.0.0.1:$port/myorg/app:v1

MSG
else
    cat <<MSG
  Token authentication is on (conf/nginx-auth.conf, docs/auth.md).
  DEMO ONLY, do not expose: user "demo", password "demo" may pull and
  push demo/*; anyone may pull public/*.  Keys and the htpasswd are in
  $top/var/auth.
    skopeo copy --dest-tls-verify=false --dest-creds demo:demo \\
        oci:/path/to/layout:tag docker://127.0.0.1:$port/demo/app:v1

MSG
fi

echo "  Ctrl-C stops the registry."
echo

wait $nginx_pid
