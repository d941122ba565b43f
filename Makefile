# ngx_oci_registry: an OCI registry as an nginx dynamic module.
#
#   make          build build/default/ngx_http_oci_registry_module.so
#   make run      install what is missing, build, run on 127.0.0.1:5000
#   make run-auth the same with token authentication (docs/auth.md)
#   make run-mirror  a pull-through mirror of Docker Hub (docs/mirror.md);
#                 MIRROR_UPSTREAM=<url> mirrors another registry
#   make test     install what is missing, build, run the test suite
#
#   NGINX_SRC=/path/to/nginx-x.y.z   build against another nginx tree
#   SANITIZE=1                       ASan + UBSan build (make test too)
#   make fuzz [FUZZ_SECONDS=30]      libFuzzer harnesses over the parsers
#   make bench                       side-by-side benchmark (docs/performance.md)

export NGINX_SRC SANITIZE FUZZ_SECONDS MIRROR_UPSTREAM

.PHONY: all build run run-auth run-mirror test fuzz bench bootstrap clean

all: build

build:
	@scripts/build.sh

bootstrap:
	@scripts/bootstrap

run: bootstrap
	@SANITIZE= scripts/build.sh
	@scripts/run.sh

run-auth: bootstrap
	@SANITIZE= scripts/build.sh
	@scripts/run.sh --auth

run-mirror: bootstrap
	@SANITIZE= scripts/build.sh
	@scripts/run.sh --mirror

test:
	@scripts/bootstrap --test
	@scripts/build.sh
	@scripts/test.sh

fuzz:
	@scripts/bootstrap --test
	@SANITIZE= scripts/build.sh >/dev/null
	@scripts/fuzz.sh

bench:
	@scripts/bootstrap --bench
	@SANITIZE= scripts/build.sh >/dev/null
	@scripts/bench/run.sh

clean:
	rm -rf build t/servroot*
