#!/usr/bin/env bash
# Fetches Apache Kafka's broker and tools jars (and the logging binding the broker needs at runtime)
# from Maven Central into .cache/kafka/<version>/, once. Idempotent: a complete cache (marked by
# .complete) is left alone, so repeated runs cost nothing.
#
#   scripts/kafka/fetch-jars.sh            # KAFKA_VERSION defaults to 3.9.2
#   KAFKA_VERSION=4.1.1 scripts/kafka/fetch-jars.sh
#
# Prints the directory holding the jars on its last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="${KAFKA_VERSION:-3.9.2}"
dest="${KAFKA_JARS_DIR:-$root/.cache/kafka/$version}"

if [[ -f "$dest/.complete" ]]; then
  echo "$dest"
  exit 0
fi

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-jars: '$tool' is needed to fetch Kafka (Java 17+ and Maven)" >&2
    exit 1
  fi
done

major="${version%%.*}"
if [[ "$major" -ge 4 ]]; then
  # Kafka 4 logs through Log4j 2.
  logging='
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>'
else
  # Kafka 3.x logs through Log4j 1 (reload4j), and the broker registers a Log4j MBean at start.
  logging='
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>'
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>llmeter</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$version</version></dependency>$logging
  </dependencies>
</project>
EOF

echo "fetch-jars: fetching Apache Kafka $version from Maven Central into $dest" >&2
mkdir -p "$dest.partial"
# The local Maven repository lives in the cache too, so nothing is written outside the project.
mvn -q -B -f "$work/pom.xml" \
  -Dmaven.repo.local="$root/.cache/kafka/m2" \
  dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$dest.partial" >&2
rm -rf "$dest"
mv "$dest.partial" "$dest"
touch "$dest/.complete"
echo "$dest"
