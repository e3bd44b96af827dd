// The ingest API under load and at shutdown: a queue that cannot take a body answers 503 with
// Retry-After (never a 200 that dropped rows), bodies beyond the concurrency bound are refused before
// they are read, a client that sends everything again until it gets 200 ends with every record stored
// once, and once shutdown begins new bodies get 503 while the one being uploaded is stored.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { testConfig } from '../../helpers/store.ts';

let collector: Collector;
let base: string;
const t0 = Date.now() - 3_600_000;

function body(tenant: string, n: number): string {
  return (
    Array.from({ length: n }, (_, i) => JSON.stringify({ ts: t0 + i, request_id: `${tenant}-${i}`, tenant, model: 'm', output_tokens: 1 })).join('\n') + '\n'
  );
}

async function post(text: string) {
  const res = await fetch(`${base}/api/v1/ingest/llm_request`, { method: 'POST', body: text, headers: { 'content-type': 'application/x-ndjson' } });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    json: (await res.json()) as { accepted?: number; dropped?: number; error?: string },
  };
}

async function stored(tenant: string): Promise<number> {
  return Number((await collector.store.queryRows<{ n: string }>(`SELECT count() AS n FROM llm_requests WHERE tenant = '${tenant}'`))[0]!.n);
}

beforeAll(async () => {
  // A small queue, so that a few bodies fill it.
  // A small queue, so that a few bodies fill it; readiness that follows failing inserts quickly.
  collector = await startCollector(
    testConfig({
      pipeline: { queue_capacity: 2_000, batch_rows: 1_000, max_inflight: 1, unready_after_ms: 1_000, retry: { initial_ms: 50, max_ms: 200 } },
      http: { max_concurrent_bodies: 8 },
    }),
    silentLogger,
  );
  base = `http://${collector.address}`;
});

afterAll(async () => {
  await collector?.shutdown();
});

describe('back-pressure', () => {
  it('answers 503 with Retry-After when the queue cannot take a body; sending again until 200 stores every record once', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => body(`full-${i}`, 3_000));
    const first = await Promise.all(bodies.map((b) => post(b)));
    for (const r of first) {
      expect([200, 503]).toContain(r.status);
      expect(r.json.dropped ?? 0).toBe(0);
      if (r.status === 503) {
        expect(r.retryAfter).toMatch(/^\d+$/);
        expect(r.json.error).toMatch(/queue is full|being taken in/);
      }
    }
    expect(first.some((r) => r.status === 503)).toBe(true);
    for (let i = 0; i < bodies.length; i++) {
      let r = first[i]!;
      for (let attempt = 0; r.status !== 200 && attempt < 50; attempt++) {
        await new Promise((res) => setTimeout(res, 100));
        r = await post(bodies[i]!);
      }
      expect(r.status).toBe(200);
    }
    for (let i = 0; i < bodies.length; i++) expect(await stored(`full-${i}`)).toBe(3_000);
  });

  it('refuses bodies beyond http.max_concurrent_bodies before reading them', async () => {
    // Eight uploads that send their headers and then wait: the ninth is refused at once.
    const answers: Promise<number>[] = [];
    const held = Array.from({ length: 8 }, () => {
      const req = request(`${base}/api/v1/ingest/llm_request`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
      });
      answers.push(
        new Promise((resolve) =>
          req
            .on('response', (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            })
            .on('error', () => resolve(0)),
        ),
      );
      req.write(body('held', 1));
      return req;
    });
    await new Promise((r) => setTimeout(r, 300));
    const ninth = await post(body('ninth', 1));
    expect(ninth.status).toBe(503);
    expect(ninth.retryAfter).toMatch(/^\d+$/);
    expect(ninth.json.error).toMatch(/max_concurrent_bodies/);
    for (const req of held) req.end();
    expect(await Promise.all(answers)).toEqual(Array(8).fill(200));
    expect((await post(body('after', 1))).status).toBe(200);
    // The eight uploads sent the same record: it is stored once.
    expect(await stored('held')).toBe(1);
  });
});

describe('readiness', () => {
  it('/readyz answers 503 while every insert fails, and 200 again once they succeed; nothing is lost', async () => {
    const ready = async () => (await fetch(`${base}/readyz`)).status;
    expect(await ready()).toBe(200);
    await collector.store.command('RENAME TABLE llmeter.llm_requests TO llmeter.llm_requests_away');
    const posted = post(body('while-down', 50));
    let status = 200;
    for (let i = 0; i < 60 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await ready();
    }
    expect(status).toBe(503);
    await collector.store.command('RENAME TABLE llmeter.llm_requests_away TO llmeter.llm_requests');
    expect((await posted).status).toBe(200);
    expect(await ready()).toBe(200);
    expect(await stored('while-down')).toBe(50);
  });
});

describe('shutdown', () => {
  it('stores the body being uploaded and answers new bodies 503', async () => {
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${base}/api/v1/ingest/llm_request`,
        { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        },
      );
      req.on('error', reject);
      const text = body('uploading', 2_000);
      req.write(text.slice(0, text.length / 2));
      setTimeout(() => req.end(text.slice(text.length / 2)), 500);
    });
    await new Promise((r) => setTimeout(r, 100));
    const c = collector;
    const stopping = c.shutdown();
    await new Promise((r) => setTimeout(r, 50));
    const late = await post(body('late', 5));
    expect(late.status).toBe(503);
    expect(late.retryAfter).toMatch(/^\d+$/);
    const a = await answer;
    expect(a.status, a.text).toBe(200);
    expect(JSON.parse(a.text)).toMatchObject({ accepted: 2_000 });
    await stopping;
    collector = undefined as unknown as Collector;
    // The store is closed with the collector: what was acknowledged was flushed to it before.
    const { openStore } = await import('../../../collector/core/store/store.ts');
    const store = await openStore(c.store.dataDir ? { ...testConfig().store, data_dir: c.store.dataDir } : testConfig().store);
    expect(Number((await store.queryRows<{ n: string }>(`SELECT count() AS n FROM llmeter.llm_requests WHERE tenant = 'uploading'`))[0]!.n)).toBe(2_000);
    await store.close();
  });
});
