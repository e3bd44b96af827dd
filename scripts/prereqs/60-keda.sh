#!/usr/bin/env bash
# KEDA's own external scaler code for the autoscaling tests: keda-check, built once from the Go
# module proxy into .cache/keda/<version>/ (scripts/keda/build.sh). The first build takes many
# minutes; afterwards this is instant and prints nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/../keda/build.sh"
