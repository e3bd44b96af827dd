// A collector in its own process (its own embedded ClickHouse), so a test can SIGKILL it mid-batch
// and start it again on the same data directory. Talks to the test over the IPC channel:
//   → { cmd: 'count', sql }   ← { count }
//   → { cmd: 'stop' }         ← { stopped } and exit
//   ← { event: 'ready' } once consuming; ← { event: 'inserted', rows } after each ClickHouse insert,
//     before the pipeline acknowledges it (the window in which a crash leaves rows uncommitted).
// Argument: a JSON object { dataDir, brokers, prefix, group, ackDelayMs, pipeline }.
import { Registry } from 'prom-client';
import { configSchema } from '../../../collector/app/config-schema.ts';
import { createLogger, silentLogger, type Logger } from '../../../collector/core/log.ts';
import { Pipeline, storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import type { Inserter } from '../../../collector/core/pipeline/table-writer.ts';
import { migrate } from '../../../collector/core/schema/migrations/index.ts';
import { openStore } from '../../../collector/core/store/store.ts';
import { ensureTopics } from '../../../collector/features/kafka/admin.ts';
import { createKafkaClient } from '../../../collector/features/kafka/client.ts';
import { KafkaConsumer } from '../../../collector/features/kafka/consumer.ts';

interface Args {
  dataDir: string;
  brokers: string[];
  prefix: string;
  group: string;
  ackDelayMs: number;
  pipeline: Record<string, unknown>;
  debug?: boolean;
}

const args = JSON.parse(process.argv[2]!) as Args;
const config = configSchema.parse({
  store: { data_dir: args.dataDir },
  pipeline: args.pipeline,
  transport: {
    kind: 'kafka',
    kafka: {
      brokers: args.brokers,
      topic_prefix: args.prefix,
      group_id: args.group,
      consumer: { partitions_concurrently: 2, max_batch_records: 300, session_timeout_ms: 6_000, heartbeat_interval_ms: 1_000 },
    },
  },
});
const log: Logger = args.debug ? createLogger({ level: 'debug', json: false }) : silentLogger;
const send = (m: object) => process.send?.(m);
const store = await openStore(config.store);
await migrate(store, store.ddlTarget());
const base = storeInserter(store);
let redeliveries = 0;
const inserter: Inserter = {
  async insert(table, rows, token) {
    await base.insert(table, rows, token);
    send({ event: 'inserted', table, rows: rows.count, token });
    if (args.ackDelayMs > 0) await new Promise((r) => setTimeout(r, args.ackDelayMs));
  },
};
const registry = new Registry();
const pipeline = new Pipeline({ config: config.pipeline, inserter, registry, log });
const kafka = createKafkaClient(config.transport.kafka, log, { role: 'consumer' });
const consumer = new KafkaConsumer({
  config: config.transport.kafka,
  pipelineConfig: config.pipeline,
  kafka,
  target: pipeline,
  registry,
  log,
  onCommitted: (b) => {
    log.debug('committed', { ...b, timestamps: undefined });
    if (b.redelivery) redeliveries++;
  },
});
await ensureTopics(kafka, config.transport.kafka, log);
await consumer.start();
send({ event: 'ready' });

process.on('message', (raw) => {
  const m = raw as { cmd: string; sql?: string };
  void (async () => {
    if (m.cmd === 'count') {
      const rows = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM ${m.sql}`);
      send({ count: Number(rows[0]?.n ?? 0), redeliveries });
    } else if (m.cmd === 'stop') {
      await consumer.shutdown();
      await pipeline.shutdown();
      await store.close();
      send({ stopped: true });
      process.exit(0);
    }
  })().catch((err: Error) => send({ error: err.message }));
});
