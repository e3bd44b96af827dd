// What `llmeter top` shows, read from a running collector over its HTTP API: /metrics (live gauges:
// in flight, queued, budgets, alert gauges), POST /api/sql (the store: per-model request stats over a
// window, newest GPU readings, prices, nodes) and GET /api/chargeback (spend so far today).
import { parsePrometheusText, type Sample } from '../../../exporters/scrape/prometheus/parse.ts';
import { errorMessage } from '../../core/errors.ts';

import { alertsFrom, type AlertRow, type TopFilter } from './alerts.ts';

export { alertsFrom, type AlertRow, type TopFilter } from './alerts.ts';

export interface ModelRow {
  model: string;
  requests: number;
  rps: number;
  inFlight: number;
  queued: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  latP50Ms: number | null;
  latP95Ms: number | null;
  tokensPerS: number;
  errors: number;
}

export interface GpuRow {
  node: string;
  gpu: string;
  gpuModel: string;
  utilPct: number | null;
  memUsedGiB: number | null;
  memTotalGiB: number | null;
  tempC: number | null;
  powerW: number | null;
  ageS: number;
}

export interface TenantRow {
  tenant: string;
  spendToday: string;
  requestsToday: number;
  /** Burn ratio of the day's budget, then the month's (null: no such budget). */
  dayBurn: number | null;
  monthBurn: number | null;
  blocked: boolean;
}

export interface PriceRow {
  pool: string;
  node: string;
  instanceType: string;
  capacityType: string;
  usdPerHour: string;
  provider: string;
  since: string;
}

export interface Snapshot {
  at: Date;
  url: string;
  windowS: number;
  models: ModelRow[];
  gpus: GpuRow[];
  tenants: TenantRow[];
  prices: PriceRow[];
  alerts: AlertRow[];
  /** Parts that could not be read (shown, not fatal). */
  problems: string[];
  /** The nodes come from `llmeter demo`'s simulated fleet (provider "sim"). */
  simulated: boolean;
}

export interface SnapshotOptions extends TopFilter {
  url: string;
  /** Seconds of requests behind the per-model numbers. */
  windowS?: number;
  adminKey?: string;
  fetch?: typeof fetch;
  now?: () => Date;
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function sqlFilter(f: TopFilter): string {
  const parts: string[] = [];
  if (f.tenants?.length) parts.push(`tenant IN (${f.tenants.map(q).join(', ')})`);
  if (f.models?.length) parts.push(`model IN (${f.models.map(q).join(', ')})`);
  return parts.map((p) => ` AND ${p}`).join('');
}

export function modelSql(windowS: number, f: TopFilter): string {
  return `SELECT model, count() AS requests, countIf(status >= 400 OR error != '') AS errors, sum(output_tokens) AS out_tokens,
  quantileExactIf(0.5)(ttft_ms, ttft_ms IS NOT NULL AND status < 400) AS ttft_p50, quantileExactIf(0.95)(ttft_ms, ttft_ms IS NOT NULL AND status < 400) AS ttft_p95,
  quantileExactIf(0.5)(duration_ms, status < 400 AND error = '') AS lat_p50, quantileExactIf(0.95)(duration_ms, status < 400 AND error = '') AS lat_p95
FROM llm_requests WHERE ts >= now64(3) - toIntervalSecond(${Math.round(windowS)})${sqlFilter(f)} GROUP BY model ORDER BY model`;
}

export const GPU_SQL = `SELECT node, gpu_uuid, any(gpu_model) AS gpu_model, field, argMax(value, ts) AS value, dateDiff('second', max(ts), now64(3)) AS age_s
FROM gpu_metrics WHERE ts >= now64(3) - INTERVAL 10 MINUTE AND field IN ('gpu_util', 'fb_used', 'fb_free', 'gpu_temp', 'power_usage')
GROUP BY node, gpu_uuid, field ORDER BY node, gpu_uuid`;

export const PRICE_SQL = `SELECT provider, instance_type, capacity_type, region, argMax(toString(usd_per_hour), effective_from) AS usd, toString(max(effective_from)) AS since
FROM price_points FINAL WHERE effective_from <= now64(3) GROUP BY provider, instance_type, capacity_type, region`;

export const NODE_SQL = `SELECT node, argMax(pool, ts) AS pool, argMax(instance_type, ts) AS instance_type, argMax(capacity_type, ts) AS capacity_type, argMax(provider, ts) AS provider, argMax(region, ts) AS region FROM nodes GROUP BY node ORDER BY pool, node`;

class Api {
  readonly base: string;
  private readonly key?: string;
  private readonly f: typeof fetch;
  constructor(o: SnapshotOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.key = o.adminKey;
    this.f = o.fetch ?? fetch;
  }

  private headers(): Record<string, string> {
    return this.key ? { authorization: `Bearer ${this.key}` } : {};
  }

  async text(path: string): Promise<string> {
    const res = await this.f(this.base + path, { headers: this.headers(), signal: AbortSignal.timeout(10_000) });
    const t = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${t.slice(0, 200)}`);
    return t;
  }

  async sql<T>(sql: string): Promise<T[]> {
    const res = await this.f(`${this.base}/api/sql?format=JSONEachRow`, {
      method: 'POST',
      body: sql,
      headers: { ...this.headers(), 'content-type': 'application/sql' },
      signal: AbortSignal.timeout(10_000),
    });
    const t = await res.text();
    if (!res.ok) throw new Error(`/api/sql: ${res.status} ${t.slice(0, 200)}`);
    return t
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as T);
  }
}

const num = (v: unknown): number | null => (v === null || v === undefined || v === '' || Number.isNaN(Number(v)) ? null : Number(v));

function sumBy(samples: readonly Sample[], name: string, key: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) if (s.name === name) m.set(s.labels[key] ?? '', (m.get(s.labels[key] ?? '') ?? 0) + s.value);
  return m;
}

/** Reads everything `top` shows; a part that fails is reported in `problems` and left empty. */
export async function readSnapshot(o: SnapshotOptions): Promise<Snapshot> {
  const api = new Api(o);
  const windowS = o.windowS ?? 60;
  const at = (o.now ?? (() => new Date()))();
  const problems: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      problems.push(`${what}: ${errorMessage(err)}`);
      return fallback;
    }
  };
  const dayStart = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const dayEnd = new Date(dayStart.getTime() + 86_400_000);
  const [metricsText, modelRows, gpuRows, priceRows, nodeRows, cbText] = await Promise.all([
    attempt('/metrics', () => api.text('/metrics'), ''),
    attempt('models', () => api.sql<Record<string, unknown>>(modelSql(windowS, o)), []),
    attempt('gpus', () => api.sql<Record<string, unknown>>(GPU_SQL), []),
    attempt('prices', () => api.sql<Record<string, unknown>>(PRICE_SQL), []),
    attempt('nodes', () => api.sql<Record<string, unknown>>(NODE_SQL), []),
    attempt(
      'chargeback',
      () => api.text(`/api/chargeback?${new URLSearchParams({ from: dayStart.toISOString(), to: dayEnd.toISOString(), format: 'json', source: 'raw' })}`),
      '',
    ),
  ]);
  const samples = metricsText ? parsePrometheusText(metricsText).samples : [];
  const modelOk = (m: string) => !o.models?.length || o.models.includes(m);
  const tenantOk = (t: string) => !o.tenants?.length || o.tenants.includes(t);

  // Per model: the store's window, with the live in-flight and queued gauges of the proxy.
  const inflight = sumBy(samples, 'llmeter_proxy_inflight_requests', 'model');
  const queued = sumBy(samples, 'llmeter_proxy_queued_requests', 'model');
  const models = new Map<string, ModelRow>();
  for (const r of modelRows) {
    const m = String(r.model);
    const requests = Number(r.requests);
    models.set(m, {
      model: m,
      requests,
      rps: requests / windowS,
      inFlight: inflight.get(m) ?? 0,
      queued: queued.get(m) ?? 0,
      ttftP50Ms: num(r.ttft_p50),
      ttftP95Ms: num(r.ttft_p95),
      latP50Ms: num(r.lat_p50),
      latP95Ms: num(r.lat_p95),
      tokensPerS: Number(r.out_tokens) / windowS,
      errors: Number(r.errors),
    });
  }
  if (!o.tenants?.length) {
    for (const [m, v] of [...inflight, ...queued]) {
      if (v > 0 && !models.has(m) && modelOk(m))
        models.set(m, {
          model: m,
          requests: 0,
          rps: 0,
          inFlight: inflight.get(m) ?? 0,
          queued: queued.get(m) ?? 0,
          ttftP50Ms: null,
          ttftP95Ms: null,
          latP50Ms: null,
          latP95Ms: null,
          tokensPerS: 0,
          errors: 0,
        });
    }
  }

  // Per GPU: newest reading of each field.
  const gpus = new Map<string, GpuRow>();
  for (const r of gpuRows) {
    const k = `${String(r.node)}\u0000${String(r.gpu_uuid)}`;
    let g = gpus.get(k);
    if (!g) {
      g = {
        node: String(r.node),
        gpu: String(r.gpu_uuid),
        gpuModel: String(r.gpu_model ?? ''),
        utilPct: null,
        memUsedGiB: null,
        memTotalGiB: null,
        tempC: null,
        powerW: null,
        ageS: Number(r.age_s),
      };
      gpus.set(k, g);
    }
    const v = Number(r.value);
    g.ageS = Math.min(g.ageS, Number(r.age_s));
    if (r.field === 'gpu_util') g.utilPct = v * 100;
    else if (r.field === 'fb_used') g.memUsedGiB = v / 1024 ** 3;
    else if (r.field === 'fb_free') g.memTotalGiB = v / 1024 ** 3;
    else if (r.field === 'gpu_temp') g.tempC = v;
    else if (r.field === 'power_usage') g.powerW = v;
  }
  for (const g of gpus.values()) if (g.memTotalGiB !== null && g.memUsedGiB !== null) g.memTotalGiB += g.memUsedGiB;

  // Per tenant: spend so far today (the cost engine), burn of the budgets (the collector's gauges).
  const tenants = new Map<string, TenantRow>();
  const tenant = (t: string) => {
    let r = tenants.get(t);
    if (!r) tenants.set(t, (r = { tenant: t, spendToday: '0.00', requestsToday: 0, dayBurn: null, monthBurn: null, blocked: false }));
    return r;
  };
  if (cbText) {
    const cb = JSON.parse(cbText) as { tenants?: { tenant: string; total: string; requests: number }[] };
    for (const t of cb.tenants ?? []) if (tenantOk(t.tenant)) Object.assign(tenant(t.tenant), { spendToday: t.total, requestsToday: t.requests });
  }
  // Without the chargeback (no key that may read it), the budgets' own spend gauges still say it.
  const spendGauges = !cbText;
  for (const s of samples) {
    if (spendGauges && s.name === 'llmeter_budget_spend_usd' && s.labels.period === 'day' && tenantOk(s.labels.tenant ?? ''))
      tenant(s.labels.tenant ?? '').spendToday = s.value.toFixed(2);
    if (s.name === 'llmeter_budget_burn_ratio' && tenantOk(s.labels.tenant ?? '')) {
      const r = tenant(s.labels.tenant ?? '');
      if (s.labels.period === 'day') r.dayBurn = s.value;
      else if (s.labels.period === 'month') r.monthBurn = s.value;
    }
    if (s.name === 'llmeter_budget_blocked' && s.value > 0 && tenantOk(s.labels.tenant ?? '')) tenant(s.labels.tenant ?? '').blocked = true;
  }

  // Current price per pool: the price each node is charged at now (book first, then its capacity type).
  const prices: PriceRow[] = [];
  for (const n of nodeRows) {
    const it = String(n.instance_type);
    const cands = priceRows.filter((p) => p.instance_type === it);
    const pick =
      cands.find((p) => p.provider === 'book') ??
      cands.find((p) => p.capacity_type === n.capacity_type && p.provider === n.provider) ??
      cands.find((p) => p.capacity_type === n.capacity_type) ??
      cands.find((p) => p.capacity_type === 'on_demand');
    prices.push({
      pool: String(n.pool || '-'),
      node: String(n.node),
      instanceType: it,
      capacityType: String(n.capacity_type),
      usdPerHour: pick ? String(pick.usd) : '',
      provider: pick ? String(pick.provider) : '',
      since: pick ? String(pick.since) : '',
    });
  }

  return {
    at,
    url: api.base,
    windowS,
    models: [...models.values()],
    gpus: [...gpus.values()],
    tenants: [...tenants.values()],
    prices,
    alerts: alertsFrom(samples, o),
    problems,
    simulated: nodeRows.some((n) => n.provider === 'sim'),
  };
}
