#!/usr/bin/env bash
# A single-node KRaft broker (combined broker + controller) from the cached jars, for local runs and
# benchmarks. The tests start their own through test/features/kafka/broker.ts.
#
#   scripts/kafka/broker.sh start [port] [dir]   # default 9092, .cache/kafka/run; prints the pid
#   scripts/kafka/broker.sh stop  [dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmd="${1:-start}"

case "$cmd" in
  start)
    port="${2:-9092}"
    dir="${3:-$root/.cache/kafka/run}"
    jars="$(bash "$root/scripts/kafka/fetch-jars.sh" | tail -1)"
    mkdir -p "$dir"
    if [[ -f "$dir/broker.pid" ]] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
      echo "broker already running (pid $(cat "$dir/broker.pid"))" >&2
      exit 0
    fi
    cport=$((port + 1))
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
    cat >"$dir/log4j.properties" <<PROPS
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
PROPS
    log4j="-Dlog4j.configuration=file:$dir/log4j.properties"
    if [[ ! -f "$dir/data/meta.properties" ]]; then
      id="$(java -cp "$jars/*" "$log4j" kafka.tools.StorageTool random-uuid)"
      java -cp "$jars/*" "$log4j" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >/dev/null
    fi
    nohup java -Xms256m -Xmx1g -cp "$jars/*" "$log4j" kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1 &
    echo $! >"$dir/broker.pid"
    for _ in $(seq 1 120); do
      if grep -q "Kafka Server started" "$dir/broker.log"; then
        echo "$(cat "$dir/broker.pid")"
        exit 0
      fi
      sleep 0.25
    done
    echo "broker did not start; see $dir/broker.log" >&2
    exit 1
    ;;
  stop)
    dir="${2:-$root/.cache/kafka/run}"
    [[ -f "$dir/broker.pid" ]] || exit 0
    pid="$(cat "$dir/broker.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/broker.pid"
    ;;
  *)
    echo "usage: $0 start [port] [dir] | stop [dir]" >&2
    exit 2
    ;;
esac
