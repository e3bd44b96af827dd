// The transport's pure parts, without a broker: topic names and keys, the commit intent, the disk
// spool's bounds, order and restart behaviour, and the configuration section.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../collector/config/schema.ts';
import { decodeIntent, dedupToken, encodeIntent } from '../../collector/transport/kafka/intent.ts';
import { DiskSpool, type SpoolBatch } from '../../collector/transport/kafka/spool.ts';
import { allTopics, messageKey, topicName } from '../../collector/transport/kafka/topics.ts';
import { SIGNALS } from '../../collector/schema/tables.ts';
import { tempDir } from '../helpers/store.ts';
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
    expect(k.consumer.max_batch_records).toBe(5000);
    expect(() => configSchema.parse({ transport: { kafka: { brokerz: ['x:1'] } } })).toThrow(/brokerz/);
    expect(() => configSchema.parse({ transport: { kafka: { topic_prefix: 'a b' } } })).toThrow();
    const s = configSchema.parse({ transport: { kafka: { sasl: { mechanism: 'scram-sha-512', username: 'u', password_file: '/run/secrets/kafka' }, ssl: {} } } }).transport.kafka;
    expect(s.ssl?.enabled).toBe(true);
    expect(s.sasl?.mechanism).toBe('scram-sha-512');
  });
});
