// Shared pieces of the Kafka tests: a transport config for one scenario (its own topic prefix and
// group, so scenarios never see each other's records), a consumer-group member with its own
// pipeline over the shared store, and an llmeter process to signal (runtime-child.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { configSchema, type Config } from '../../../collector/app/config-schema.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { Pipeline, storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import type { Inserter } from '../../../collector/core/pipeline/table-writer.ts';
import type { Store } from '../../../collector/core/store/store.ts';
import { createKafkaClient } from '../../../collector/features/kafka/client.ts';
import { ensureTopics } from '../../../collector/features/kafka/admin.ts';
import { KafkaConsumer, type CommittedBatch } from '../../../collector/features/kafka/consumer.ts';
import { KafkaSink } from '../../../collector/features/kafka/producer-sink.ts';
import { tempDir } from '../../helpers/store.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Directories the scenarios created (spools), removed by `removeScratch()` after the file. */
const scratch: string[] = [];

export function scratchDir(prefix: string): string {
  const d = tempDir(prefix);
  scratch.push(d);
  return d;
}

export function removeScratch(): void {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function scenarioConfig(brokers: string[], name: string, kafka: Record<string, unknown> = {}, pipeline: Record<string, unknown> = {}): Config {
  const k = kafka as { consumer?: object; producer?: object; topics?: object };
  return configSchema.parse({
    pipeline: { batch_ms: 50, retry: { initial_ms: 20, max_ms: 200 }, ...pipeline },
    transport: {
      kind: 'kafka',
      kafka: {
        brokers,
        topic_prefix: `test-${name}`,
        group_id: `collectors-${name}`,
        spool_dir: scratchDir(`llmeter-spool-${name}-`),
        replay_interval_ms: 300,
        connection_timeout_ms: 1_000,
        request_timeout_ms: 5_000,
        ...kafka,
        topics: { partitions: 4, ...k.topics },
        producer: { linger_ms: 20, retries: 2, ...k.producer },
        consumer: {
          session_timeout_ms: 10_000,
          heartbeat_interval_ms: 1_000,
          lag_interval_ms: 300,
          resume_check_ms: 50,
          max_batch_records: 500,
          ...k.consumer,
        },
      },
    },
  });
}

export interface Member {
  consumer: KafkaConsumer;
  pipeline: Pipeline;
  registry: Registry;
  committed: CommittedBatch[];
  stop(): Promise<void>;
}

export async function startMember(store: Store, config: Config, inserter: Inserter = storeInserter(store)): Promise<Member> {
  const registry = new Registry();
  const pipeline = new Pipeline({ config: config.pipeline, inserter, registry, log: silentLogger });
  const kafka = createKafkaClient(config.transport.kafka, silentLogger, { role: 'consumer' });
  await ensureTopics(kafka, config.transport.kafka, silentLogger);
  const committed: CommittedBatch[] = [];
  const consumer = new KafkaConsumer({
    config: config.transport.kafka,
    pipelineConfig: config.pipeline,
    kafka,
    target: pipeline,
    registry,
    log: silentLogger,
    onCommitted: (b) => committed.push(b),
  });
  await consumer.start();
  return {
    consumer,
    pipeline,
    registry,
    committed,
    async stop() {
      await consumer.shutdown();
      await pipeline.shutdown();
    },
  };
}

export async function startSink(config: Config, registry = new Registry()): Promise<KafkaSink> {
  const kafka = createKafkaClient(config.transport.kafka, silentLogger, { role: 'producer' });
  const sink = new KafkaSink({
    config: config.transport.kafka,
    kafka,
    registry,
    log: silentLogger,
    prepare: () => ensureTopics(kafka, config.transport.kafka, silentLogger).then(() => undefined),
  });
  await sink.start();
  return sink;
}

export interface ChildRun {
  proc: ChildProcess;
  /** Resolves when the process has exited: its code, signal, and the summary it printed last. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; summary?: Record<string, number> }>;
  /** Resolves with the `nth` (first by default) JSON log line (stderr) that `pred` accepts. */
  logged(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number, nth?: number): Promise<Record<string, unknown>>;
}

/** Starts test/features/kafka/runtime-child.ts with its JSON argument (see that file). */
export function startChild(args: Record<string, unknown>): ChildRun {
  const proc = spawn(process.execPath, [path.join(here, 'runtime-child.ts'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const watchers = new Set<(l: Record<string, unknown>) => void>();
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  createInterface({ input: proc.stderr! }).on('line', (text) => {
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(text) as Record<string, unknown>;
    } catch {
      l = { msg: text };
    }
    const debug = process.env.LLMETER_TEST_DEBUG;
    if ((debug === '1' && l.level !== 'debug') || debug === '2') process.stderr.write(`[${args.role as string} ${proc.pid}] ${text}\n`);
    lines.push(l);
    for (const w of watchers) w(l);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; summary?: Record<string, number> }>((resolve) =>
    proc.once('exit', (code, signal) => {
      const last = out.trim().split('\n').pop();
      let summary: Record<string, number> | undefined;
      try {
        summary = last ? (JSON.parse(last) as Record<string, number>) : undefined;
      } catch {
        summary = undefined;
      }
      resolve({ code, signal, summary });
    }),
  );
  return {
    proc,
    exited,
    logged(pred, timeoutMs = 60_000, nth = 1) {
      const seen = lines.filter(pred);
      if (seen.length >= nth) return Promise.resolve(seen[nth - 1]!);
      let count = seen.length;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          watchers.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a log line of the child`));
        }, timeoutMs);
        const w = (l: Record<string, unknown>) => {
          if (!pred(l) || ++count < nth) return;
          clearTimeout(t);
          watchers.delete(w);
          resolve(l);
        };
        watchers.add(w);
      });
    },
  };
}
