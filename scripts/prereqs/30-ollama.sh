#!/usr/bin/env bash
# A real Ollama for the proxy's tests: built from the Go module proxy (CPU only) into
# .cache/ollama/<version>/ with the tiny test model beside it (scripts/ollama/build.sh). The first
# build takes minutes; afterwards this is instant and prints nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="$(cat "$root/scripts/ollama/VERSION")"

if [[ ! -x "$root/.cache/ollama/$version/ollama" ]]; then
  # Headers llama.cpp includes from its vendor/ folder, which the module zip leaves out.
  need=()
  [[ -f /usr/include/nlohmann/json.hpp ]] || need+=(nlohmann-json3-dev)
  [[ -f /usr/include/stb/stb_image.h ]] || need+=(libstb-dev)
  if [[ ${#need[@]} -gt 0 ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
      echo "missing Debian packages: ${need[*]} — install them (as root: apt-get install ${need[*]})" >&2
      exit 1
    fi
    echo "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
bash "$root/scripts/ollama/build.sh"
