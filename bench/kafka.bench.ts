// Scale-out transport throughput and lag against a real broker on this machine:
//   1. the limit: Kafka's own ProducerPerformance / ConsumerPerformance (same jars, same broker);
//   2. the exporters' producer sink alone (records → Kafka, acknowledged);
//   3. one collector draining a filled topic into the embedded ClickHouse (consume → insert → commit);
//   4. end to end, producer and collector at once (first submit → last commit);
//   5. a fixed offered load (BENCH_RATE records/s for BENCH_SECONDS): ingest lag from submit() to the
//      commit after ClickHouse acknowledged, p50/p99/max, and the collector process's RSS.
// Run: node bench/kafka.bench.ts   (BENCH_RECORDS, BENCH_RATE, BENCH_SECONDS override the sizes)
import { execFileSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { openTestStore } from '../test/helpers/store.ts';
import { startBroker } from '../test/kafka/broker.ts';
import { removeScratch, scenarioConfig, startMember, startSink, waitFor } from '../test/kafka/harness.ts';
import { requests } from '../test/kafka/records.ts';

const N = Number(process.env.BENCH_RECORDS ?? 200_000);
const RATE = Number(process.env.BENCH_RATE ?? 20_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CHUNK = 5_000;

const broker = await startBroker();
const t = await openTestStore();
const recordBytes = Math.round(JSON.stringify(requests('size', 0, 1000)).length / 1000);
const rows: { stage: string; records: number; seconds: number; perSec: number; note: string }[] = [];
// Production sizes (the tests use smaller batches to exercise more boundaries).
const sizes = { consumer: { max_batch_records: 5_000, lag_interval_ms: 5_000 }, producer: { linger_ms: 50 } };
const add = (stage: string, records: number, seconds: number, note = '') => rows.push({ stage, records, seconds, perSec: records / seconds, note });

try {
  // 1. The broker's own tools on a topic like ours (gzip, acks=all, records of our average size).
  const kafkaCfg = scenarioConfig([broker.bootstrap], 'perf', { ...sizes, topics: { partitions: 6 } });
  execFileSync('java', ['-cp', `${broker.jars}/*`, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'perf-tool', '--partitions', '6', '--replication-factor', '1'], { stdio: 'ignore' });
  const pp = execFileSync('java', ['-cp', `${broker.jars}/*`, 'org.apache.kafka.tools.ProducerPerformance', '--topic', 'perf-tool', '--num-records', String(N), '--record-size', String(recordBytes), '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${broker.bootstrap}`, 'acks=all', 'compression.type=gzip', 'linger.ms=20', 'batch.size=262144', 'enable.idempotence=true'], { encoding: 'utf8' });
  const ppLine = pp.trim().split('\n').pop()!;
  const ppRate = Number(/([\d.]+) records\/sec/.exec(ppLine)![1]);
  add('kafka ProducerPerformance (limit)', N, N / ppRate, `${recordBytes} B records, gzip, acks=all`);
  const cp = execFileSync('java', ['-cp', `${broker.jars}/*`, 'org.apache.kafka.tools.ConsumerPerformance', '--bootstrap-server', broker.bootstrap, '--topic', 'perf-tool', '--messages', String(N), '--timeout', '60000'], { encoding: 'utf8' });
  const cpFields = cp.trim().split('\n').pop()!.split(',').map((s) => s.trim());
  const cpRate = Number(cpFields[5]);
  add('kafka ConsumerPerformance (limit)', N, N / cpRate, 'fetch only, no processing');

  // 2. Producer sink alone.
  const sink = await startSink(kafkaCfg, new Registry());
  let t0 = performance.now();
  const durables: Promise<void>[] = [];
  for (let i = 0; i < N; i += CHUNK) durables.push((await sink.submit('llm_request', requests('perf', i, Math.min(CHUNK, N - i), 64), { source: 'bench' })).durable);
  await Promise.all(durables);
  add('llmeter producer sink → Kafka', N, (performance.now() - t0) / 1000, 'kafkajs, gzip, idempotent, acks=all');

  // 3. One collector draining the filled topic into ClickHouse.
  t0 = performance.now();
  const drain = await startMember(t.store, kafkaCfg);
  const committed = () => drain.committed.reduce((n, c) => n + c.records, 0);
  await waitFor('drain', () => committed() >= N, 600_000, 50);
  add('Kafka → collector → ClickHouse (drain)', N, (performance.now() - t0) / 1000, 'one collector, includes group join');
  await drain.stop();
  await sink.shutdown();

  // 4. End to end, both at once.
  const e2eCfg = scenarioConfig([broker.bootstrap], 'perf-e2e', { ...sizes, topics: { partitions: 6 } });
  const e2eMember = await startMember(t.store, e2eCfg);
  const e2eSink = await startSink(e2eCfg, new Registry());
  t0 = performance.now();
  for (let i = 0; i < N; i += CHUNK) await e2eSink.submit('llm_request', requests('perf-e2e', i, Math.min(CHUNK, N - i), 64), { source: 'bench' });
  await waitFor('e2e', () => e2eMember.committed.reduce((n, c) => n + c.records, 0) >= N, 600_000, 50);
  add('end to end: submit → Kafka → ClickHouse → commit', N, (performance.now() - t0) / 1000, 'producer and collector in one process');
  await e2eMember.stop();
  await e2eSink.shutdown();

  // 5. Fixed offered load: lag from submit() (the Kafka record timestamp) to the commit.
  const loadCfg = scenarioConfig([broker.bootstrap], 'perf-load', { ...sizes, topics: { partitions: 6 } });
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
  let lagSeen = 0;
  loadMember.committed.length = 0;
  while (sent < total) {
    await loadSink.submit('llm_request', requests('perf-load', sent, perTick, 64), { source: 'bench' });
    sent += perTick;
    const due = start + (sent / perTick) * tick - performance.now();
    if (due > 0) await new Promise((r) => setTimeout(r, due));
  }
  const achieved = total / ((performance.now() - start) / 1000);
  await waitFor('load drained', () => loadMember.committed.reduce((n, c) => n + c.records, 0) >= total, 120_000, 20);
  clearInterval(sampler);
  for (const c of loadMember.committed) {
    // A batch is committed at one moment; each record's lag is that moment minus its submit time.
    lagSeen += c.records;
    lags.push(...c.timestamps.map((ts) => c.committedAt - ts));
  }
  await loadMember.stop();
  await loadSink.shutdown();
  lags.sort((a, b) => a - b);
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]!;
  const mb = (b: number) => (b / 1024 / 1024).toFixed(0);

  const limit = rows[0]!.perSec;
  console.log(`\nKafka transport benchmark — ${N.toLocaleString('en-US')} llm_request records of ~${recordBytes} B; Kafka ${broker.jars.split('/').pop()}; ${process.version}; ${(await import('node:os')).cpus().length} cores\n`);
  console.log('| stage | records | seconds | records/s | vs ProducerPerformance | note |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const r of rows) console.log(`| ${r.stage} | ${r.records.toLocaleString('en-US')} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSec).toLocaleString('en-US')} | ${(r.perSec / limit).toFixed(2)} | ${r.note} |`);
  console.log(`\nFixed load: offered ${RATE.toLocaleString('en-US')} records/s for ${SECONDS} s (${total.toLocaleString('en-US')} records, ${lagSeen.toLocaleString('en-US')} committed), offered rate achieved by the producer loop ${Math.round(achieved).toLocaleString('en-US')} records/s`);
  console.log(`ingest lag submit → committed in ClickHouse: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lags[lags.length - 1]} ms`);
  console.log(`RSS of the process (producer + collector + embedded ClickHouse): start ${mb(rss[0] ?? 0)} MiB, peak ${mb(Math.max(...rss))} MiB, end ${mb(rss[rss.length - 1] ?? 0)} MiB`);
} finally {
  await broker.destroy();
  await t.close();
  removeScratch();
}
