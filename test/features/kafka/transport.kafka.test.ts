// Scale-out transport against a real Apache Kafka broker (KRaft, started from the cached jars) and
// the real embedded ClickHouse. Faults are real: the broker is killed and restarted, a collector
// process is SIGKILLed mid-batch, and ClickHouse inserts fail through our own inserter wrapper.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, type Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import type { Inserter } from '../../../collector/core/pipeline/table-writer.ts';
import { ensureTopics } from '../../../collector/features/kafka/admin.ts';
import { createKafkaClient } from '../../../collector/features/kafka/client.ts';
import { packedHeaders } from '../../../collector/features/kafka/framing.ts';
import { KafkaSink } from '../../../collector/features/kafka/producer-sink.ts';
import { topicName } from '../../../collector/features/kafka/topics.ts';
import { createLogger, silentLogger } from '../../../collector/core/log.ts';
import { count, openTestStore, type TestStore } from '../../helpers/store.ts';
import { startBroker, type Broker } from './broker.ts';
import { removeScratch, scenarioConfig, scratchDir, startChild, startMember, startSink, type Member } from './harness.ts';
import { gpuSamples, requests } from './records.ts';
import { metric } from '../../helpers/metrics.ts';
import { freePort } from '../../helpers/net.ts';
import { waitFor } from '../../helpers/wait.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
let broker: Broker;
let t: TestStore;

beforeAll(async () => {
  [broker, t] = await Promise.all([startBroker(), openTestStore()]);
}, 120_000);
// Collector processes a failed test may leave behind.
const children = new Set<ChildProcess>();

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  removeScratch();
  await broker?.destroy();
  await t?.close();
});

const table = (name: string) => `${t.store.database}.${name}`;
/**
 * Messages a topic holds (sum of its partitions' high watermarks; the tests never delete any). Right
 * after a topic is created the broker may still answer "not the leader" (a retriable error) while
 * its metadata settles; that is asked again.
 */
async function messagesIn(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
      } catch (err) {
        if (attempt >= 10 || !(err as { retriable?: boolean }).retriable) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
const requestsOf = (run: string) => count(t.store, `${table('llm_requests')} WHERE startsWith(tenant, '${run}-')`);
const gpuOf = (run: string) => count(t.store, `${table('gpu_metrics')} WHERE startsWith(node, '${run}-')`);

describe('kafka transport', () => {
  it('carries records from exporters through Kafka to two collectors in one group, each exactly once', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'e2e');
    const registry = new Registry();
    const sink = await startSink(cfg, registry);
    const a = await startMember(t.store, cfg);
    const b = await startMember(t.store, cfg);
    try {
      const results = [];
      for (let i = 0; i < 10; i++) {
        results.push(await sink.submit('llm_request', requests('e2e', i * 300, 300), { source: 'proxy' }));
        results.push(await sink.submit('gpu_sample', gpuSamples('e2e', i * 200, 200), { source: 'scrape' }));
      }
      expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(5000);
      await Promise.all(results.map((r) => r.durable));
      expect(await metric(registry, 'llmeter_kafka_producer_records_sent_total')).toBe(5000);
      // Packed (the default): far fewer messages than records.
      const messages = await metric(registry, 'llmeter_kafka_producer_messages_sent_total');
      expect(messages).toBeGreaterThan(0);
      expect(messages).toBeLessThan(5000 / 10);
      await waitFor('all rows in ClickHouse', async () => (await requestsOf('e2e')) >= 3000 && (await gpuOf('e2e')) >= 2000);
      // Both members took part: the group split the partitions between them.
      await waitFor('both members committed', () => a.committed.length > 0 && b.committed.length > 0);
      const byMember = [a, b].map((m) => m.committed.reduce((n, c) => n + c.records, 0));
      expect(byMember.every((n) => n > 0)).toBe(true);
      // Counted once per distinct range: a batch redelivered after the join's rebalance repeats its range.
      // A batch's rows are in ClickHouse before its offsets are committed, so the last commits may
      // still be on their way when every row is there.
      const committedRecords = () =>
        [...new Map([...a.committed, ...b.committed].map((c) => [`${c.topic}/${c.partition}/${c.firstOffset}-${c.lastOffset}`, c.records])).values()].reduce(
          (n, x) => n + x,
          0,
        );
      await waitFor('every record committed', () => committedRecords() >= 5000);
      expect(committedRecords()).toBe(5000);
      await new Promise((r) => setTimeout(r, 500));
      expect(await requestsOf('e2e')).toBe(3000);
      expect(await gpuOf('e2e')).toBe(2000);
      // A member leaves mid-stream (a rebalance while batches are in flight): the other takes over
      // its partitions, and what it had not committed is redelivered and deduplicated.
      const more = [];
      for (let i = 10; i < 14; i++) {
        more.push(await sink.submit('llm_request', requests('e2e', i * 300, 300), { source: 'proxy' }));
        more.push(await sink.submit('gpu_sample', gpuSamples('e2e', i * 200, 200), { source: 'scrape' }));
      }
      await b.stop();
      await Promise.all(more.map((r) => r.durable));
      await waitFor('rows after the rebalance', async () => (await requestsOf('e2e')) >= 4200 && (await gpuOf('e2e')) >= 2800);
      await new Promise((r) => setTimeout(r, 500));
      expect(await requestsOf('e2e')).toBe(4200);
      expect(await gpuOf('e2e')).toBe(2800);
      // Per partition, the committed batches are contiguous and in order, across both members and
      // any rebalance: no gap, no overlap.
      const byPartition = new Map<string, { first: number; last: number }[]>();
      for (const c of [...a.committed, ...b.committed]) {
        const k = `${c.topic}/${c.partition}`;
        byPartition.set(k, [...(byPartition.get(k) ?? []), { first: c.firstOffset, last: c.lastOffset }]);
      }
      // A redelivered batch repeats its recorded range exactly; apart from that, no gap and no overlap.
      for (const ranges of byPartition.values()) {
        const distinct = [...new Map(ranges.map((r) => [`${r.first}-${r.last}`, r])).values()].sort((x, y) => x.first - y.first);
        expect(distinct[0]!.first).toBe(0);
        for (let i = 1; i < distinct.length; i++) expect(distinct[i]!.first).toBe(distinct[i - 1]!.last + 1);
      }
      // Lag per partition (8 topics × 4 partitions, all on the remaining member) is on /metrics and
      // falls to zero once everything is committed.
      await waitFor('lag measured at zero', async () => {
        const lag = await a.consumer.measureLag();
        return lag.size === 8 * 4 && [...lag.values()].every((v) => v === 0);
      });
      const text = await a.registry.metrics();
      expect(text).toMatch(/llmeter_kafka_consumer_lag\{topic="test-e2e\.(llm_request|gpu_sample)\.v1",partition="\d"\} 0/);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await sink.shutdown();
    }
  });

  it('dead-letters poison messages with their partition and offset while the partition keeps flowing', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'poison', { topics: { partitions: 1 } });
    const kafka = createKafkaClient(cfg.transport.kafka, silentLogger);
    await ensureTopics(kafka, cfg.transport.kafka, silentLogger);
    const topic = topicName('test-poison', 'llm_request');
    const producer = kafka.producer();
    await producer.connect();
    const good = requests('poison', 0, 6);
    await producer.send({
      topic,
      compression: CompressionTypes.GZIP,
      messages: [
        { key: 'k', value: JSON.stringify(good[0]) },
        { key: 'k', value: JSON.stringify(good[1]) },
        { key: 'k', value: '{"ts": 1763856000000, "request_id": "cut-off' }, // offset 2: not JSON
        { key: 'k', value: JSON.stringify(good[2]) },
        { key: 'k', value: JSON.stringify({ ...good[3], tenant: undefined, status: 'teapot' }) }, // offset 4: JSON, invalid record
        { key: 'k', value: JSON.stringify(good[4]) },
        { key: 'k', value: JSON.stringify(good[5]) },
      ],
    });
    await producer.disconnect();
    const m = await startMember(t.store, cfg);
    try {
      await waitFor(
        'good rows and dead letters',
        async () => (await requestsOf('poison')) === 5 && (await count(t.store, `${table('dead_letters')} WHERE topic = '${topic}'`)) === 2,
      );
      const dead = await t.store.queryRows<{ partition: string; offset: string; reason: string; source: string; payload: string }>(
        `SELECT partition, offset, reason, source, payload FROM ${table('dead_letters')} WHERE topic = {topic:String} ORDER BY offset`,
        { topic },
      );
      expect(dead.map((d) => [Number(d.partition), Number(d.offset), d.source])).toEqual([
        [0, 2, 'kafka'],
        [0, 4, 'kafka'],
      ]);
      expect(dead[0]!.payload).toContain('cut-off');
      expect(dead[0]!.reason).toMatch(/^not valid JSON: /);
      expect(dead[1]!.reason).toMatch(/tenant: required/);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_poison_messages_total', { reason: 'not_json' })).toBe(1);
      // The partition moved past the poison: everything is committed.
      const admin = kafka.admin();
      await admin.connect();
      const offsets = await admin.fetchOffsets({ groupId: cfg.transport.kafka.group_id, topics: [topic] });
      await admin.disconnect();
      expect(offsets[0]!.partitions[0]!.offset).toBe('7');
    } finally {
      await m.stop();
    }
  });
  it('packs records into messages and brings every record back exactly, values and all', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'packed', { producer: { max_records_per_message: 40 } });
    const registry = new Registry();
    const sink = await startSink(cfg, registry);
    const m = await startMember(t.store, cfg);
    try {
      const sent = requests('packed', 0, 2400, 7);
      const results = [];
      for (let i = 0; i < sent.length; i += 600) results.push(await sink.submit('llm_request', sent.slice(i, i + 600), { source: 'proxy' }));
      await Promise.all(results.map((r) => r.durable));
      // `durable` also resolves for records spooled when a send fails (short timeouts on a loaded
      // machine); they reach Kafka once replayed, the same packed messages.
      await waitFor('every record acknowledged by Kafka', async () => (await metric(registry, 'llmeter_kafka_producer_records_sent_total')) >= 2400);
      const messages = await metric(registry, 'llmeter_kafka_producer_messages_sent_total');
      expect(await metric(registry, 'llmeter_kafka_producer_records_sent_total')).toBe(2400);
      expect(await metric(registry, 'llmeter_kafka_producer_records_dropped_total')).toBe(0);
      expect(messages).toBeGreaterThanOrEqual(2400 / 40);
      expect(messages).toBeLessThan(2400 / 10);
      expect(await messagesIn(createKafkaClient(cfg.transport.kafka, silentLogger), topicName('test-packed', 'llm_request'))).toBe(messages);
      await waitFor('all rows in ClickHouse', async () => (await requestsOf('packed')) >= 2400);
      await waitFor('all committed', () => m.committed.reduce((n, c) => n + c.records, 0) >= 2400);
      await new Promise((r) => setTimeout(r, 300));
      const rows = await t.store.queryRows<{
        request_id: string;
        tenant: string;
        ts: string;
        input_tokens: string;
        output_tokens: string;
        duration_ms: string;
        eval_duration_ns: string;
        status: string;
      }>(
        `SELECT request_id, tenant, toUnixTimestamp64Milli(ts) AS ts, input_tokens, output_tokens, duration_ms, eval_duration_ns, status FROM ${table('llm_requests')} WHERE startsWith(tenant, 'packed-') ORDER BY request_id`,
      );
      const want = sent
        .map((r) => [r.request_id, r.tenant, r.ts, r.input_tokens, r.output_tokens, r.duration_ms, r.eval_duration_ns, r.status])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(
        rows.map((r) => [
          r.request_id,
          r.tenant,
          Number(r.ts),
          Number(r.input_tokens),
          Number(r.output_tokens),
          Number(r.duration_ms),
          Number(r.eval_duration_ns),
          Number(r.status),
        ]),
      ).toEqual(want);
      // The consumer counted both, and its insert batches were whole messages of at most
      // max_batch_records (500) records each.
      expect(await metric(m.registry, 'llmeter_kafka_consumer_messages_total')).toBe(messages);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_records_total')).toBe(2400);
      expect(m.committed.reduce((n, c) => n + c.messages, 0)).toBe(messages);
      expect(m.committed.every((c) => c.records <= 500 && c.records >= c.messages && c.lastOffset - c.firstOffset + 1 === c.messages)).toBe(true);
      expect(m.committed.some((c) => c.messages > 1)).toBe(true);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_poison_messages_total')).toBe(0);
    } finally {
      await m.stop();
      await sink.shutdown();
    }
  });

  it('dead-letters a bad line of a packed message with partition, offset and line; the rest of it, its batch and older single-record messages land', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'badline', { topics: { partitions: 1 } });
    const kafka = createKafkaClient(cfg.transport.kafka, silentLogger);
    await ensureTopics(kafka, cfg.transport.kafka, silentLogger);
    const topic = topicName('test-badline', 'llm_request');
    const producer = kafka.producer();
    await producer.connect();
    const good = requests('badline', 0, 8).map((r) => JSON.stringify(r));
    const packed = (lines: string[]) => ({ key: 'k', value: lines.join('\n'), headers: packedHeaders(lines.length) });
    await producer.send({
      topic,
      compression: CompressionTypes.GZIP,
      messages: [
        { key: 'k', value: good[0]! }, // offset 0: one record, no header (an older producer)
        packed([
          good[1]!,
          good[2]!,
          '{"ts": 1763856000000, "request_id": "cut-off',
          good[3]!,
          JSON.stringify({ ...requests('badline', 99, 1)[0], tenant: undefined }),
        ]), // offset 1
        { key: 'k', value: good[4]! }, // offset 2
        packed([good[5]!, good[6]!, good[7]!]), // offset 3
      ],
    });
    await producer.disconnect();
    const m = await startMember(t.store, cfg);
    try {
      await waitFor(
        'good rows and dead letters',
        async () => (await requestsOf('badline')) === 8 && (await count(t.store, `${table('dead_letters')} WHERE topic = '${topic}'`)) === 2,
      );
      const dead = await t.store.queryRows<{ partition: string; offset: string; reason: string; source: string; payload: string }>(
        `SELECT partition, offset, reason, source, payload FROM ${table('dead_letters')} WHERE topic = {topic:String} ORDER BY startsWith(reason, 'line 3 ') DESC`,
        { topic },
      );
      expect(dead.map((d) => [Number(d.partition), Number(d.offset), d.source])).toEqual([
        [0, 1, 'kafka'],
        [0, 1, 'kafka'],
      ]);
      expect(dead[0]!.reason).toMatch(/^line 3 of 5: not valid JSON: /);
      expect(dead[0]!.payload).toBe('{"ts": 1763856000000, "request_id": "cut-off');
      expect(dead[1]!.reason).toMatch(/^line 5 of 5: .*tenant: required/);
      expect(dead[1]!.payload).toContain('badline-99');
      const ids = await t.store.queryRows<{ request_id: string }>(
        `SELECT request_id FROM ${table('llm_requests')} WHERE startsWith(tenant, 'badline-') ORDER BY request_id`,
      );
      expect(ids.map((r) => r.request_id)).toEqual(
        requests('badline', 0, 8)
          .map((r) => r.request_id)
          .sort(),
      );
      expect(await metric(m.registry, 'llmeter_kafka_consumer_poison_messages_total', { reason: 'not_json' })).toBe(1);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_messages_total')).toBe(4);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_records_total')).toBe(10);
      const admin = kafka.admin();
      await admin.connect();
      const offsets = await admin.fetchOffsets({ groupId: cfg.transport.kafka.group_id, topics: [topic] });
      await admin.disconnect();
      expect(offsets[0]!.partitions[0]!.offset).toBe('4');
    } finally {
      await m.stop();
    }
  });

  it('holds on while ClickHouse inserts fail: partitions pause, lag grows, then everything drains, nothing lost', async () => {
    const cfg = scenarioConfig(
      [broker.bootstrap],
      'chdown',
      { consumer: { max_batch_records: 200 } },
      { queue_capacity: 200, retry: { initial_ms: 20, max_ms: 100 } },
    );
    let failing = true;
    let failures = 0;
    const base = storeInserter(t.store);
    const flaky: Inserter = {
      async insert(tbl, rows, token) {
        if (failing) {
          failures++;
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
        }
        await base.insert(tbl, rows, token);
      },
    };
    const sinkRegistry = new Registry();
    const sink = await startSink(cfg, sinkRegistry);
    // The records are in Kafka before the collector joins, so its first fetch holds every partition:
    // while the first batch cannot be inserted, the others find the writer full and are paused.
    const r = await sink.submit('llm_request', requests('chdown', 0, 2000, 16), { source: 'proxy' });
    await r.durable;
    // On a busy machine a first send can outlast its deadline and go through the spool: wait until
    // everything is in Kafka.
    await waitFor('records in Kafka', () => sink.pendingRecords === 0, 30_000);
    const messages = await metric(sinkRegistry, 'llmeter_kafka_producer_messages_sent_total');
    expect(messages).toBeLessThan(2000);
    const m = await startMember(t.store, cfg, flaky);
    try {
      await waitFor(
        'partitions paused behind the full writer',
        async () => (await metric(m.registry, 'llmeter_kafka_consumer_pauses_total')) > 0 && failures > 3,
      );
      // Lag counts messages (offsets); its records estimate is the whole backlog of records.
      const lagDuring = [...(await m.consumer.measureLag()).values()].reduce((a, b) => a + b, 0);
      expect(lagDuring).toBe(messages);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_lag')).toBe(messages);
      expect(await metric(m.registry, 'llmeter_kafka_consumer_lag_records')).toBe(2000);
      expect(await requestsOf('chdown')).toBe(0);
      failing = false;
      await waitFor('drained', async () => (await requestsOf('chdown')) === 2000, 30_000);
      await waitFor('lag back to zero', async () => [...(await m.consumer.measureLag()).values()].every((v) => v === 0));
      await new Promise((res) => setTimeout(res, 300));
      expect(await requestsOf('chdown')).toBe(2000);
      expect(await metric(m.registry, 'llmeter_insert_retries_total')).toBeGreaterThan(0);
    } finally {
      failing = false;
      await m.stop();
      await sink.shutdown();
    }
  });

  it('spools while the broker is down and replays in order when it is back: nothing lost, nothing doubled', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'outage');
    const registry = new Registry();
    const sink = await startSink(cfg, registry);
    const m = await startMember(t.store, cfg);
    // The broker is brought back even if this test fails half-way, so later tests still have one.
    let down = false;
    try {
      const durables: Promise<void>[] = [];
      for (let round = 0; round < 30; round++) {
        if (round === 10) {
          await sink.forceFlush();
          down = true;
          await broker.stop();
        }
        if (round === 20) {
          // Spooled records are the evidence the producer switched to the disk buffer (its spooling
          // gauge flips back and forth as it probes the broker, so it is not sampled here).
          await waitFor('records spooled to disk', async () => (await metric(registry, 'llmeter_kafka_spool_records_written_total')) > 0, 20_000);
          await broker.restart();
          down = false;
        }
        const r = await sink.submit('llm_request', requests('outage', round * 100, 100, 5), { source: 'proxy' });
        expect(r.accepted).toBe(100);
        durables.push(r.durable);
        await new Promise((res) => setTimeout(res, 50));
      }
      await Promise.all(durables);
      await waitFor('spool replayed', () => sink.pendingRecords === 0, 60_000);
      expect(await metric(registry, 'llmeter_kafka_spool_records_replayed_total')).toBeGreaterThan(0);
      expect(await metric(registry, 'llmeter_kafka_producer_records_dropped_total')).toBe(0);
      // Every record reached Kafka once, packed: the spool held and replayed packed messages.
      expect(await metric(registry, 'llmeter_kafka_producer_records_sent_total')).toBe(3000);
      expect(await metric(registry, 'llmeter_kafka_producer_messages_sent_total')).toBeLessThan(3000 / 5);
      await waitFor('all rows in ClickHouse', async () => (await requestsOf('outage')) >= 3000, 60_000);
      await new Promise((res) => setTimeout(res, 1000));
      expect(await requestsOf('outage')).toBe(3000);
      const dup = await t.store.queryRows<{ n: string }>(
        `SELECT count() AS n FROM (SELECT request_id FROM ${table('llm_requests')} WHERE startsWith(tenant, 'outage-') GROUP BY request_id HAVING count() > 1)`,
      );
      expect(Number(dup[0]!.n)).toBe(0);
    } finally {
      if (down) await broker.restart();
      await m.stop();
      await sink.shutdown();
    }
  });

  it('gives a send up at producer.send_timeout_ms while the broker does not answer, spools it, and sends it once when the broker answers again', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'hung', { request_timeout_ms: 30_000, producer: { send_timeout_ms: 1_000, max_records_per_message: 10 } });
    const registry = new Registry();
    const sink = await startSink(cfg, registry);
    let paused = false;
    let m: Member | undefined;
    try {
      await (
        await sink.submit('llm_request', requests('hung', 0, 100), { source: 'proxy' })
      ).durable;
      // On a busy machine a first send can outlast its deadline and go through the spool: the broker
      // is frozen only once everything before is in Kafka.
      await waitFor('records in Kafka', () => sink.pendingRecords === 0, 30_000);
      const timeoutsBefore = await metric(registry, 'llmeter_kafka_producer_send_failures_total', { reason: 'send_timeout' });
      const spooledBefore = await metric(registry, 'llmeter_kafka_spool_records_written_total');
      // Frozen: connections stay open and nothing answers, so the client waits for its request timeout.
      broker.pause();
      paused = true;
      const t0 = Date.now();
      const r = await sink.submit('llm_request', requests('hung', 100, 100), { source: 'proxy' });
      const durable = await Promise.race([r.durable.then(() => Date.now() - t0), new Promise<undefined>((res) => setTimeout(() => res(undefined), 10_000))]);
      expect(durable).toBeDefined();
      expect(durable!).toBeGreaterThanOrEqual(1_000);
      expect(durable!).toBeLessThan(1_000 + 1_500);
      expect(await metric(registry, 'llmeter_kafka_producer_send_failures_total', { reason: 'send_timeout' })).toBe(timeoutsBefore + 1);
      expect(await metric(registry, 'llmeter_kafka_spool_records_written_total')).toBe(spooledBefore + 100);
      // What comes meanwhile goes to disk behind it, without waiting for the hung send.
      const later = await sink.submit('llm_request', requests('hung', 200, 100), { source: 'proxy' });
      expect(await Promise.race([later.durable.then(() => true), new Promise((res) => setTimeout(() => res(false), 1_000))])).toBe(true);
      broker.resume();
      paused = false;
      // The timed-out send went through once the broker woke: it leaves the spool without being sent again.
      await waitFor('spool empty', () => sink.pendingRecords === 0, 30_000);
      expect(await metric(registry, 'llmeter_kafka_producer_records_sent_total')).toBe(300);
      m = await startMember(t.store, cfg);
      await waitFor('rows in ClickHouse', async () => (await requestsOf('hung')) >= 300);
      await new Promise((res) => setTimeout(res, 300));
      const [row] = await t.store.queryRows<{ n: string; ids: string }>(
        `SELECT count() AS n, uniqExact(request_id) AS ids FROM ${table('llm_requests')} WHERE startsWith(tenant, 'hung-')`,
      );
      expect([Number(row!.n), Number(row!.ids)]).toEqual([300, 300]);
    } finally {
      if (paused) broker.resume();
      await m?.stop();
      await sink.shutdown();
    }
  });

  it('an edge command that waits for its records to be durable lives until they are, with Kafka unreachable', async () => {
    // Nothing listens there: the only work left in the process is the sink's own (its linger, its send deadline).
    const kafka = {
      brokers: [`127.0.0.1:${await freePort()}`],
      topic_prefix: 'test-alone',
      spool_dir: scratchDir('llmeter-spool-alone-'),
      producer: { send_timeout_ms: 1_000 },
    };
    const c = startChild({ role: 'edge', mode: 'once', dataDir: scratchDir('llmeter-alone-'), kafka, run: 'alone', total: 500 });
    children.add(c.proc);
    const end = await c.exited;
    expect(end.code).toBe(0);
    expect(end.summary).toEqual({ accepted: 500, durable: 500, dropped: 0, pending: 500 });
  });

  it('at shutdown with Kafka unreachable and the spool full, what does not fit is counted as dropped and logged as an error', async () => {
    const cfg = scenarioConfig([`127.0.0.1:${await freePort()}`], 'full', {
      spool_max_bytes: 16 * 1024,
      producer: { send_timeout_ms: 1_000, linger_ms: 60_000, batch_max_bytes: 8 * 1024 },
    });
    const lines: { level: string; msg: string }[] = [];
    const log = createLogger({ level: 'warn', json: true, write: (l) => lines.push(JSON.parse(l) as { level: string; msg: string }) });
    const registry = new Registry();
    const sink = new KafkaSink({ config: cfg.transport.kafka, kafka: createKafkaClient(cfg.transport.kafka, log, { role: 'producer' }), registry, log });
    await sink.start();
    // Held in memory (a long linger) until shutdown, which finds Kafka unreachable.
    const r = await sink.submit('llm_request', requests('full', 0, 500), { source: 'proxy' });
    expect(r.accepted).toBe(500);
    await sink.shutdown();
    await r.durable;
    // durable resolved, but the submit says it was not all kept: its intake answers 503, not 2xx.
    expect(r.lost?.()).toBe(true);
    const spooled = await metric(registry, 'llmeter_kafka_spool_records_written_total');
    const dropped = await metric(registry, 'llmeter_kafka_producer_records_dropped_total', { reason: 'spool_full' });
    expect(spooled).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    expect(spooled + dropped).toBe(500);
    expect(sink.pendingRecords).toBe(spooled);
    expect(lines.filter((l) => l.level === 'error' && l.msg === 'kafka spool full; records dropped').length).toBeGreaterThan(0);
  });

  it('while the broker is down, one SIGTERM stops an edge, keeping every record it acknowledged (spooled, replayed by its next run, stored once), and a collector, within its shutdown timeout', async () => {
    const cfg = scenarioConfig([broker.bootstrap], 'sigterm');
    const k = cfg.transport.kafka;
    // The processes' own settings, as an operator would write them (a short send timeout keeps the test short).
    const kafka = {
      brokers: k.brokers,
      topic_prefix: k.topic_prefix,
      spool_dir: k.spool_dir,
      topics: { partitions: 4 },
      replay_interval_ms: 300,
      producer: { linger_ms: 50, send_timeout_ms: 2_000 },
    };
    const ackFile = path.join(scratchDir('llmeter-sigterm-acks-'), 'acks');
    const edge = (mode: string) =>
      startChild({ role: 'edge', mode, dataDir: scratchDir('llmeter-sigterm-edge-'), kafka, run: 'sigterm', batch: 50, everyMs: 10, ackFile });
    // A collector of its own group, writing to its own store.
    const shutdownTimeoutMs = 15_000;
    const collector = startChild({
      role: 'collector',
      dataDir: scratchDir('llmeter-sigterm-collector-'),
      kafka: { ...kafka, group_id: 'sigterm-child', consumer: { session_timeout_ms: 10_000, heartbeat_interval_ms: 1_000 } },
      pipeline: { shutdown_timeout_ms: shutdownTimeoutMs },
    });
    children.add(collector.proc);
    const acks = () =>
      existsSync(ackFile)
        ? readFileSync(ackFile, 'utf8')
            .trim()
            .split('\n')
            .reduce((n, l) => n + Number(l.split(' ')[1]), 0)
        : 0;
    let m: Member | undefined;
    let down = false;
    try {
      const first = edge('stream');
      children.add(first.proc);
      await Promise.all([first.logged((l) => l.msg === 'test child ready'), collector.logged((l) => l.msg === 'test child ready')]);
      // Kafka is up, so these are in Kafka.
      await waitFor('records acknowledged', () => acks() > 1000);
      down = true;
      await broker.stop();
      const collectorStopped = (async () => {
        // Signalled while kafkajs restarts its crashed consumer (the restart is joining the group, and
        // fails against the dead broker after the signal): the moment that kept collectors running.
        const restart = await collector.logged((l) => /^kafkajs: Restarting the consumer/.test(String(l.msg)));
        await new Promise((r) => setTimeout(r, Number(restart.retryTime) + 500));
        const signalled = Date.now();
        collector.proc.kill('SIGTERM');
        const end = await Promise.race([collector.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), shutdownTimeoutMs + 20_000))]);
        return { end, ms: Date.now() - signalled };
      })();
      // A send failed and went to the spool, and so did a first replay attempt; records keep coming
      // while the next attempt (after replay_interval_ms) waits on the dead broker: the signal comes then.
      await first.logged((l) => l.msg === 'kafka unreachable; spooling records to disk', 60_000);
      await first.logged((l) => l.msg === 'kafka send failed', 30_000, 2);
      await new Promise((r) => setTimeout(r, 300 + 500));
      const signalled = Date.now();
      first.proc.kill('SIGTERM');
      const end = await first.exited;
      const stoppedIn = Date.now() - signalled;
      expect(end.code).toBe(0);
      // Everything it accepted is acknowledged (in Kafka or in the spool) or counted as dropped.
      expect(end.summary!.accepted).toBeGreaterThan(0);
      expect(end.summary!.dropped).toBe(0);
      expect(end.summary!.durable).toBe(end.summary!.accepted);
      expect(end.summary!.pending).toBeGreaterThan(0);
      // One send against the dead broker at most, then the process is gone.
      expect(stoppedIn).toBeLessThan(2_000 + 3_000);
      // The collector went on one signal, within its shutdown timeout.
      const c = await collectorStopped;
      expect(c.end?.code).toBe(0);
      expect(c.ms).toBeLessThan(shutdownTimeoutMs);
      await broker.restart();
      down = false;
      const second = edge('replay');
      children.add(second.proc);
      const replayed = await second.exited;
      expect(replayed.code).toBe(0);
      expect(replayed.summary!.pending).toBe(0);
      const acked = acks();
      expect(acked).toBe(end.summary!.accepted);
      m = await startMember(t.store, cfg);
      await waitFor('every acknowledged record in ClickHouse', async () => (await requestsOf('sigterm')) >= acked, 60_000);
      await new Promise((r) => setTimeout(r, 500));
      // Exactly once: as many rows as acknowledged records, every one of them (ids 0 … acked-1), none twice.
      const [row] = await t.store.queryRows<{ n: string; ids: string; lo: string; hi: string }>(
        `SELECT count() AS n, uniqExact(request_id) AS ids, min(toUInt64(splitByChar('-', request_id)[2])) AS lo, max(toUInt64(splitByChar('-', request_id)[2])) AS hi FROM ${table('llm_requests')} WHERE startsWith(tenant, 'sigterm-')`,
      );
      expect([Number(row!.n), Number(row!.ids), Number(row!.lo), Number(row!.hi)]).toEqual([acked, acked, 0, acked - 1]);
    } finally {
      if (down) await broker.restart();
      await m?.stop();
    }
  });

  it('a collector SIGKILLed between insert and commit restarts and leaves every record exactly once', async () => {
    // Messages of 60 records and inserts of 300 (the child's max_batch_records): each insert batch is
    // several packed messages, so the redelivered range must be cut at the same message boundaries.
    const cfg = scenarioConfig([broker.bootstrap], 'crash', { producer: { max_records_per_message: 60 } });
    const sink = await startSink(cfg);
    const r = await sink.submit('llm_request', requests('crash', 0, 3000, 8), { source: 'proxy' });
    await r.durable;
    await sink.shutdown();
    const inKafka = await messagesIn(createKafkaClient(cfg.transport.kafka, silentLogger), topicName('test-crash', 'llm_request'));
    expect(inKafka).toBeGreaterThanOrEqual(3000 / 60);
    expect(inKafka).toBeLessThan(3000 / 10);
    const dataDir = scratchDir('llmeter-crash-store-');
    const args = {
      debug: process.env.LLMETER_TEST_DEBUG === '1',
      dataDir,
      brokers: [broker.bootstrap],
      prefix: 'test-crash',
      group: cfg.transport.kafka.group_id,
      pipeline: { batch_ms: 50 },
    };
    const spawnChild = (ackDelayMs: number): ChildProcess => {
      const c = fork(path.join(here, 'collector-child.ts'), [JSON.stringify({ ...args, ackDelayMs })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.add(c);
      return c;
    };
    const next = (c: ChildProcess, pred: (m: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`collector exited (${code})`));
        const on = (m: unknown) => {
          if (pred(m as Record<string, unknown>)) {
            c.off('message', on);
            c.off('exit', onExit);
            resolve(m as Record<string, unknown>);
          }
        };
        c.on('message', on);
        c.once('exit', onExit);
      });

    const first = spawnChild(2_000);
    // The first insert has reached ClickHouse; its offsets are not committed yet.
    const inserted = await next(first, (m) => m.event === 'inserted' && m.table === 'llm_requests');
    expect(inserted.rows).toBeGreaterThan(0);
    const exited = new Promise((res) => first.once('exit', res));
    first.kill('SIGKILL');
    await exited;

    const second = spawnChild(0);
    try {
      await next(second, (m) => m.event === 'ready');
      const ask = async () => {
        const reply = next(second, (m) => 'count' in m || 'error' in m);
        second.send({ cmd: 'count', sql: `llmeter.llm_requests WHERE startsWith(tenant, 'crash-')` });
        const m = (await reply) as { count: number; redeliveries: number; error?: string };
        if (m.error) throw new Error(`collector: ${m.error}`);
        return m;
      };
      await waitFor('restarted collector caught up', async () => (await ask()).count >= 3000, 60_000, { everyMs: 300 });
      await new Promise((res) => setTimeout(res, 1000));
      const final = await ask();
      expect(final.count).toBe(3000);
      // The crashed batch was re-inserted under its recorded boundaries and token.
      expect(final.redeliveries).toBeGreaterThan(0);
    } finally {
      const stopped = new Promise((res) => second.once('exit', res));
      second.send({ cmd: 'stop' });
      await stopped;
    }
  });
});
