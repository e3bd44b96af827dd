// What-if: the same period's traffic priced three other ways — hosted APIs per token, serverless GPU
// per second, dedicated GPUs all period — beside what the fleet really cost, with the break-even
// volume at which owning GPUs beats paying per token.
import { Decimal } from 'decimal.js';
import type { Store } from '../../core/store/store.ts';
import { chargeback } from './chargeback.ts';
import type { CostConfig } from './config.ts';

export interface WhatIfLine {
  scenario: string;
  cost_usd: string;
  /** actual − scenario: positive means the fleet was cheaper. */
  difference_usd: string;
  note: string;
}

export interface WhatIfReport {
  period: { from: string; to: string };
  traffic: { requests: number; input_tokens: number; output_tokens: number; cached_tokens: number; gpu_seconds: number };
  actual_usd: string;
  lines: WhatIfLine[];
  /** Per API: tokens per period at which the actual fleet cost equals what the API would charge. */
  break_even: { api: string; tokens_per_period: number; traffic_share: number }[];
}

export async function whatIf(store: Store, cfg: CostConfig['whatif'], from: Date, to: Date): Promise<WhatIfReport> {
  const r = await chargeback(store, { from, to, idle: 'separate' });
  const sum = (k: 'requests' | 'input_tokens' | 'output_tokens' | 'cached_tokens' | 'gpu_seconds') => r.tenants.reduce((a, t) => a + t[k], 0);
  const traffic = {
    requests: sum('requests'),
    input_tokens: sum('input_tokens'),
    output_tokens: sum('output_tokens'),
    cached_tokens: sum('cached_tokens'),
    gpu_seconds: sum('gpu_seconds'),
  };
  const actual = new Decimal(r.totals.fleet_cost);
  const lines: WhatIfLine[] = [
    {
      scenario: 'this fleet (actual)',
      cost_usd: actual.toFixed(2),
      difference_usd: '0.00',
      note: `${r.totals.node_count} nodes, ${r.totals.device_hours.toFixed(1)} device-hours`,
    },
  ];
  const line = (scenario: string, cost: Decimal, note: string) =>
    lines.push({ scenario, cost_usd: cost.toFixed(2), difference_usd: cost.minus(actual).toFixed(2), note });
  const breakEven: WhatIfReport['break_even'] = [];
  const uncachedIn = Math.max(0, traffic.input_tokens - traffic.cached_tokens);
  for (const p of cfg.api_prices) {
    const perTok = (x: string) => new Decimal(x).div(1_000_000);
    const cost = perTok(p.input_per_million_usd)
      .times(uncachedIn)
      .plus(perTok(p.cached_input_per_million_usd ?? p.input_per_million_usd).times(traffic.cached_tokens))
      .plus(perTok(p.output_per_million_usd).times(traffic.output_tokens));
    line(`API ${p.name}`, cost, `${(traffic.input_tokens + traffic.output_tokens).toLocaleString('en')} tokens at the listed per-token prices`);
    const tokens = traffic.input_tokens + traffic.output_tokens;
    if (tokens > 0 && cost.greaterThan(0)) {
      const perToken = cost.div(tokens);
      const be = actual.div(perToken).toNumber();
      breakEven.push({ api: p.name, tokens_per_period: Math.round(be), traffic_share: be / tokens });
    }
  }
  if (cfg.serverless_usd_per_gpu_second) {
    line(
      'serverless GPU per second',
      new Decimal(cfg.serverless_usd_per_gpu_second).times(traffic.gpu_seconds),
      `${traffic.gpu_seconds.toFixed(0)} measured GPU-seconds, no idle paid`,
    );
  }
  if (cfg.dedicated_usd_per_gpu_hour) {
    const hours = (to.getTime() - from.getTime()) / 3_600_000;
    line(
      `${cfg.dedicated_gpus} dedicated GPU(s) all period`,
      new Decimal(cfg.dedicated_usd_per_gpu_hour).times(cfg.dedicated_gpus).times(hours),
      `${hours.toFixed(1)} hours × ${cfg.dedicated_gpus} GPU(s), whether used or not`,
    );
  }
  return { period: r.period, traffic, actual_usd: actual.toFixed(2), lines, break_even: breakEven };
}

export function whatIfText(w: WhatIfReport): string {
  const rows = w.lines.map(
    (l) =>
      `${l.scenario.padEnd(36)} ${('$' + l.cost_usd).padStart(14)} ${(Number(l.difference_usd) > 0 ? '+' : '') + l.difference_usd}`.padEnd(70) + `  ${l.note}`,
  );
  const be = w.break_even.map(
    (b) =>
      `  ${b.api}: the fleet pays off above ${b.tokens_per_period.toLocaleString('en')} tokens per period (${(b.traffic_share * 100).toFixed(0)}% of this period's traffic)`,
  );
  return [
    `What-if for ${w.period.from} – ${w.period.to}`,
    '',
    `${'scenario'.padEnd(36)} ${'cost'.padStart(14)} vs actual`,
    ...rows,
    '',
    ...(be.length ? ['Break-even:', ...be] : []),
    '',
  ].join('\n');
}
