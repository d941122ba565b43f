#!/usr/bin/env bash
# Builds ngx_http_oci_registry_module.so against nginx's source tree.
#
#   NGINX_SRC  the tree to build against (default: Debian's nginx-dev,
#              /usr/share/nginx/src, configured with the flags Debian's
#              nginx was built with, so the module loads into /usr/sbin/nginx)
#   SANITIZE=1 AddressSanitizer + UndefinedBehaviorSanitizer build
#
# The configured tree lives in build/<variant>/nginx; configure runs again
# only when it is missing or `config` (the list of sources) changed, so
# editing a .c file recompiles just that file.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=${NGINX_SRC:-/usr/share/nginx/src}
sanitize=${SANITIZE:-0}

if [ "$sanitize" = 1 ]; then
    variant=sanitize
else
    variant=default
fi

out=$top/build/$variant
tree=$out/nginx

if [ ! -x "$src/configure" ] && [ ! -x "$src/auto/configure" ]; then
    echo "build: no nginx source tree at $src" >&2
    echo "build: apt-get install nginx-dev, or set NGINX_SRC" >&2
    exit 1
fi

cc_opt="-g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC"
ld_opt="-Wl,-z,relro -Wl,-z,now -fPIC"

if [ "$sanitize" = 1 ]; then
    cc_opt="-g -O1 -fPIC -fno-omit-frame-pointer"
    cc_opt="$cc_opt -fsanitize=address,undefined -fno-sanitize-recover=undefined"
    ld_opt="-fPIC -fsanitize=address,undefined"
fi

stamp=$out/configured
want="$src|$cc_opt|$ld_opt"

if [ ! -f "$tree/objs/Makefile" ] || [ ! -f "$stamp" ] \
   || [ "$(cat "$stamp")" != "$want" ] || [ "$top/config" -nt "$stamp" ]
then
    rm -rf "$tree"
    mkdir -p "$out"
    cp -a "$src" "$tree"
    cd "$tree"

    if [ -f conf_flags ]; then
        # Debian's nginx-dev: the exact flags of /usr/sbin/nginx
        # shellcheck disable=SC1091
        . ./conf_flags
        flags=("${NGX_CONF_FLAGS[@]}")
    else
        # a user's own tree: only what the module's ABI needs
        flags=(--with-compat --with-threads --with-http_auth_request_module)
    fi

    conf=./configure
    [ -x "$conf" ] || conf=auto/configure

    "$conf" "${flags[@]}" --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
        --add-dynamic-module="$top" > "$out/configure.log" 2>&1 || {
        tail -n 30 "$out/configure.log" >&2
        echo "build: configure failed, see $out/configure.log" >&2
        exit 1
    }

    echo "$want" > "$stamp"
fi

cd "$tree"
make -s -f objs/Makefile modules
# install by rename: overwriting the file in place would change the code
# under a running nginx that has it mapped
cp objs/ngx_http_oci_registry_module.so "$out/.module.so.tmp"
mv -f "$out/.module.so.tmp" "$out/ngx_http_oci_registry_module.so"
echo "build: $out/ngx_http_oci_registry_module.so"
