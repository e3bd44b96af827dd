#!/usr/bin/env bash
# Builds a CPU-only Ollama from the Go module proxy into .cache/ollama/<version>/ollama, once, and
# generates the tiny test model next to it (scripts/ollama/make-model.py). Idempotent: a complete
# cache is left alone and the script prints nothing.
#
#   scripts/ollama/build.sh                 # the version pinned in scripts/ollama/VERSION
#   OLLAMA_VERSION=v0.17.4 scripts/ollama/build.sh
#
# The module zip leaves out llama.cpp's vendor/ folder, so the third-party headers it includes come
# from elsewhere: nlohmann/json and stb from Debian (scripts/prereqs/30-ollama.sh installs them),
# miniaudio from the source distribution of the `miniaudio` package on PyPI, which carries the header.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="${OLLAMA_VERSION:-$(cat "$root/scripts/ollama/VERSION")}"
cache="$root/.cache/ollama"
dest="$cache/$version"
venv="$cache/venv"
gguf_version=0.19.0
miniaudio_version=1.71

log() { echo "ollama: $*" >&2; }

for tool in go gcc g++ python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "'$tool' is needed to build Ollama (Go with cgo, gcc/g++, Python 3 for the model)"
    exit 1
  fi
done

# Everything Go downloads or compiles stays under the cache, writable so that rm -rf clears it.
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw" CGO_ENABLED=1

# miniaudio.h, at the path llama.cpp's mtmd-helper.cpp includes ("miniaudio/miniaudio.h").
include="$cache/include"
if [[ ! -f "$include/miniaudio/miniaudio.h" ]]; then
  log "fetching miniaudio $miniaudio_version's source distribution from PyPI for its header"
  work="$(mktemp -d)"
  python3 -m pip download -q --no-deps --no-binary :all: "miniaudio==$miniaudio_version" -d "$work" >&2
  tar -xzf "$work/miniaudio-$miniaudio_version.tar.gz" -C "$work"
  mkdir -p "$include/miniaudio"
  cp "$work/miniaudio-$miniaudio_version/miniaudio/miniaudio.h" "$include/miniaudio/miniaudio.h.partial"
  mv "$include/miniaudio/miniaudio.h.partial" "$include/miniaudio/miniaudio.h"
  rm -rf "$work"
fi

if [[ ! -x "$dest/ollama" ]]; then
  log "building Ollama $version with go build (CPU backend; the first build takes many minutes)"
  start=$SECONDS
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  # The version the binary reports (`ollama --version`, /api/version) is set at link time.
  CGO_CPPFLAGS="-I$include" GOBIN="$dest.partial" go install \
    -ldflags "-X=github.com/ollama/ollama/version.Version=${version#v}" \
    "github.com/ollama/ollama@$version" >&2
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
  # The sources and objects (a gigabyte) are not needed once the binary is there.
  rm -rf "$cache/go"
  log "built $dest/ollama in $((SECONDS - start)) s"
fi

if [[ ! -f "$venv/.gguf-$gguf_version" ]]; then
  log "installing gguf $gguf_version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "gguf==$gguf_version" >&2
  touch "$venv/.gguf-$gguf_version"
fi

model="$cache/models/tiny.gguf"
script="$root/scripts/ollama/make-model.py"
# Regenerated when the script changes, so a different model never hides behind an old file.
stamp="$(sha256sum "$script" | cut -c1-16)"
if [[ ! -f "$model" || "$(cat "$model.stamp" 2>/dev/null)" != "$stamp" ]]; then
  mkdir -p "$cache/models"
  "$venv/bin/python" "$script" "$model.partial"
  mv "$model.partial" "$model"
  echo "$stamp" >"$model.stamp"
fi
