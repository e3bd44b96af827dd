// POST /api/v1/ingest/<signal> of a running collector with the defaults a user gets: a record sent
// twice is counted once in the table, its rollups and the chargeback; a queue that cannot take a body
// says so with 503 and Retry-After instead of a 200 that dropped rows; bad lines are dead-lettered
// with their line number and reason while the good lines of the same body are stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { testConfig } from '../../helpers/store.ts';

// The retention a user gets (testConfig would keep rows forever).
const DEFAULT_TTL = { raw: 90, reference: 730, rollup: 730 };
let collector: Collector;
let base: string;
const hourAgo = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;

function record(tenant: string, i: number, extra: Record<string, unknown> = {}) {
  return {
    ts: hourAgo + 1_000 + i,
    request_id: `${tenant}-${i}`,
    tenant,
    model: 'm',
    input_tokens: 3,
    output_tokens: 7,
    duration_ms: 50,
    prompt_eval_duration_ns: 1_000_000,
    eval_duration_ns: 9_000_000,
    ...extra,
  };
}

function ndjson(tenant: string, n: number, from = 0): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify(record(tenant, from + i))).join('\n') + '\n';
}

async function post(body: string | Buffer, signal = 'llm_request') {
  const res = await fetch(`${base}/api/v1/ingest/${signal}`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as {
      accepted: number;
      rejected: number;
      dropped?: number;
      reasons: { reason: string; count: number; first?: string }[];
      error?: string;
    },
  };
}

async function one<T = Record<string, string>>(sql: string): Promise<T> {
  return (await collector.store.queryRows<T>(sql))[0]!;
}

async function stored(tenant: string) {
  const raw = await one<{ n: string }>(`SELECT count() AS n FROM llm_requests WHERE tenant = '${tenant}'`);
  const hourly = await one<{ n: string; out: string }>(
    `SELECT sum(requests) AS n, sum(output_tokens) AS out FROM llm_requests_hourly WHERE tenant = '${tenant}'`,
  );
  return { raw: Number(raw.n), hourly: Number(hourly.n), outputTokens: Number(hourly.out) };
}

beforeAll(async () => {
  collector = await startCollector(testConfig({ store: { ttl_days: DEFAULT_TTL } }), silentLogger);
  base = `http://${collector.address}`;
});

afterAll(async () => {
  await collector?.shutdown();
});

describe('stored once', () => {
  it('the same body posted twice is counted once in the table and its rollups', async () => {
    const body = ndjson('twice', 300);
    expect((await post(body)).body).toMatchObject({ accepted: 300, rejected: 0 });
    const again = await post(body);
    expect(again.status).toBe(200);
    expect(await stored('twice')).toEqual({ raw: 300, hourly: 300, outputTokens: 2100 });
  });

  it('the same body posted twice at the same moment is counted once', async () => {
    const body = ndjson('together', 200);
    const [a, b] = await Promise.all([post(body), post(body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await stored('together')).toEqual({ raw: 200, hourly: 200, outputTokens: 1400 });
  });

  it('a body that repeats a record, and a retry that overlaps an earlier body, store each record once', async () => {
    const rows = [record('overlap', 0), record('overlap', 1), record('overlap', 0)].map((r) => JSON.stringify(r)).join('\n');
    await post(rows + '\n');
    await post(ndjson('overlap', 5));
    expect(await stored('overlap')).toEqual({ raw: 5, hourly: 5, outputTokens: 35 });
  });

  it('the same request id in two tenants is two records', async () => {
    await post(JSON.stringify(record('ta', 0, { request_id: 'shared-id' })) + '\n');
    await post(JSON.stringify(record('tb', 0, { request_id: 'shared-id' })) + '\n');
    expect((await stored('ta')).raw).toBe(1);
    expect((await stored('tb')).raw).toBe(1);
  });

  it('the chargeback counts a record sent twice once', async () => {
    // An hour of its own: these requests ran on no inventoried node, so the report counts them as
    // unattributed rather than under a tenant.
    const hour = hourAgo - 2 * 3_600_000;
    const body = Array.from({ length: 10 }, (_, i) => JSON.stringify(record('billed', i, { ts: hour + 5_000 + i }))).join('\n') + '\n';
    await post(body);
    await post(body);
    const res = await fetch(`${base}/api/chargeback?from=${new Date(hour).toISOString()}&to=${new Date(hour + 3_600_000).toISOString()}&format=json`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as { totals: { unattributed_requests: number } };
    expect(report.totals.unattributed_requests).toBe(10);
  });
});

describe('bad input', () => {
  it('dead-letters each bad line with its line number and reason and stores the good lines around it', async () => {
    const deep = '['.repeat(6_000) + ']'.repeat(6_000);
    // Refused for its negative token count, and nested too deep to be written out again.
    const deepObject = JSON.stringify(record('bad', 90, { output_tokens: -1 })).slice(0, -1) + ',"x":' + '{"a":'.repeat(6_000) + '1' + '}'.repeat(6_000) + '}';
    const lines = [
      JSON.stringify(record('bad', 1)),
      'not json at all',
      deep,
      JSON.stringify(record('bad', 2, { tenant: '' })),
      JSON.stringify(record('bad', 3)),
      deepObject,
      JSON.stringify(record('bad', 4, { ts: Date.now() - 200 * 86_400_000 })),
      JSON.stringify(record('bad', 5)),
    ];
    const r = await post(lines.join('\n') + '\n');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 3, rejected: 5 });
    expect((await stored('bad')).raw).toBe(3);
    // The answer came after the dead letters were stored.
    const dead = await collector.store.queryRows<{ reason: string; payload: string }>(
      `SELECT reason, payload FROM dead_letters WHERE signal = 'llm_request' AND source = 'http' AND reason LIKE 'line %' ORDER BY reason`,
    );
    const reasons = dead.map((d) => d.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^line 2: not valid JSON/),
        expect.stringMatching(/^line 3: /),
        expect.stringMatching(/^line 4: tenant: empty/),
        expect.stringMatching(/^line 6: /),
        expect.stringMatching(/^line 7: ts: older than the raw retention/),
      ]),
    );
    const deepDead = dead.find((d) => d.reason.startsWith('line 6:'))!;
    expect(deepDead.payload).toBe(deepObject);
  });

  it('refuses an event older than the reference retention, and keeps a price set long ago that is still in force', async () => {
    const old = { ts: Date.parse('2017-09-18T08:20:00Z'), event_id: 'old-notice', kind: 'spot_interruption', node: 'n1', provider: 'aws' };
    const recent = { ...old, ts: hourAgo, event_id: 'recent-notice' };
    const r = await post([old, recent].map((e) => JSON.stringify(e)).join('\n') + '\n', 'capacity_event');
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(r.body.reasons[0]!.reason).toMatch(/^ts: older than the reference retention \(store\.ttl_days\.reference = 730 days\)/);
    const price = { effective_from: '2000-01-01T00:00:00Z', provider: 'book', instance_type: 'dgx-a100', capacity_type: 'on_prem', usd_per_hour: '25' };
    expect((await post(JSON.stringify(price) + '\n', 'price_point')).body).toMatchObject({ accepted: 1, rejected: 0 });
    await collector.pipeline.forceFlush();
    await collector.store.command('OPTIMIZE TABLE price_points FINAL');
    await collector.store.command('OPTIMIZE TABLE capacity_events FINAL');
    expect(await one(`SELECT count() AS n FROM price_points WHERE instance_type = 'dgx-a100'`)).toEqual({ n: '1' });
    expect(await one(`SELECT groupArray(event_id) AS ids FROM capacity_events`)).toEqual({ ids: ['recent-notice'] });
  });

  it('dead-letters a line that is not UTF-8 instead of storing it altered', async () => {
    const good = Buffer.from(JSON.stringify(record('utf', 1)) + '\n');
    const bad = Buffer.concat([Buffer.from(JSON.stringify(record('utf', 2)).slice(0, -2)), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
    const r = await post(Buffer.concat([good, bad]));
    expect(r.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(r.body.reasons[0]).toEqual({ reason: 'not valid UTF-8', count: 1, first: 'line 2' });
    expect((await stored('utf')).raw).toBe(1);
  });

  it('answers 400 for a chargeback period out of range', async () => {
    const res = await fetch(`${base}/api/chargeback?from=1900-01-01&to=1900-01-02`);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/from/);
  });
});
