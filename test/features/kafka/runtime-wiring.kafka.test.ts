// The transport's entry points as the runtime uses them: createKafkaSink() for the exporters and
// kafkaConsumerComponents() for a real collector (startCollector: store, pipeline, HTTP), with the
// consumer's lag served on the collector's own /metrics over HTTP. Its own file: a collector opens
// the process's one embedded ClickHouse.
//
// Node warns once per process about a timer set with a negative delay, so the warnings are collected
// from the start of the file, whichever test sets such a timer first.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import type { CoreServices } from '../../../collector/core/feature.ts';
import { createKafkaSink, kafkaConsumerComponents } from '../../../collector/features/kafka/index.ts';
import { count, testConfig } from '../../helpers/store.ts';
import { startBroker, type Broker } from './broker.ts';
import { removeScratch, scratchDir } from './harness.ts';
import { requests } from './records.ts';
import { waitFor } from '../../helpers/wait.ts';

const warnings: Error[] = [];
const consumerCore = (c: CoreServices) => ({ pipeline: c.pipeline, pipelineConfig: c.config.pipeline, registry: c.registry, log: c.log });
process.on('warning', (w) => warnings.push(w));

let broker: Broker;
beforeAll(async () => {
  broker = await startBroker();
}, 120_000);
afterAll(async () => {
  removeScratch();
  await broker?.destroy();
});

it('a collector built by the runtime consumes what the exporters sink publishes, and reports lag on /metrics', async () => {
  const kafka = {
    brokers: [broker.bootstrap],
    topic_prefix: 'wiring',
    group_id: 'wiring-collectors',
    spool_dir: scratchDir('llmeter-spool-wiring-'),
    topics: { partitions: 2 },
    producer: { linger_ms: 20 },
    consumer: { lag_interval_ms: 200, session_timeout_ms: 10_000, heartbeat_interval_ms: 1_000 },
  };
  const config = testConfig({ transport: { kind: 'kafka', kafka } });
  let ctx: CoreServices | undefined;
  const collector: Collector = await startCollector(config, silentLogger, {
    withoutFeatures: true,
    features: [
      (c) => {
        ctx = c;
        return [];
      },
    ],
  });
  // The runtime built the producer sink (the exporters' sink) and the consumer-group member.
  expect(collector.components.map((c) => c.name)).toEqual(expect.arrayContaining(['kafka-consumer', 'kafka-producer']));
  const edgeRegistry = new Registry();
  // An edge node: publishes only (consume: false builds no consumer).
  const sink = createKafkaSink({ ...config.transport.kafka, consume: false }, edgeRegistry, silentLogger);
  expect(kafkaConsumerComponents(testConfig({ transport: { kind: 'kafka', kafka: { ...kafka, consume: false } } }).transport, consumerCore(ctx!))).toEqual([]);
  try {
    await sink.start();
    const r = await sink.submit('llm_request', requests('wiring', 0, 1000, 6), { source: 'proxy' });
    expect(r).toMatchObject({ accepted: 1000, rejected: 0, dropped: 0 });
    await r.durable;
    expect(r.lost?.()).toBe(false);
    // The runtime's own sink publishes to the same topics.
    const own = await ctx!.sink.submit('llm_request', requests('wiring', 1000, 200, 6), { source: 'proxy' });
    expect(own.accepted).toBe(200);
    await own.durable;
    const table = `${collector.store.database}.llm_requests WHERE startsWith(tenant, 'wiring-')`;
    await waitFor('rows in ClickHouse', async () => (await count(collector.store, table)) >= 1200);
    const metricsText = async () => (await fetch(`http://${collector.address}/metrics`)).text();
    await waitFor('lag 0 on /metrics', async () =>
      /llmeter_kafka_consumer_lag\{topic="wiring\.llm_request\.v1",partition="1"[^}]*\} 0/.test(await metricsText()),
    );
    // Lag 0 on one partition says nothing of the others: their last commits may still be on their way.
    const committed = /llmeter_kafka_consumer_records_committed_total\{topic="wiring\.llm_request\.v1"[^}]*\} (\d+)/;
    await waitFor('every record committed on /metrics', async () => Number(committed.exec(await metricsText())?.[1] ?? 0) >= 1200);
    expect(committed.exec(await metricsText())?.[1]).toBe('1200');
    expect(await count(collector.store, table)).toBe(1200);
    expect(await edgeRegistry.metrics()).toMatch(/llmeter_kafka_producer_records_sent_total\{topic="wiring\.llm_request\.v1"\} 1000/);
    // A transport kind other than kafka builds no consumer.
    expect(kafkaConsumerComponents(testConfig().transport, consumerCore(ctx!))).toEqual([]);
  } finally {
    await sink.shutdown();
    await collector.shutdown();
  }
});

it('sets no timer with a negative delay on the Kafka path, and an idle connection schedules none at all', async () => {
  const kafka = {
    brokers: [broker.bootstrap],
    topic_prefix: 'timers',
    spool_dir: scratchDir('llmeter-spool-timers-'),
    topics: { partitions: 1 },
    producer: { linger_ms: 20 },
  };
  const config = testConfig({ transport: { kind: 'kafka', kafka } });
  const sink = createKafkaSink(config.transport.kafka, new Registry(), silentLogger);
  const delays: number[] = [];
  try {
    await sink.start();
    const r = await sink.submit('llm_request', requests('timers', 0, 10), { source: 'proxy' });
    await r.durable;
    // The producer's connections are open and have answered; nothing is pending on them.
    const spy = vi.spyOn(globalThis, 'setTimeout');
    await new Promise((res) => setTimeout(res, 300));
    for (const call of spy.mock.calls) delays.push(Number(call[1]));
    spy.mockRestore();
  } finally {
    await sink.shutdown();
  }
  expect(warnings.filter((w) => w.name === 'TimeoutNegativeWarning').map((w) => w.message)).toEqual([]);
  // The test's own wait is the only timer set while the connections idle.
  expect(delays).toEqual([300]);
});
