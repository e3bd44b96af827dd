// Renders a `llmeter top` snapshot: a full screen of tables for a terminal (plain ANSI escapes: bold
// headers, colour for alerts and burn), or one block of plain `key=value` lines per refresh when the
// output is not a terminal.
import type { ModelRow, Snapshot } from './snapshot.ts';

export const SORT_KEYS = ['rps', 'latency', 'ttft', 'tokens', 'errors', 'inflight', 'name'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface RenderOptions {
  width?: number;
  height?: number;
  sort?: SortKey;
  color?: boolean;
}

const ESC = '\x1b[';

export function sortModels(rows: readonly ModelRow[], key: SortKey): ModelRow[] {
  const by: Record<SortKey, (m: ModelRow) => number | string> = {
    rps: (m) => -m.rps,
    latency: (m) => -(m.latP95Ms ?? -1),
    ttft: (m) => -(m.ttftP95Ms ?? -1),
    tokens: (m) => -m.tokensPerS,
    errors: (m) => -m.errors,
    inflight: (m) => -(m.inFlight + m.queued),
    name: (m) => m.model,
  };
  const f = by[key];
  return [...rows].sort((a, b) => {
    const x = f(a);
    const y = f(b);
    return x < y ? -1 : x > y ? 1 : a.model.localeCompare(b.model);
  });
}

const ms = (v: number | null) => (v === null ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`);
const burnText = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);
const f1 = (v: number | null, d = 1) => (v === null ? '-' : v.toFixed(d));

function table(head: string[], rows: string[][], leftCols = 1): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < leftCols ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [fmt(head), ...rows.map(fmt)];
}

/** The screen, as lines (no trailing newline, no cursor movement). */
export function renderScreen(s: Snapshot, o: RenderOptions = {}): string[] {
  const width = o.width ?? 120;
  const color = o.color ?? false;
  const bold = (x: string) => (color ? `${ESC}1m${x}${ESC}0m` : x);
  const red = (x: string) => (color ? `${ESC}31m${x}${ESC}0m` : x);
  const yellow = (x: string) => (color ? `${ESC}33m${x}${ESC}0m` : x);
  const dim = (x: string) => (color ? `${ESC}2m${x}${ESC}0m` : x);
  const sort = o.sort ?? 'rps';
  const lines: string[] = [];
  lines.push(
    bold(`llmeter top — ${s.url}`) +
      (s.simulated ? yellow('  [SIMULATED DATA]') : '') +
      `  ${s.at.toISOString().slice(0, 19).replace('T', ' ')} UTC  window ${s.windowS}s  sort ${sort}`,
  );
  lines.push('');

  lines.push(bold('MODELS'));
  const mrows = sortModels(s.models, sort).map((m) => [
    m.model,
    m.rps.toFixed(2),
    String(m.inFlight),
    String(m.queued),
    ms(m.ttftP50Ms),
    ms(m.ttftP95Ms),
    ms(m.latP50Ms),
    ms(m.latP95Ms),
    m.tokensPerS.toFixed(1),
    String(m.errors),
    String(m.requests),
  ]);
  const mt = table(['model', 'req/s', 'inflight', 'queued', 'ttft p50', 'ttft p95', 'lat p50', 'lat p95', 'tok/s', 'errors', 'requests'], mrows);
  lines.push(dim(mt[0]!), ...mt.slice(1));
  if (!mrows.length) lines.push(dim('(no requests in the window)'));
  lines.push('');

  lines.push(bold('GPUS'));
  const grows = s.gpus.map((g) => [
    g.node,
    g.gpuModel || g.gpu.slice(0, 12),
    g.utilPct === null ? '-' : `${g.utilPct.toFixed(0)}%`,
    g.memUsedGiB === null ? '-' : `${g.memUsedGiB.toFixed(1)}/${g.memTotalGiB?.toFixed(1) ?? '?'} GiB`,
    g.tempC === null ? '-' : `${g.tempC.toFixed(0)}°C`,
    g.powerW === null ? '-' : `${g.powerW.toFixed(0)} W`,
    `${g.ageS}s`,
  ]);
  const gt = table(['node', 'gpu', 'util', 'memory', 'temp', 'power', 'age'], grows, 2);
  lines.push(dim(gt[0]!), ...gt.slice(1));
  if (!grows.length) lines.push(dim('(no GPU samples in the last 10 minutes)'));
  lines.push('');

  lines.push(bold('TENANTS') + dim('  spend today (UTC) from the cost engine; burn = spend / budget'));
  const trows = [...s.tenants]
    .sort((a, b) => Number(b.spendToday) - Number(a.spendToday) || a.tenant.localeCompare(b.tenant))
    .map((t) => [t.tenant, `$${t.spendToday}`, String(t.requestsToday), burnText(t.dayBurn), burnText(t.monthBurn), t.blocked ? 'BLOCKED' : '']);
  const tt = table(['tenant', 'spend today', 'requests', 'day burn', 'month burn', ''], trows);
  lines.push(dim(tt[0]!), ...tt.slice(1).map((l, i) => (/BLOCKED|\b(\d{3,}|[89]\d)%/.test(trows[i]!.join(' ')) ? yellow(l) : l)));
  if (!trows.length) lines.push(dim('(no tenant spend today)'));
  lines.push('');

  lines.push(bold('PRICES') + dim('  current price per pool (USD per instance-hour)'));
  const prows = s.prices.map((p) => [
    p.pool,
    p.node,
    p.instanceType,
    p.capacityType,
    p.usdPerHour ? `$${p.usdPerHour}` : 'unpriced',
    p.provider,
    p.since.slice(0, 19),
  ]);
  const pt = table(['pool', 'node', 'instance type', 'capacity', 'price/h', 'source', 'since'], prows, 4);
  lines.push(dim(pt[0]!), ...pt.slice(1));
  lines.push('');

  lines.push(bold(`ALERTS (${s.alerts.length})`) + dim('  conditions of alerts/*.rules.yml true now'));
  for (const a of s.alerts)
    lines.push(`${a.severity === 'critical' ? red('CRIT') : a.severity === 'warning' ? yellow('WARN') : 'INFO'}  ${a.name}  ${a.subject}  ${a.value}`);
  if (!s.alerts.length) lines.push(dim('(none)'));
  for (const p of s.problems) lines.push(red(`! ${p}`));
  lines.push('');
  lines.push(dim('q quit   s next sort   r refresh now'));
  const h = o.height;
  const clipped = lines.map((l) => clip(l, width));
  return h && clipped.length > h ? [...clipped.slice(0, h - 1), clipped.at(-1)!] : clipped;
}

/** Cuts a line to `width` visible characters, leaving ANSI escapes intact. */
function clip(line: string, width: number): string {
  let out = '';
  let visible = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}

/** One refresh as plain lines for logs and pipes: one line per model, GPU, tenant, price, alert. */
export function renderPlain(s: Snapshot, sort: SortKey = 'rps'): string[] {
  const t = s.at.toISOString();
  const kv = (o: Record<string, string | number | null>) =>
    Object.entries(o)
      .map(([k, v]) => `${k}=${v === null ? '-' : v}`)
      .join(' ');
  return [
    ...(s.simulated ? [`${t} note "SIMULATED DATA (llmeter demo)"`] : []),
    ...sortModels(s.models, sort).map(
      (m) =>
        `${t} model ${kv({ model: m.model, rps: m.rps.toFixed(2), inflight: m.inFlight, queued: m.queued, ttft_p50_ms: m.ttftP50Ms === null ? null : Math.round(m.ttftP50Ms), ttft_p95_ms: m.ttftP95Ms === null ? null : Math.round(m.ttftP95Ms), latency_p50_ms: m.latP50Ms === null ? null : Math.round(m.latP50Ms), latency_p95_ms: m.latP95Ms === null ? null : Math.round(m.latP95Ms), tokens_per_s: m.tokensPerS.toFixed(1), errors: m.errors, requests: m.requests })}`,
    ),
    ...s.gpus.map(
      (g) =>
        `${t} gpu ${kv({ node: g.node, gpu: g.gpu, util_pct: g.utilPct === null ? null : Math.round(g.utilPct), mem_used_gib: f1(g.memUsedGiB), mem_total_gib: f1(g.memTotalGiB), temp_c: g.tempC, power_w: g.powerW === null ? null : Math.round(g.powerW) })}`,
    ),
    ...s.tenants.map(
      (x) =>
        `${t} tenant ${kv({ tenant: x.tenant, spend_today_usd: x.spendToday, requests_today: x.requestsToday, day_burn: x.dayBurn === null ? null : x.dayBurn.toFixed(3), month_burn: x.monthBurn === null ? null : x.monthBurn.toFixed(3), blocked: x.blocked ? 1 : 0 })}`,
    ),
    ...s.prices.map(
      (p) =>
        `${t} price ${kv({ pool: p.pool, node: p.node, instance_type: p.instanceType, capacity: p.capacityType, usd_per_hour: p.usdPerHour || null, source: p.provider || null })}`,
    ),
    ...s.alerts.map((a) => `${t} alert ${kv({ severity: a.severity, name: a.name, subject: JSON.stringify(a.subject), value: JSON.stringify(a.value) })}`),
    ...s.problems.map((p) => `${t} problem ${JSON.stringify(p)}`),
  ];
}
