#!/usr/bin/env bash
# Builds keda-check (scripts/keda/check: KEDA's own external and external-push scalers, reached
# through its scalers cache) into .cache/keda/<version>/keda-check, once. The autoscaling tests run
# it against a collector. Idempotent: a complete cache is left alone and the script prints nothing.
#
#   scripts/keda/build.sh        # the KEDA release pinned in scripts/keda/VERSION (and check/go.mod)
#
# KEDA's scalers are one Go package with every cloud SDK in it: the first build downloads about two
# gigabytes of modules and takes many minutes on two cores; only the binary is kept.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(cat "$root/scripts/keda/VERSION")"
src="$root/scripts/keda/check"
cache="$root/.cache/keda"
dest="$cache/$version"

log() { echo "keda: $*" >&2; }

if ! grep -q "github.com/kedacore/keda/v2 $version\$" "$src/go.mod"; then
  log "scripts/keda/check/go.mod does not require KEDA $version (scripts/keda/VERSION): update both together"
  exit 1
fi
# Rebuilt when the program changes, so a test never runs an old one.
stamp="$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-16)"
if [[ -x "$dest/keda-check" && "$(cat "$dest/keda-check.stamp" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "'go' is needed to build keda-check (KEDA's scalers are Go)"
  exit 1
fi

# Everything Go downloads or compiles stays under the cache, writable so that rm -rf clears it.
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw -mod=readonly"
log "building keda-check against KEDA $version (the first build downloads KEDA's dependencies and takes many minutes)"
start=$SECONDS
mkdir -p "$dest"
(cd "$src" && go build -trimpath -o "$dest/keda-check.partial" .) >&2
mv "$dest/keda-check.partial" "$dest/keda-check"
echo "$stamp" >"$dest/keda-check.stamp"
# The sources and objects (gigabytes) are not needed once the binary is there.
rm -rf "$cache/go"
log "built $dest/keda-check in $((SECONDS - start)) s"
