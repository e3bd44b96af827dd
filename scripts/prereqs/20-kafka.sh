#!/usr/bin/env bash
# Kafka for the scale-out tests: Apache Kafka's jars from Maven Central, cached in .cache/kafka/.
# Idempotent and instant once the cache is complete.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/../kafka/fetch-jars.sh" >/dev/null
