#!/usr/bin/env bash
# Builds the libFuzzer harnesses in t/fuzz/ with clang (ASan + UBSan) and
# runs each for FUZZ_SECONDS (default 30) over its seed corpus in
# t/fuzz/corpus/<name>.  New inputs go to a temp dir, not the repo.
# Exits non-zero on any crash; prints the number of executions.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

seconds=${FUZZ_SECONDS:-30}
tree=build/default/nginx
out=build/fuzz
src=ngx_oci_registry_module

[ -f "$tree/objs/ngx_auto_config.h" ] || scripts/build.sh >/dev/null

command -v clang >/dev/null || {
    echo "fuzz: clang is missing: apt-get install clang libclang-rt-14-dev" >&2
    exit 1
}

mkdir -p "$out"

incs=(-I"$tree/src/core" -I"$tree/src/event" -I"$tree/src/event/modules"
      -I"$tree/src/os/unix" -I"$tree/src/http" -I"$tree/src/http/modules"
      -I"$tree/src/http/v2" -I"$tree/objs" -I"$src" -I"$src/common"
      -I"$src/api" -I"$src/auth" -I"$src/store" -I"$src/redis"
      -I"$src/mirror" -It/fuzz)
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -Wno-unused-command-line-argument -Werror=implicit-function-declaration)

build() {
    local name=$1; shift
    clang "${flags[@]}" "${incs[@]}" -o "$out/$name" "t/fuzz/$name.c" "$@" \
        -lyajl -lcrypto
}

common="$src/common/ngx_http_oci_grammar.c $src/common/ngx_http_oci_json.c"

# shellcheck disable=SC2086
build fuzz_route $common t/fuzz/ngx_shim.c
# shellcheck disable=SC2086
build fuzz_manifest "$src/api/ngx_http_oci_manifest_parse.c" $common \
    t/fuzz/ngx_shim.c
# shellcheck disable=SC2086
build fuzz_jwt "$src/auth/ngx_http_oci_jwt.c" $common t/fuzz/ngx_shim.c
# shellcheck disable=SC2086
build fuzz_errors "$src/common/ngx_http_oci_errors.c" \
    "$src/auth/ngx_http_oci_auth_text.c" "$src/auth/ngx_http_oci_jwt.c" \
    $common t/fuzz/ngx_shim.c

# shellcheck disable=SC2086
build fuzz_mirror "$src/mirror/ngx_http_oci_mirror_text.c" $common \
    t/fuzz/ngx_shim.c

total=0
for name in fuzz_route fuzz_manifest fuzz_jwt fuzz_errors fuzz_mirror; do
    work=$(mktemp -d)
    log="$out/$name.log"
    if ! "$out/$name" -max_total_time="$seconds" -timeout=10 \
            -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
            "$work" "t/fuzz/corpus/${name#fuzz_}" > "$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $name found a crash; the input is in $top/crash-*" >&2
        rm -rf "$work"
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $name: ${runs:-0} executions in ${seconds}s, no crash"
    total=$((total + ${runs:-0}))
    rm -rf "$work"
done

echo "fuzz: $total executions in all, no crash"
echo "fuzz: 5 passed, 0 failed"
