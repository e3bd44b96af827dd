#!/usr/bin/env bash
# kustomize for the deploy tests (every layout under deploy/kubernetes is built as `kubectl apply -k`
# would build it): built with `go install` from the Go module proxy into .cache/kustomize/<version>/,
# once. Debian's kubectl (kubernetes-client) is too old to build a kustomization that lists a
# directory as a resource. Idempotent: afterwards this is instant and prints nothing.
#
# The version is pinned in scripts/kustomize/VERSION (v5.8 and later need Go 1.27).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(cat "$root/scripts/kustomize/VERSION")"
dest="$root/.cache/kustomize/$version"
[[ -x "$dest/kustomize" ]] && exit 0

if ! command -v go >/dev/null 2>&1; then
  echo "kustomize: 'go' is needed to build kustomize $version from the Go module proxy" >&2
  exit 1
fi
echo "kustomize: building $version with go install (a minute or two, once)" >&2
work="$root/.cache/kustomize/go"
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
# Everything Go downloads or compiles stays under the cache, writable so that rm -rf clears it.
GOMODCACHE="$work/mod" GOCACHE="$work/build" GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw" CGO_ENABLED=0 GOBIN="$dest.partial" \
  go install "sigs.k8s.io/kustomize/kustomize/v5@$version" >&2
rm -rf "$dest"
mv "$dest.partial" "$dest"
rm -rf "$work"
