// An llmeter process as `llmeter start` runs it (startCollector, one SIGTERM or SIGINT to stop, the
// runtime's shutdown order), for tests that signal it while Kafka is unreachable. Two roles:
//   edge:      transport kafka with consume: false, and an exporter-like generator that submits
//              llm_request records `<run>-<i>` (i = 0, 1, 2, …) to the runtime's sink. Every range whose
//              `durable` resolved is appended to `ackFile` ("<from> <n>" a line) the moment it resolves.
//              mode 'stream' submits until the signal; mode 'once' submits `total` records, waits for
//              them to be durable and stops by itself (a command whose lifetime is its own work);
//              mode 'replay' submits nothing and stops once the spool from an earlier run is sent.
//   collector: transport kafka consuming into its own embedded store.
// Logs go to stderr as JSON lines (debug). The last stdout line is a JSON summary:
//   { accepted, durable, dropped, pending } — records the sink accepted, those whose durable resolved,
//   the producer's dropped counter, and records it still holds (memory + spool).
// Argument: a JSON object (see Args).
import { appendFileSync } from 'node:fs';
import { untilSignal } from '../../../collector/app/cli/context.ts';
import { configSchema } from '../../../collector/app/config-schema.ts';
import type { Component } from '../../../collector/core/lifecycle/component.ts';
import { createLogger } from '../../../collector/core/log.ts';
import { startCollector, type ExtraFactory } from '../../../collector/app/runtime.ts';
import type { KafkaSink } from '../../../collector/features/kafka/producer-sink.ts';
import { requests } from './records.ts';

interface Args {
  role: 'edge' | 'collector';
  mode?: 'stream' | 'once' | 'replay';
  dataDir: string;
  kafka: Record<string, unknown>;
  pipeline?: Record<string, unknown>;
  run?: string;
  /** First record number (a restarted edge continues the numbering). */
  from?: number;
  /** Records per submit and milliseconds between submits (stream), or the total (once). */
  batch?: number;
  everyMs?: number;
  total?: number;
  ackFile?: string;
}

const args = JSON.parse(process.argv[2]!) as Args;
const config = configSchema.parse({
  store: { data_dir: args.dataDir, ttl_days: { raw: 0, reference: 0, rollup: 0 } },
  pipeline: { batch_ms: 50, ...args.pipeline },
  transport: { kind: 'kafka', kafka: { ...args.kafka, consume: args.role === 'collector' } },
});
const log = createLogger({ level: 'debug', json: true });

let accepted = 0;
let durable = 0;
const durables: Promise<void>[] = [];
let stopGenerator = () => {};
const generator: ExtraFactory = (ctx) => {
  let next = args.from ?? 0;
  let stopped = false;
  let loop: Promise<void> = Promise.resolve();
  const submit = async (n: number) => {
    const from = next;
    next += n;
    const r = await ctx.sink.submit('llm_request', requests(args.run!, from, n, 8), { source: 'proxy' });
    accepted += r.accepted;
    if (r.accepted === 0) return;
    durables.push(
      r.durable.then(() => {
        durable += r.accepted;
        if (args.ackFile) appendFileSync(args.ackFile, `${from} ${r.accepted}\n`);
      }),
    );
  };
  const c: Component = {
    name: 'test-generator',
    async start() {
      if (args.mode === 'stream') {
        loop = (async () => {
          while (!stopped) {
            await submit(args.batch ?? 100);
            await new Promise((r) => setTimeout(r, args.everyMs ?? 10));
          }
        })();
      } else if (args.mode === 'once') {
        await submit(args.total ?? 100);
      }
    },
    async forceFlush() {},
    async shutdown() {
      stopped = true;
      await loop;
    },
  };
  stopGenerator = () => void c.shutdown();
  return [c];
};

const collector = await startCollector(config, log, { withoutHttp: true, withoutFeatures: true, features: args.role === 'edge' ? [generator] : [] });
const sink = collector.components.find((c): c is KafkaSink => c.name === 'kafka-producer');
log.info('test child ready', { role: args.role });
if (args.mode === 'once') {
  await Promise.all(durables);
} else if (args.mode === 'replay') {
  while ((sink?.pendingRecords ?? 0) > 0) await new Promise((r) => setTimeout(r, 100));
} else {
  await untilSignal(log);
}
stopGenerator();
await collector.shutdown();
// Lets the last durable callbacks count before the summary.
await new Promise((r) => setImmediate(r));
const dropped = ((await collector.registry.getSingleMetric('llmeter_kafka_producer_records_dropped_total')?.get())?.values ?? []).reduce(
  (a, v) => a + v.value,
  0,
);
process.stdout.write(JSON.stringify({ accepted, durable, dropped, pending: sink?.pendingRecords ?? 0 }) + '\n');
