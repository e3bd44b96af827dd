import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../collector/app/config-schema.ts';
import { Budgets } from '../../../collector/features/cost/budgets.ts';
import { whatIf } from '../../../collector/features/cost/whatif.ts';
import { silentLogger } from '../../../collector/core/log.ts';
import { Pipeline, storeInserter } from '../../../collector/core/pipeline/pipeline.ts';
import { openTestStore, type TestStore } from '../../helpers/store.ts';
import { FleetBuilder, H } from '../../helpers/cost-fleet.ts';

let t: TestStore;
const T = Date.UTC(2026, 9, 10, 10);
beforeAll(async () => {
  t = await openTestStore();
  const p = new Pipeline({
    config: configSchema.parse({ pipeline: { batch_ms: 10 } }).pipeline,
    inserter: storeInserter(t.store),
    registry: new Registry(),
    log: silentLogger,
  });
  const f = new FleetBuilder()
    .node({ node: 'b-1', instance_type: 'g5.xlarge', up: [[T, T + H]] })
    .price({ instance_type: 'g5.xlarge', from: T - H, usd: '2.00' });
  for (const k of [0, 1, 2]) f.request({ tenant: 'A', node: 'b-1', at: T + k * 600_000, gpuSeconds: 300, tokensIn: 1000, tokensOut: 500 });
  for (const k of [0, 1]) f.request({ tenant: 'B', node: 'b-1', at: T + 1_800_000 + k * 900_000, gpuSeconds: 900, tokensIn: 2000, tokensOut: 1000 });
  await f.load(p);
  await p.shutdown();
});
afterAll(async () => t?.close());

async function gauge(reg: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await reg.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('budgets', () => {
  it('exposes burn per tenant and period, marks 50/80/100 %, and refuses only hard-stop tenants past 100 %', async () => {
    const reg = new Registry();
    const b = new Budgets({
      budgets: [
        { tenant: 'A', daily_usd: '0.60', monthly_usd: '10', hard_stop: true },
        { tenant: 'B', daily_usd: '0.80', hard_stop: true },
      ],
      store: t.store,
      registry: reg,
      log: silentLogger,
      refreshMs: 60_000,
      now: () => new Date(T + H),
    });
    const s = await b.refresh();
    // A spent $0.50 (900 of 3600 GPU-seconds at $2/h), B $1.00.
    expect(s.find((x) => x.tenant === 'A' && x.period === 'day')).toMatchObject({ spent: '0.50', limit: '0.60' });
    expect(await gauge(reg, 'llmeter_budget_burn_ratio', { tenant: 'A', period: 'day' })).toBeCloseTo(0.8333, 4);
    expect(await gauge(reg, 'llmeter_budget_threshold_reached', { tenant: 'A', period: 'day', threshold: '0.8' })).toBe(1);
    expect(await gauge(reg, 'llmeter_budget_threshold_reached', { tenant: 'A', period: 'day', threshold: '1' })).toBe(0);
    expect(await gauge(reg, 'llmeter_budget_burn_ratio', { tenant: 'A', period: 'month' })).toBeCloseTo(0.05, 4);
    expect(await gauge(reg, 'llmeter_budget_burn_ratio', { tenant: 'B', period: 'day' })).toBeCloseTo(1.25, 4);
    expect(b.refusal('A')).toBeUndefined();
    expect(b.refusal('B')).toBe('budget exhausted: tenant B spent $1.00 of its daily budget of $0.80');
    expect(await gauge(reg, 'llmeter_budget_blocked', { tenant: 'B' })).toBe(1);
    await b.shutdown();
  });

  it('without hard_stop a spent budget only alerts', async () => {
    const b = new Budgets({
      budgets: [{ tenant: 'B', daily_usd: '0.10', hard_stop: false }],
      store: t.store,
      registry: new Registry(),
      log: silentLogger,
      refreshMs: 60_000,
      now: () => new Date(T + H),
    });
    await b.refresh();
    expect(b.refusal('B')).toBeUndefined();
  });
});

describe('what-if', () => {
  it('prices the same traffic as APIs, serverless and dedicated GPUs, with the break-even', async () => {
    const w = await whatIf(
      t.store,
      {
        api_prices: [{ name: 'hosted-small', input_per_million_usd: '0.15', output_per_million_usd: '0.60' }],
        serverless_usd_per_gpu_second: '0.0005',
        dedicated_usd_per_gpu_hour: '1.50',
        dedicated_gpus: 1,
      },
      new Date(T),
      new Date(T + H),
    );
    expect(w.traffic).toEqual({ requests: 5, input_tokens: 7000, output_tokens: 3500, cached_tokens: 0, gpu_seconds: 2700 });
    expect(w.actual_usd).toBe('2.00');
    // 7000 × 0.15/1M + 3500 × 0.60/1M = 0.00105 + 0.0021 = $0.00315
    expect(w.lines.map((l) => [l.scenario, l.cost_usd, l.difference_usd])).toEqual([
      ['this fleet (actual)', '2.00', '0.00'],
      ['API hosted-small', '0.00', '-2.00'],
      ['serverless GPU per second', '1.35', '-0.65'],
      ['1 dedicated GPU(s) all period', '1.50', '-0.50'],
    ]);
    // $2.00 / ($0.00315 / 10500 tokens) = 6,666,667 tokens.
    expect(w.break_even).toEqual([{ api: 'hosted-small', tokens_per_period: 6_666_667, traffic_share: expect.closeTo(634.92, 1) }]);
  });
});
