// The transport's pure parts, without a broker: topic names and keys, packing records into messages
// and splitting them again, the commit intent, the disk spool's bounds, order and restart behaviour,
// and the configuration section.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../collector/app/config-schema.ts';
import { NDJSON, packedHeaders, unpack } from '../../../collector/features/kafka/framing.ts';
import { decodeIntent, dedupToken, encodeIntent } from '../../../collector/features/kafka/intent.ts';
import { packBatch } from '../../../collector/features/kafka/producer-sink.ts';
import { DiskSpool, spoolRecords, type SpoolBatch } from '../../../collector/features/kafka/spool.ts';
import { allTopics, messageKey, topicName } from '../../../collector/features/kafka/topics.ts';
import { SIGNALS } from '../../../collector/core/schema/tables.ts';
import { tempDir } from '../../helpers/store.ts';
import { gpuSamples, requests } from './records.ts';

const batch = (topic: string, from: number, n: number): SpoolBatch => ({
  topic,
  messages: Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 3}`, value: JSON.stringify({ i: from + i }) })),
});

function drain(s: DiskSpool): number[] {
  const seen: number[] = [];
  for (let b = s.peek(); b; b = s.peek()) {
    for (const m of b.messages) seen.push((JSON.parse(m.value) as { i: number }).i);
    s.ack();
  }
  return seen;
}

describe('topics and keys', () => {
  it('names one versioned topic per signal under the prefix', () => {
    expect(topicName('llmeter', 'gpu_sample')).toBe('llmeter.gpu_sample.v1');
    expect(topicName('', 'node')).toBe('node.v1');
    const all = allTopics('p');
    expect(all.size).toBe(SIGNALS.length);
    expect(all.get('p.llm_request.v1')).toBe('llm_request');
  });

  it('keys requests by tenant and GPU samples by node, so their order holds per key', () => {
    const [r] = requests('k', 0, 1);
    expect(messageKey('llm_request', r!)).toBe('k-t0');
    const [g] = gpuSamples('k', 1, 1);
    expect(messageKey('gpu_sample', g!)).toBe('k-n1');
  });
});

describe('packed messages', () => {
  // A send batch as the sink queues it: records of three keys on two topics, interleaved.
  const queued = Array.from({ length: 30 }, (_, i) => ({
    topic: i % 5 === 0 ? 'b' : 'a',
    key: `k${i % 3}`,
    value: JSON.stringify({ i, note: 'line\nbreak inside a string' }),
    timestamp: String(1000 + i),
  }));
  const lines = (b: SpoolBatch) => b.messages.map((m) => m.value.split('\n').map((l) => (JSON.parse(l) as { i: number }).i));

  it('packs the records of one topic and key into NDJSON messages, keeping their order and the oldest timestamp', () => {
    const out = packBatch(queued, 100, 1 << 20);
    expect(out.map((b) => b.topic).sort()).toEqual(['a', 'b']);
    for (const b of out) {
      // One message per key here, each holding exactly that key's records in submit order.
      expect(b.messages.map((m) => m.key).sort()).toEqual(['k0', 'k1', 'k2']);
      for (const [m, is] of b.messages.map((m, k) => [m, lines(b)[k]!] as const)) {
        const want = queued.filter((q) => q.topic === b.topic && q.key === m.key).map((q) => JSON.parse(q.value) as { i: number });
        expect(is).toEqual(want.map((w) => w.i));
        expect(m.records).toBe(want.length);
        expect(m.timestamp).toBe(String(1000 + want[0]!.i));
      }
    }
    expect(out.map(spoolRecords).sort()).toEqual([24, 6]);
  });

  it('bounds a message by records and by size, at least one record each', () => {
    const byRecords = packBatch(
      queued.filter((q) => q.topic === 'a' && q.key === 'k1'),
      3,
      1 << 20,
    )[0]!;
    expect(byRecords.messages.map((m) => m.records)).toEqual([3, 3, 2]);
    expect(lines(byRecords).flat()).toEqual(queued.filter((q) => q.topic === 'a' && q.key === 'k1').map((q) => (JSON.parse(q.value) as { i: number }).i));
    const size = Math.max(...queued.map((q) => q.value.length));
    const bySize = packBatch(
      queued.filter((q) => q.topic === 'a' && q.key === 'k1'),
      100,
      2 * size + 1,
    )[0]!;
    expect(bySize.messages.every((m) => m.value.length <= 2 * size + 1)).toBe(true);
    expect(bySize.messages.map((m) => m.records)).toEqual([2, 2, 2, 2]);
    const tiny = packBatch(queued.slice(0, 1), 100, 1)[0]!;
    expect(tiny.messages).toHaveLength(1);
    expect(tiny.messages[0]!.records).toBe(1);
  });

  it('sends one unframed record per message when packing is off', () => {
    const out = packBatch(queued, 1, 1 << 20);
    expect(out.flatMap((b) => b.messages)).toHaveLength(30);
    expect(out.flatMap((b) => b.messages).every((m) => m.records === undefined)).toBe(true);
  });

  it('splits a packed message back into its records, and reads a message without the header as one record', () => {
    const [m] = packBatch(queued.slice(1, 4), 100, 1 << 20)[0]!.messages.filter((x) => x.key === 'k1');
    const packed = unpack({ headers: { ...packedHeaders(m!.records!) }, value: Buffer.from(m!.value) });
    expect(packed.packed).toBe(true);
    expect(packed.texts.map((t) => (JSON.parse(t) as { note: string }).note)).toEqual(['line\nbreak inside a string']);
    // Headers arrive as Buffers from the broker; parameters after the media type and case are tolerated.
    const three = ['{"a":1}', 'not json', '{"a":3}'].join('\n') + '\n';
    const u = unpack({ headers: { 'content-type': Buffer.from('Application/X-NDJSON; charset=utf-8') }, value: Buffer.from(three) });
    expect(u).toEqual({ texts: ['{"a":1}', 'not json', '{"a":3}'], packed: true });
    const single = unpack({ headers: {}, value: Buffer.from('{"a":1}\n{"a":2}') });
    expect(single).toEqual({ texts: ['{"a":1}\n{"a":2}'], packed: false });
    expect(unpack({ headers: { 'content-type': 'application/json' }, value: Buffer.from('{}') }).packed).toBe(false);
    expect(unpack({ headers: { 'content-type': NDJSON }, value: null }).texts).toEqual(['']);
  });
});

describe('commit intent', () => {
  it('round-trips the offset range and ignores foreign metadata', () => {
    expect(decodeIntent(encodeIntent({ start: 10, end: 99 }))).toEqual({ start: 10, end: 99 });
    expect(decodeIntent(null)).toBeUndefined();
    expect(decodeIntent('')).toBeUndefined();
    expect(decodeIntent('something else')).toBeUndefined();
    expect(decodeIntent('llmeter-intent:v1:9-3')).toBeUndefined();
    expect(dedupToken('t', 2, 10, 99)).toBe('kafka:t:2:10-99');
  });
});

describe('disk spool', () => {
  it('replays batches in the order they were spooled, across segments', () => {
    const s = new DiskSpool({ dir: tempDir('spool-'), maxBytes: 1 << 20, segmentBytes: 2048 });
    for (let k = 0; k < 40; k++) expect(s.append(batch('t', k * 10, 10))).toBe(true);
    expect(s.records).toBe(400);
    expect(drain(s)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(s.isEmpty).toBe(true);
    expect(s.bytes).toBe(0);
  });

  it('refuses batches past its byte bound and keeps what it already holds', () => {
    const s = new DiskSpool({ dir: tempDir('spool-'), maxBytes: 4096 });
    let accepted = 0;
    for (let k = 0; k < 100; k++) if (s.append(batch('t', k * 10, 10))) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(100);
    expect(s.bytes).toBeLessThanOrEqual(4096);
    expect(drain(s)).toEqual(Array.from({ length: accepted * 10 }, (_, i) => i));
  });

  it('resumes after a restart where replay stopped, without sending a batch twice', () => {
    const dir = tempDir('spool-');
    const a = new DiskSpool({ dir, maxBytes: 1 << 20, segmentBytes: 1024 });
    for (let k = 0; k < 20; k++) a.append(batch('t', k * 5, 5));
    for (let k = 0; k < 7; k++) {
      a.peek();
      a.ack();
    }
    const b = new DiskSpool({ dir, maxBytes: 1 << 20, segmentBytes: 1024 });
    expect(b.records).toBe(65);
    // New batches queue behind the old ones.
    b.append(batch('t', 100, 5));
    expect(drain(b)).toEqual(Array.from({ length: 70 }, (_, i) => i + 35));
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
  });

  it('stores packed messages as they are and counts their records', () => {
    const dir = tempDir('spool-');
    const s = new DiskSpool({ dir, maxBytes: 1 << 20 });
    const packed: SpoolBatch = {
      topic: 't',
      messages: [
        { key: 'k', value: '{"i":0}\n{"i":1}\n{"i":2}', timestamp: '5', records: 3 },
        { key: 'j', value: '{"i":3}', timestamp: '6', records: 1 },
      ],
    };
    s.append(packed);
    s.append(batch('t', 4, 2));
    expect(s.records).toBe(6);
    // After a restart the count is rebuilt from the stored messages.
    const again = new DiskSpool({ dir, maxBytes: 1 << 20 });
    expect(again.records).toBe(6);
    expect(again.peek()).toEqual(packed);
    again.ack();
    expect(again.records).toBe(2);
  });

  it('takes new batches while one segment is being replayed', () => {
    const s = new DiskSpool({ dir: tempDir('spool-'), maxBytes: 1 << 20 });
    s.append(batch('t', 0, 5));
    s.append(batch('t', 5, 5));
    s.peek();
    s.ack();
    s.append(batch('t', 10, 5));
    expect(drain(s)).toEqual(Array.from({ length: 10 }, (_, i) => i + 5));
  });
});

describe('configuration', () => {
  it('has defaults for every key and refuses misspelt ones', () => {
    const k = configSchema.parse({ transport: { kind: 'kafka' } }).transport.kafka;
    expect(k.brokers).toEqual(['127.0.0.1:9092']);
    expect(k.topics.partitions).toBe(6);
    expect(k.producer.compression).toBe('gzip');
    expect(k.producer.max_records_per_message).toBe(500);
    expect(() => configSchema.parse({ transport: { kafka: { producer: { max_message_bytes: 2 << 20 } } } })).toThrow(/max_message_bytes/);
    expect(k.consumer.max_batch_records).toBe(50_000);
    expect(() => configSchema.parse({ transport: { kafka: { brokerz: ['x:1'] } } })).toThrow(/brokerz/);
    expect(() => configSchema.parse({ transport: { kafka: { topic_prefix: 'a b' } } })).toThrow();
    const s = configSchema.parse({
      transport: { kafka: { sasl: { mechanism: 'scram-sha-512', username: 'u', password_file: '/run/secrets/kafka' }, ssl: {} } },
    }).transport.kafka;
    expect(s.ssl?.enabled).toBe(true);
    expect(s.sasl?.mechanism).toBe('scram-sha-512');
  });
});
