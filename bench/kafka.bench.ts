// Scale-out transport throughput and lag against a real broker on this machine:
//   1. the limit: Kafka's own ProducerPerformance (gzip and uncompressed) / ConsumerPerformance
//      (same jars, same broker, one message per record of our average size);
//   2. the bound on the collector's side without Kafka: the same records through the pipeline alone
//      (JSON parse → validate → insert with a token), and the ClickHouse insert of the rows alone;
//   3. per framing (one record per message, packed NDJSON with gzip, packed uncompressed):
//      a. the exporters' producer sink alone (records → Kafka, acknowledged);
//      b. one collector draining the filled topic into the embedded ClickHouse (consume → insert → commit);
//      c. end to end, producer and collector at once (first submit → last commit);
//   4. a fixed offered load (BENCH_RATE records/s for BENCH_SECONDS) with the default framing: ingest
//      lag from submit() to the commit after ClickHouse acknowledged, p50/p99/max, and the process's RSS.
// Every stage also reports the CPU time it cost — this process (producer, collector and the embedded
// ClickHouse's threads), the broker JVM and the perf tool's JVM — per record: on a shared machine
// wall-clock rates move with the neighbours' load, CPU per record much less, and 2 cores divided by
// it is the ceiling of a stage on this machine.
// Run: node bench/kafka.bench.ts   (BENCH_RECORDS, BENCH_RATE, BENCH_SECONDS override the sizes;
// BENCH_FRAMINGS=single,packed,packed-none picks the framings; BENCH_BROKER_JVM=test runs the broker
// with the tests' quick-start JVM flags instead of a server JIT)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Registry } from 'prom-client';
import { silentLogger } from '../collector/core/log.ts';
import { codecFor, Pipeline, storeInserter } from '../collector/core/pipeline/pipeline.ts';
import { kafkaConsumerSchema } from '../collector/features/kafka/config.ts';
import { validatorFor, type Row } from '../collector/core/records/validate.ts';
import { openTestStore } from '../test/helpers/store.ts';
import { startBroker, TEST_JVM } from '../test/features/kafka/broker.ts';
import { removeScratch, scenarioConfig, startMember, startSink } from '../test/features/kafka/harness.ts';
import { metric } from '../test/helpers/metrics.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { requests } from '../test/features/kafka/records.ts';

const N = Number(process.env.BENCH_RECORDS ?? 200_000);
const RATE = Number(process.env.BENCH_RATE ?? 20_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
// Records per submit on the producer side.
const CHUNK = 5_000;
// Records per insert on the collector side: the production default unless BENCH_MAX_BATCH says otherwise.
const MAX_BATCH = Number(process.env.BENCH_MAX_BATCH ?? kafkaConsumerSchema.parse({}).max_batch_records);
const TENANTS = 64;

interface Framing {
  name: string;
  label: string;
  producer: Record<string, unknown>;
}
const FRAMINGS: Framing[] = [
  { name: 'single', label: '1 record/message, gzip', producer: { max_records_per_message: 1, compression: 'gzip' } },
  { name: 'packed', label: 'packed, gzip', producer: { compression: 'gzip' } },
  { name: 'packed-none', label: 'packed, no compression', producer: { compression: 'none' } },
];
const chosen = (process.env.BENCH_FRAMINGS ?? FRAMINGS.map((f) => f.name).join(',')).split(',');

const SERVER_JVM = ['-Xms512m', '-Xmx1g', '-Xshare:auto'];
const broker = await startBroker({ jvm: process.env.BENCH_BROKER_JVM === 'test' ? TEST_JVM : SERVER_JVM });
const t = await openTestStore();
const recordBytes = Math.round(JSON.stringify(requests('size', 0, 1000)).length / 1000);

// CPU seconds so far: this process (all threads), the JVMs it waited for (perf tools), the broker.
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function statCpu(pid: number | 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { own: (Number(f[11]) + Number(f[12])) / TICK, children: (Number(f[13]) + Number(f[14])) / TICK };
}
interface Cpu {
  node: number;
  tools: number;
  broker: number;
}
function cpuNow(): Cpu {
  const u = process.cpuUsage();
  return { node: (u.user + u.system) / 1e6, tools: statCpu('self').children, broker: broker.pid ? statCpu(broker.pid).own : 0 };
}
const cpuSince = (a: Cpu): Cpu => {
  const b = cpuNow();
  return { node: b.node - a.node, tools: b.tools - a.tools, broker: b.broker - a.broker };
};
const rows: { stage: string; framing: string; records: number; messages: number; seconds: number; cpu: Cpu; note: string }[] = [];
// Production sizes and timeouts (the tests use smaller batches to exercise more boundaries, and short
// timeouts, which on a loaded machine would send batches to the spool instead of Kafka).
const sizes = (f: Framing) => ({
  connection_timeout_ms: 3_000,
  request_timeout_ms: 30_000,
  consumer: { max_batch_records: MAX_BATCH, lag_interval_ms: 5_000 },
  producer: { linger_ms: 50, ...f.producer },
  topics: { partitions: 6 },
});
let cpu0 = cpuNow();
/** Adds a stage's row, with the CPU spent since the previous row (or `mark()`). */
const add = (stage: string, framing: string, records: number, messages: number, seconds: number, note = '') => {
  rows.push({ stage, framing, records, messages, seconds, cpu: cpuSince(cpu0), note });
  cpu0 = cpuNow();
};
const mark = () => (cpu0 = cpuNow());
const java = (cls: string, args: string[]) => execFileSync('java', ['-cp', `${broker.jars}/*`, cls, ...args], { encoding: 'utf8' });
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const sumOf = <T>(xs: readonly T[], f: (x: T) => number) => xs.reduce((n, x) => n + f(x), 0);

try {
  // 1. The broker's own tools on a topic like ours (acks=all, idempotent, records of our average size).
  for (const codec of ['gzip', 'none']) {
    const topic = `perf-tool-${codec}`;
    java('org.apache.kafka.tools.TopicCommand', [
      '--bootstrap-server',
      broker.bootstrap,
      '--create',
      '--topic',
      topic,
      '--partitions',
      '6',
      '--replication-factor',
      '1',
    ]);
    mark();
    const pp = java('org.apache.kafka.tools.ProducerPerformance', [
      '--topic',
      topic,
      '--num-records',
      String(N),
      '--record-size',
      String(recordBytes),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${broker.bootstrap}`,
      'acks=all',
      `compression.type=${codec}`,
      'linger.ms=20',
      'batch.size=262144',
      'enable.idempotence=true',
    ]);
    const ppRate = Number(/([\d.]+) records\/sec/.exec(pp.trim().split('\n').pop()!)![1]);
    add('kafka ProducerPerformance (limit)', codec === 'gzip' ? 'gzip' : 'no compression', N, N, N / ppRate, `${recordBytes} B records, acks=all`);
  }
  mark();
  const cp = java('org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    broker.bootstrap,
    '--topic',
    'perf-tool-gzip',
    '--messages',
    String(N),
    '--timeout',
    '60000',
  ]);
  const cpRate = Number(
    cp
      .trim()
      .split('\n')
      .pop()!
      .split(',')
      .map((s) => s.trim())[5],
  );
  add('kafka ConsumerPerformance (limit)', 'gzip', N, N, N / cpRate, 'fetch only, no processing');

  // 2. The collector's side without Kafka: what its drain cannot beat on these cores.
  const texts: string[] = [];
  for (let i = 0; i < N; i += CHUNK) for (const r of requests('perf-alone', i, Math.min(CHUNK, N - i), TENANTS)) texts.push(JSON.stringify(r));
  const pipeCfg = scenarioConfig([broker.bootstrap], 'perf-alone');
  const pipeline = new Pipeline({ config: pipeCfg.pipeline, inserter: storeInserter(t.store), registry: new Registry(), log: silentLogger });
  mark();
  let t0 = performance.now();
  const durables: Promise<void>[] = [];
  for (let i = 0; i < N; i += MAX_BATCH) {
    const recs = texts.slice(i, i + MAX_BATCH).map((s) => JSON.parse(s) as never);
    durables.push((await pipeline.submit('llm_request', recs, { source: 'bench' }, { token: `bench-alone-${i}` })).durable);
  }
  await Promise.all(durables);
  add(
    'pipeline alone: JSON → validate → insert',
    '—',
    N,
    0,
    (performance.now() - t0) / 1000,
    `${MAX_BATCH}-record batches with tokens, as the collector inserts`,
  );
  await pipeline.shutdown();
  const validate = validatorFor('llm_request');
  const validRows: Row[] = requests('perf-raw', 0, N, TENANTS).map((r) => {
    const v = validate(r);
    if (!v.ok) throw new Error(v.errors.join('; '));
    return v.row;
  });
  const inserter = storeInserter(t.store);
  const codec = codecFor('llm_requests');
  mark();
  t0 = performance.now();
  for (let i = 0; i < N; i += MAX_BATCH * 2) {
    await Promise.all(
      [0, MAX_BATCH]
        .filter((o) => i + o < N)
        .map((o) => inserter.insert('llm_requests', codec.encode(validRows.slice(i + o, i + o + MAX_BATCH)), `bench-raw-${i + o}`)),
    );
  }
  add('ClickHouse insert alone (rows ready)', '—', N, 0, (performance.now() - t0) / 1000, `${MAX_BATCH}-row inserts, 2 at a time`);

  // 3. Per framing: producer alone, drain alone, end to end.
  for (const f of FRAMINGS.filter((x) => chosen.includes(x.name))) {
    const cfg = scenarioConfig([broker.bootstrap], `perf-${f.name}`, sizes(f));
    const registry = new Registry();
    const sink = await startSink(cfg, registry);
    mark();
    t0 = performance.now();
    const acks: Promise<void>[] = [];
    for (let i = 0; i < N; i += CHUNK)
      acks.push((await sink.submit('llm_request', requests(`perf-${f.name}`, i, Math.min(CHUNK, N - i), TENANTS), { source: 'bench' })).durable);
    await Promise.all(acks);
    // `durable` also resolves for records spooled to disk; the stage ends when Kafka has them all.
    await waitFor('producer', async () => (await metric(registry, 'llmeter_kafka_producer_records_sent_total')) >= N, 600_000, { everyMs: 20 });
    const produced = (performance.now() - t0) / 1000;
    const messages = await metric(registry, 'llmeter_kafka_producer_messages_sent_total');
    const spooled = await metric(registry, 'llmeter_kafka_spool_records_written_total');
    add(
      'producer sink → Kafka',
      f.label,
      N,
      messages,
      produced,
      `kafkajs, idempotent, acks=all${spooled > 0 ? `; ${fmt(spooled)} records went through the spool` : ''}`,
    );

    mark();
    t0 = performance.now();
    const drain = await startMember(t.store, cfg);
    await waitFor('drain', () => sumOf(drain.committed, (c) => c.records) >= N, 600_000, { everyMs: 50 });
    add(
      'Kafka → collector → ClickHouse (drain)',
      f.label,
      N,
      sumOf(drain.committed, (c) => c.messages),
      (performance.now() - t0) / 1000,
      'one collector, includes group join',
    );
    await drain.stop();
    await sink.shutdown();

    const e2eCfg = scenarioConfig([broker.bootstrap], `perf-e2e-${f.name}`, sizes(f));
    const e2eMember = await startMember(t.store, e2eCfg);
    const e2eSink = await startSink(e2eCfg, new Registry());
    mark();
    t0 = performance.now();
    for (let i = 0; i < N; i += CHUNK)
      await e2eSink.submit('llm_request', requests(`perf-e2e-${f.name}`, i, Math.min(CHUNK, N - i), TENANTS), { source: 'bench' });
    await waitFor('e2e', () => sumOf(e2eMember.committed, (c) => c.records) >= N, 600_000, { everyMs: 50 });
    add(
      'end to end: submit → Kafka → ClickHouse → commit',
      f.label,
      N,
      sumOf(e2eMember.committed, (c) => c.messages),
      (performance.now() - t0) / 1000,
      'producer and collector in one process',
    );
    await e2eMember.stop();
    await e2eSink.shutdown();
  }

  // 4. Fixed offered load with the default framing: lag from submit() (the Kafka timestamp) to the commit.
  const loadCfg = scenarioConfig([broker.bootstrap], 'perf-load', sizes({ name: 'default', label: 'default', producer: {} }));
  const lags: number[] = [];
  const loadMember = await startMember(t.store, loadCfg);
  const loadSink = await startSink(loadCfg, new Registry());
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 500);
  const tick = 50;
  const perTick = Math.round((RATE * tick) / 1000);
  const total = perTick * Math.round((SECONDS * 1000) / tick);
  let sent = 0;
  const start = performance.now();
  loadMember.committed.length = 0;
  while (sent < total) {
    await loadSink.submit('llm_request', requests('perf-load', sent, perTick, TENANTS), { source: 'bench' });
    sent += perTick;
    const due = start + (sent / perTick) * tick - performance.now();
    if (due > 0) await new Promise((r) => setTimeout(r, due));
  }
  const achieved = total / ((performance.now() - start) / 1000);
  await waitFor('load drained', () => sumOf(loadMember.committed, (c) => c.records) >= total, 120_000, { everyMs: 20 });
  clearInterval(sampler);
  // A batch is committed at one moment; each record's lag is that moment minus its message's timestamp.
  for (const c of loadMember.committed) for (const ts of c.timestamps) lags.push(c.committedAt - ts);
  const loadMessages = sumOf(loadMember.committed, (c) => c.messages);
  await loadMember.stop();
  await loadSink.shutdown();
  lags.sort((a, b) => a - b);
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]!;
  const mb = (b: number) => (b / 1024 / 1024).toFixed(0);

  const limit = rows[0]!.records / rows[0]!.seconds;
  console.log(
    `\nKafka transport benchmark — ${fmt(N)} llm_request records of ~${recordBytes} B, ${TENANTS} tenants (keys); Kafka ${broker.jars.split('/').pop()}; ${process.version}; ${cpus().length} cores; broker JVM ${process.env.BENCH_BROKER_JVM === 'test' ? 'test flags (C1 only)' : SERVER_JVM.join(' ')}\n`,
  );
  const cores = cpus().length;
  console.log(
    '| stage | framing | records | messages | seconds | records/s | messages/s | vs ProducerPerformance (gzip) | CPU µs/record: llmeter process + broker + perf tool | ceiling on these cores | note |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const perSec = r.records / r.seconds;
    const us = (x: number) => ((x * 1e6) / r.records).toFixed(1);
    const all = r.cpu.node + r.cpu.broker + r.cpu.tools;
    const cpuCol = `${us(all)} = ${us(r.cpu.node)} + ${us(r.cpu.broker)} + ${us(r.cpu.tools)}`;
    console.log(
      `| ${r.stage} | ${r.framing} | ${fmt(r.records)} | ${r.messages ? fmt(r.messages) : '—'} | ${r.seconds.toFixed(2)} | ${fmt(perSec)} | ${r.messages ? fmt(r.messages / r.seconds) : '—'} | ${(perSec / limit).toFixed(2)} | ${cpuCol} | ${fmt((cores * r.records) / all)} | ${r.note} |`,
    );
  }
  console.log(
    `\nFixed load (default framing: packed, gzip): offered ${fmt(RATE)} records/s for ${SECONDS} s (${fmt(total)} records in ${fmt(loadMessages)} messages, ${fmt(lags.length)} committed), offered rate achieved by the producer loop ${fmt(achieved)} records/s`,
  );
  console.log(`ingest lag submit → committed in ClickHouse: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lags[lags.length - 1]} ms`);
  console.log(
    `RSS of the process (producer + collector + embedded ClickHouse): start ${mb(rss[0] ?? 0)} MiB, peak ${mb(Math.max(...rss))} MiB, end ${mb(rss[rss.length - 1] ?? 0)} MiB`,
  );
} finally {
  await broker.destroy();
  await t.close();
  removeScratch();
}
