// The in-process flow against the real embedded ClickHouse, with faults injected in our own
// inserter wrapper (never a fake database).
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../collector/app/config-schema.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { codecFor, Pipeline, storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import type { Inserter } from '../../../collector/core/pipeline/table-writer.ts';
import { replaySpill } from '../../../collector/core/pipeline/spill-replay.ts';
import { gpuMetrics, llmRequests, type LlmRequestRecord } from '../../../collector/core/schema/tables.ts';
import { count, openTestStore, tempDir, type TestStore } from '../../helpers/store.ts';
import { metric } from '../../helpers/metrics.ts';

const REQUEST_ID = Object.keys(llmRequests.columns).indexOf('request_id');
let t: TestStore;
beforeAll(async () => {
  t = await openTestStore();
});
afterAll(async () => t?.close());

function requests(tenant: string, n: number, t0 = Date.UTC(2026, 10, 1, 12), firstId = 0): LlmRequestRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: t0 + i,
    request_id: `${tenant}-${firstId + i}`,
    tenant,
    model: 'llama3.2:3b',
    input_tokens: 10,
    output_tokens: 20,
    duration_ms: 100,
    prompt_eval_duration_ns: 1_000_000,
    eval_duration_ns: 9_000_000,
  }));
}

function pipelineConfig(patch: Record<string, unknown> = {}) {
  return configSchema.parse({ pipeline: { batch_ms: 20, retry: { initial_ms: 5, max_ms: 20 }, ...patch } }).pipeline;
}

describe('pipeline into embedded ClickHouse', () => {
  it('a retried batch whose first insert did land is not counted twice', async () => {
    const real = storeInserter(t.store);
    let calls = 0;
    // The insert reaches ClickHouse, then the acknowledgement is "lost": the writer must retry with
    // the same deduplication token and ClickHouse must discard the second copy.
    const lossy: Inserter = {
      async insert(table, rows, token) {
        calls++;
        await real.insert(table, rows, token);
        if (calls <= 2) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      },
    };
    const registry = new Registry();
    const p = new Pipeline({ config: pipelineConfig(), inserter: lossy, registry, log: silentLogger });
    const r = await p.submit('llm_request', requests('dedup', 500), { source: 'test' });
    expect(r.accepted).toBe(500);
    await r.durable;
    await p.shutdown();
    expect(calls).toBe(3);
    expect(await count(t.store, `llm_requests WHERE tenant = 'dedup'`)).toBe(500);
    // The hourly rollup is fed once as well.
    const roll = await t.store.queryRows<{ n: string }>(`SELECT sum(requests) AS n FROM llm_requests_hourly WHERE tenant = 'dedup'`);
    expect(Number(roll[0]!.n)).toBe(500);
    expect(await metric(registry, 'llmeter_insert_retries_total', { table: 'llm_requests' })).toBe(2);
  });

  it('one bad record never drops its batch: good rows stored, bad ones dead-lettered with the reason', async () => {
    const p = new Pipeline({ config: pipelineConfig(), inserter: storeInserter(t.store), registry: new Registry(), log: silentLogger });
    const recs: unknown[] = requests('mixed', 10);
    recs.splice(3, 0, { ...requests('mixed', 1)[0], request_id: undefined });
    recs.splice(7, 0, { ...requests('mixed', 1)[0], request_id: 'neg', output_tokens: -3 });
    const r = await p.submit('llm_request', recs as LlmRequestRecord[], { source: 'test' });
    expect(r).toMatchObject({ accepted: 10, rejected: 2, dropped: 0 });
    expect(r.reasons.map((x) => x.reason).sort()).toEqual(['output_tokens: out of range 0..4294967295: -3', 'request_id: required']);
    await r.durable;
    await p.shutdown();
    expect(await count(t.store, `llm_requests WHERE tenant = 'mixed'`)).toBe(10);
    const dl = await t.store.queryRows<{ reason: string; payload: string; source: string }>(
      `SELECT reason, payload, source FROM dead_letters WHERE signal = 'llm_request' AND source = 'test' ORDER BY reason`,
    );
    expect(dl.map((d) => d.reason)).toEqual(['output_tokens: out of range 0..4294967295: -3', 'request_id: required']);
    expect(JSON.parse(dl[0]!.payload).request_id).toBe('neg');
  });

  it('rows ClickHouse itself refuses are isolated by splitting and dead-lettered one by one', async () => {
    const real = storeInserter(t.store);
    // Fault injection: the "engine" refuses any batch containing the poisoned request id.
    const picky: Inserter = {
      async insert(table, rows, token) {
        if (
          table === 'llm_requests' &&
          codecFor(table)
            .decode(rows)
            .some((r) => r[REQUEST_ID] === 'split-13')
        ) {
          throw Object.assign(new Error('Cannot parse input: expected , before: poisoned'), { code: '27' });
        }
        await real.insert(table, rows, token);
      },
    };
    const registry = new Registry();
    const p = new Pipeline({ config: pipelineConfig(), inserter: picky, registry, log: silentLogger });
    const r = await p.submit('llm_request', requests('split', 40), { source: 'test' });
    await r.durable;
    await p.shutdown();
    expect(await count(t.store, `llm_requests WHERE tenant = 'split'`)).toBe(39);
    const dl = await t.store.queryRows<{ reason: string; payload: string }>(
      `SELECT reason, payload FROM dead_letters WHERE signal = 'llm_request' AND source = 'clickhouse'`,
    );
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason).toMatch(/^ClickHouse refused the row: Cannot parse input/);
    expect(JSON.parse(dl[0]!.payload).request_id).toBe('split-13');
    expect(await metric(registry, 'llmeter_batch_splits_total', { table: 'llm_requests' })).toBeGreaterThanOrEqual(5);
  });

  it('a refused block is halved down to its bad row, so only that row is dead-lettered', async () => {
    const real = storeInserter(t.store);
    const GPU = Object.keys(gpuMetrics.columns);
    const picky: Inserter = {
      async insert(table, rows, token) {
        if (
          table === 'gpu_metrics' &&
          codecFor(table)
            .decode(rows)
            .some((r) => r[GPU.indexOf('field')] === 'poisoned')
        ) {
          throw Object.assign(new Error('Cannot parse input: poisoned'), { code: '27' });
        }
        await real.insert(table, rows, token);
      },
    };
    const p = new Pipeline({ config: pipelineConfig({ batch_rows: 7 }), inserter: picky, registry: new Registry(), log: silentLogger });
    // Two GPUs of five fields each, in batches of seven rows: the bad row sits in the first batch's block.
    const ts = Date.UTC(2026, 10, 1, 12);
    const samples = ['GPU-a', 'GPU-b'].flatMap((gpu) =>
      ['f1', 'f2', gpu === 'GPU-b' ? 'poisoned' : 'f3', 'f4', 'f5'].map((field, i) => ({ ts, node: 'packed-node', gpu_uuid: gpu, field, value: i })),
    );
    const r = await p.submit('gpu_sample', samples, { source: 'test' });
    expect(r.accepted).toBe(10);
    await r.durable;
    await p.shutdown();
    const stored = await t.store.queryRows<{ gpu_uuid: string; field: string; value: number }>(
      `SELECT gpu_uuid, field, value FROM gpu_metrics WHERE node = 'packed-node' ORDER BY gpu_uuid, field`,
    );
    expect(stored.map((x) => `${x.gpu_uuid}/${x.field}=${x.value}`)).toEqual([
      'GPU-a/f1=0',
      'GPU-a/f2=1',
      'GPU-a/f3=2',
      'GPU-a/f4=3',
      'GPU-a/f5=4',
      'GPU-b/f1=0',
      'GPU-b/f2=1',
      'GPU-b/f4=3',
      'GPU-b/f5=4',
    ]);
    const dl = await t.store.queryRows<{ payload: string }>(`SELECT payload FROM dead_letters WHERE signal = 'gpu_sample' AND source = 'clickhouse'`);
    expect(dl.map((d) => JSON.parse(d.payload) as { field: string; gpu_uuid: string }).map((x) => `${x.gpu_uuid}/${x.field}`)).toEqual(['GPU-b/poisoned']);
  });

  it('a full queue pauses producers, and shutdown flushes everything it holds', async () => {
    const real = storeInserter(t.store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: Inserter = {
      async insert(table, rows, token) {
        await gate;
        await real.insert(table, rows, token);
      },
    };
    const registry = new Registry();
    const p = new Pipeline({ config: pipelineConfig({ queue_capacity: 1000, batch_rows: 250, max_inflight: 1 }), inserter: slow, registry, log: silentLogger });
    // 1000 rows fill the queue; the next 900 must wait (the producer is paused), not be dropped.
    const first = await p.submit('llm_request', requests('full', 1000), { source: 'test' });
    expect(first.accepted).toBe(1000);
    expect(p.writer('llm_request').isFull).toBe(true);
    let secondDone = false;
    const second = p.submit('llm_request', requests('full', 900, Date.UTC(2026, 10, 2), 1000), { source: 'test' }).then((r) => {
      secondDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(secondDone).toBe(false);
    expect(await metric(registry, 'llmeter_producer_pauses_total', { table: 'llm_requests' })).toBe(1);
    // More than the waiting room holds is dropped and counted, never silently lost.
    const overflow = await p.submit('llm_request', requests('overflow', 200), { source: 'test' });
    expect(overflow).toMatchObject({ accepted: 0, dropped: 200 });
    expect(await metric(registry, 'llmeter_rows_dropped_total', { table: 'llm_requests', reason: 'queue_full' })).toBe(200);
    const closing = p.shutdown();
    release();
    await closing;
    expect((await second).accepted + (await second).dropped).toBe(900);
    expect(await count(t.store, `llm_requests WHERE tenant = 'full'`)).toBe(1000 + (await second).accepted);
    expect((await second).accepted).toBe(900);
  });

  it('encodes the rows of small submits together, so a batch of many reaches ClickHouse as a few large blocks', async () => {
    const blocks: number[][] = [];
    const real = storeInserter(t.store);
    const spy: Inserter = {
      async insert(table, rows, token) {
        blocks.push(rows.blocks.map((b) => b.rows));
        await real.insert(table, rows, token);
      },
    };
    const p = new Pipeline({ config: pipelineConfig({ batch_rows: 5000, batch_ms: 60_000 }), inserter: spy, registry: new Registry(), log: silentLogger });
    const submits = requests('small-submits', 3000).map((r) => p.submit('llm_request', [r], { source: 'test' }));
    const durable = Promise.all((await Promise.all(submits)).map((r) => r.durable));
    await p.forceFlush();
    await durable;
    expect(blocks).toEqual([[1024, 1024, 952]]);
    expect(await count(t.store, "llm_requests WHERE tenant = 'small-submits'")).toBe(3000);
    await p.shutdown();
  });

  it('flushes at batch_rows and after batch_ms, whichever comes first', async () => {
    const sizes: number[] = [];
    const real = storeInserter(t.store);
    const spy: Inserter = {
      async insert(table, rows, token) {
        sizes.push(rows.count);
        await real.insert(table, rows, token);
      },
    };
    const p = new Pipeline({ config: pipelineConfig({ batch_rows: 100, batch_ms: 30 }), inserter: spy, registry: new Registry(), log: silentLogger });
    const a = await p.submit('llm_request', requests('batching', 250), { source: 'test' });
    await a.durable;
    expect(sizes).toEqual([100, 100, 50]);
    await p.shutdown();
  });

  it('lets rows that may wait longer fill their batch, and cuts it at the earliest deadline of the rows it holds', async () => {
    const cuts: { rows: number; at: number }[] = [];
    const real = storeInserter(t.store);
    const spy: Inserter = {
      async insert(table, rows, token) {
        cuts.push({ rows: rows.count, at: performance.now() });
        await real.insert(table, rows, token);
      },
    };
    const p = new Pipeline({ config: pipelineConfig({ batch_rows: 1000, batch_ms: 30 }), inserter: spy, registry: new Registry(), log: silentLogger });
    const t0 = performance.now();
    // Three submits that may wait 400 ms: one batch, cut at the first one's deadline.
    const patient = [];
    for (let i = 0; i < 3; i++) {
      patient.push(await p.submit('llm_request', requests(`patient-${i}`, 10), { source: 'test' }, { maxDelayMs: 400 }));
      await new Promise((r) => setTimeout(r, 60));
    }
    await Promise.all(patient.map((x) => x.durable));
    expect(cuts.map((c) => c.rows)).toEqual([30]);
    expect(cuts[0]!.at - t0).toBeGreaterThanOrEqual(390);
    // Rows that may wait less bring the cut forward for the rows already waiting.
    const waiting = await p.submit('llm_request', requests('patient-3', 10), { source: 'test' }, { maxDelayMs: 5_000 });
    const t1 = performance.now();
    const prompt = await p.submit('llm_request', requests('prompt', 5), { source: 'test' });
    await Promise.all([waiting.durable, prompt.durable]);
    expect(cuts.map((c) => c.rows)).toEqual([30, 15]);
    expect(cuts[1]!.at - t1).toBeLessThan(1_000);
    // A shorter wait than batch_ms is not honoured: batch_ms is the floor.
    const t2 = performance.now();
    const floor = await p.submit('llm_request', requests('floor', 4), { source: 'test' }, { maxDelayMs: 1 });
    await floor.durable;
    expect(cuts[2]!.at - t2).toBeGreaterThanOrEqual(25);
    await p.shutdown();
  });

  it('spills what shutdown could not insert in time to disk instead of losing it', async () => {
    const dir = tempDir();
    const down: Inserter = {
      async insert() {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
      },
    };
    const registry = new Registry();
    const p = new Pipeline({ config: pipelineConfig({ shutdown_timeout_ms: 100 }), inserter: down, registry, log: silentLogger, spillDir: dir });
    await p.submit('llm_request', requests('spill', 30), { source: 'test' });
    await p.shutdown();
    expect(await metric(registry, 'llmeter_rows_spilled_total', { table: 'llm_requests' })).toBe(30);
    const { readdirSync, readFileSync } = await import('node:fs');
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const lines = readFileSync(`${dir}/${files[0]}`, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(30);
    // Spilled rows are canonical records again: `llmeter ingest` takes them back.
    const back = new Pipeline({ config: pipelineConfig(), inserter: storeInserter(t.store), registry: new Registry(), log: silentLogger });
    const r = await back.submit(
      'llm_request',
      lines.map((l) => JSON.parse(l)),
      { source: 'test' },
    );
    expect(r.accepted).toBe(30);
    await r.durable;
    await back.shutdown();
    expect(await count(t.store, `llm_requests WHERE tenant = 'spill'`)).toBe(30);
  });
  it('stores spilled rows at the next start and removes the file; rows that did land before are not stored twice', async () => {
    const dir = tempDir();
    // A shutdown gave up on 40 rows whose insert had in fact landed for the first 10.
    const landed = requests('respill', 10);
    const first = new Pipeline({ config: pipelineConfig(), inserter: storeInserter(t.store), registry: new Registry(), log: silentLogger });
    await (
      await first.submit('llm_request', landed, { source: 'test' })
    ).durable;
    await first.shutdown();
    const down: Inserter = {
      async insert() {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
      },
    };
    const stopped = new Pipeline({
      config: pipelineConfig({ shutdown_timeout_ms: 100 }),
      inserter: down,
      registry: new Registry(),
      log: silentLogger,
      spillDir: dir,
    });
    await stopped.submit('llm_request', requests('respill', 40), { source: 'test' });
    await stopped.shutdown();
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir)).toHaveLength(1);
    const next = new Pipeline({ config: pipelineConfig(), inserter: storeInserter(t.store), registry: new Registry(), log: silentLogger, spillDir: dir });
    await next.start();
    const replayed = await replaySpill(next, dir, silentLogger);
    expect(replayed).toMatchObject({ files: 1, rows: 40, kept: 0 });
    expect(readdirSync(dir)).toHaveLength(0);
    await next.shutdown();
    expect(await count(t.store, `llm_requests WHERE tenant = 'respill'`)).toBe(40);
  });

  it('names its columns, so a table a newer collector added a column to keeps taking its rows', async () => {
    // A rolling upgrade: the shared table already has a column this collector does not know.
    await t.store.command(`ALTER TABLE frontend_events ADD COLUMN IF NOT EXISTS added_later String DEFAULT 'default-value'`);
    const p = new Pipeline({ config: pipelineConfig(), inserter: storeInserter(t.store), registry: new Registry(), log: silentLogger });
    const r = await p.submit(
      'frontend_event',
      [{ ts: Date.UTC(2026, 10, 1, 12), app: 'web', tenant: 'upgrade', kind: 'log', name: 'info', message: 'hello' }],
      { source: 'test' },
    );
    expect(r.accepted).toBe(1);
    await r.durable;
    await p.shutdown();
    const rows = await t.store.queryRows<{ message: string; added_later: string }>(`SELECT message, added_later FROM frontend_events WHERE tenant = 'upgrade'`);
    expect(rows).toEqual([{ message: 'hello', added_later: 'default-value' }]);
    expect(await count(t.store, `dead_letters WHERE signal = 'frontend_event'`)).toBe(0);
  });
});
