#!/usr/bin/env bash
# CPU time one worker spends per request, for two builds of the module in
# turns: a steadier regression check than req/s on a shared VM, where the
# load generator and Redis take the same cores.
#
#   scripts/bench/cpu.sh OLD.so NEW.so [ROUNDS]
#
# One worker, its own Redis on a unix socket with a repository of 1000
# tags; wrk -t1 -c8 for 5 s per URL.  Prints user and system nanoseconds
# per request, read from the worker's /proc/<pid>/stat (clock ticks of
# 10 ms here, so some 250 ticks per figure).
set -euo pipefail

[ $# -ge 2 ] || { sed -n 2,11p "$0"; exit 2; }
old=$(realpath "$1") new=$(realpath "$2") rounds=${3:-3}

d=$(mktemp -d /tmp/oci-cpu.XXXXXX)
port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
                                 LocalPort => 0)->sockport')

cleanup() {
    [ -f "$d/nginx.pid" ] && kill "$(cat "$d/nginx.pid")" 2>/dev/null
    redis-cli -s "$d/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    sleep 0.3
    rm -rf "$d"
}
trap cleanup EXIT

mkdir -p "$d/redis" "$d/storage" "$d/logs"
redis-server --unixsocket "$d/redis.sock" --port 0 --dir "$d/redis" \
    --save '' --daemonize yes --logfile "$d/redis.log"
for _ in $(seq 50); do
    redis-cli -s "$d/redis.sock" ping >/dev/null 2>&1 && break
    sleep 0.1
done
for i in $(seq -w 1 1000); do
    echo "ZADD oci:{bench/app}:tags 0 t$i"
done | redis-cli -s "$d/redis.sock" >/dev/null

tick_ns=$(( 1000000000 / $(getconf CLK_TCK) ))
user=
[ "$(id -u)" = 0 ] && user='user root;'

urls=(/v2/ "/v2/bench/app/tags/list?n=100" /v2/bench/app/manifests/absent)

printf '%-6s %-5s %-32s %9s %12s %12s\n' round build url requests \
    user_ns/req sys_ns/req

for round in $(seq "$rounds"); do
    for build in old new; do
        [ $build = old ] && so=$old || so=$new
        cat > "$d/nginx.conf" <<EOF
load_module $so;
$user
worker_processes 1;
error_log $d/logs/error.log warn;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location /v2/ {
            oci_registry;
            oci_registry_storage $d/storage;
            oci_registry_redis unix:$d/redis.sock;
        }
    }
}
EOF
        nginx -p "$d" -c "$d/nginx.conf"
        sleep 0.5
        worker=$(pgrep -P "$(cat "$d/nginx.pid")")

        for url in "${urls[@]}"; do
            curl -s -o /dev/null "http://127.0.0.1:$port$url"
            read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$worker/stat")
            n=$(wrk -t1 -c8 -d5s "http://127.0.0.1:$port$url" \
                | awk '/requests in/ {print $1}')
            read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$worker/stat")
            printf '%-6s %-5s %-32s %9s %12s %12s\n' "$round" $build "$url" \
                "$n" $(( (u1 - u0) * tick_ns / n )) \
                $(( (s1 - s0) * tick_ns / n ))
        done

        nginx -p "$d" -c "$d/nginx.conf" -s stop 2>/dev/null
        for _ in $(seq 50); do
            [ -f "$d/nginx.pid" ] || break
            sleep 0.1
        done
    done
done
