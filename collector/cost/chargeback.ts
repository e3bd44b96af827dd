// Runs the cost engine's queries and assembles a chargeback report: per tenant (and per requested
// group) usage, cost, share of idle and total; the fleet total; and the reconciliation line. Amounts
// are rounded to the cent by largest remainder, so the rounded lines add up to the rounded bill.
import { Decimal } from 'decimal.js';
import type { Store } from '../store/store.ts';
import { randomUUID } from 'node:crypto';
import { chargebackLinesSql, chargebackTotalsSql, nodeHourStageSql, unattributedSql, usageStageSql, type ChargebackQuery, type GroupDim, type IdlePolicy, type IdleScope, type StageTables } from './chargeback-sql.ts';

const D = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN });
type Dec = InstanceType<typeof D>;

export interface ChargebackOptions {
  from: Date;
  to: Date;
  idle?: IdlePolicy;
  scope?: IdleScope;
  groupBy?: readonly GroupDim[];
  /** Only these tenants' lines are returned (the split itself always uses every tenant). */
  tenants?: readonly string[];
  source?: 'rollup' | 'raw';
}

/** What a line of the report counts and costs, for a tenant or one of its groups. */
export interface ChargebackLine {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  gpu_seconds: number;
  /** How GPU-seconds were measured: measured (Ollama durations), wall_clock, tokens (token share). */
  bases: string[];
  usage_cost: string;
  idle_share: string;
  total: string;
}

export interface ChargebackGroup extends ChargebackLine {
  /** Values of the requested dimensions (model, node, pool, tier, day). */
  dims: Record<string, string>;
  load_seconds: number;
}

export interface ChargebackTenant extends ChargebackLine {
  tenant: string;
  /** total per million tokens (in + out); empty when the tenant moved no tokens. */
  usd_per_million_tokens: string;
  groups: ChargebackGroup[];
}

export interface ChargebackReport {
  period: { from: string; to: string };
  idle_policy: IdlePolicy;
  idle_scope: IdleScope;
  group_by: GroupDim[];
  currency: 'USD';
  tenants: ChargebackTenant[];
  totals: {
    /** What the fleet cost over the period: the bill. */
    fleet_cost: string;
    /** Sum of every tenant's total (all tenants, even when the report is filtered). */
    tenants_total: string;
    /** Idle not charged to any tenant (all of it under `separate`). */
    unshared_idle: string;
    /** Part of the whole idle during which a model sat loaded in VRAM with no request. */
    idle_with_model_resident: string;
    idle_total: string;
    /** tenants_total + unshared_idle − fleet_cost: always 0.00. */
    reconciliation: string;
    node_count: number;
    device_hours: number;
    /** Minutes priced at on-demand because no spot price was known (said here, never silent). */
    on_demand_fallback_minutes: number;
    /** Minutes of nodes with no price at all (cost 0 until a price or price book entry exists). */
    unpriced_minutes: number;
    /** Requests on nodes never seen up or without inventory: counted here, not priced. */
    unattributed_requests: number;
  };
}

const CENT = new D('0.01');
/** An amount from ClickHouse; an aggregate over nothing comes back NULL and means zero. */
const dec = (x: string | null | undefined) => new D(x ?? 0);

/** Rounds each amount to the cent so that the rounded amounts add up to the rounded sum. */
export function roundToCents(amounts: readonly Dec[]): Dec[] {
  const exactSum = amounts.reduce((a, b) => a.plus(b), new D(0));
  const targetCents = exactSum.div(CENT).toDecimalPlaces(0, Decimal.ROUND_HALF_EVEN);
  const floors = amounts.map((a) => a.div(CENT).floor());
  const rest = targetCents.minus(floors.reduce((a, b) => a.plus(b), new D(0))).toNumber();
  const order = amounts.map((a, i) => ({ i, frac: a.div(CENT).minus(floors[i]!) })).sort((x, y) => y.frac.comparedTo(x.frac) || x.i - y.i);
  const cents = [...floors];
  for (let k = 0; k < rest && k < order.length; k++) cents[order[k]!.i] = cents[order[k]!.i]!.plus(1);
  for (let k = 0; k > rest && k > -order.length; k--) cents[order[order.length - 1 + k]!.i] = cents[order[order.length - 1 + k]!.i]!.minus(1);
  return cents.map((c) => c.times(CENT));
}

const money = (d: Dec) => d.toFixed(2);

interface LineRow {
  tenant: string;
  [dim: string]: unknown;
  out_bases: string[];
  out_requests: string;
  out_errors: string;
  out_input_tokens: string;
  out_output_tokens: string;
  out_cached_tokens: string;
  out_gpu_seconds: number | string;
  out_load_seconds: number | string;
  out_usage_cost: string;
  out_idle_share: string;
}

interface TotalsRow {
  out_fleet_cost: string;
  out_idle: string;
  out_idle_resident: string;
  out_device_minutes: string;
  out_fallback_minutes: string;
  out_unpriced_minutes: string;
  out_nodes: string;
}

function chTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

export async function chargeback(store: Store, o: ChargebackOptions): Promise<ChargebackReport> {
  if (!(o.to > o.from)) throw new Error('the period is empty: "to" must be after "from"');
  const q: ChargebackQuery = { idle: o.idle ?? 'separate', scope: o.scope ?? 'node', groupBy: o.groupBy ?? [], source: o.source ?? 'rollup' };
  const params = { from: chTime(o.from), to: chTime(o.to) };
  // Scratch tables for the two expensive stages, each computed once and dropped afterwards.
  const id = randomUUID().replace(/-/g, '').slice(0, 16);
  const t: StageTables = { nodeHour: `${store.database}._chargeback_nh_${id}`, usage: `${store.database}._chargeback_usage_${id}` };
  let lines: LineRow[];
  let totalsRows: TotalsRow[];
  let unattributed: { out_requests: string | null }[];
  try {
    await store.command(`CREATE TABLE ${t.nodeHour} ENGINE = Memory AS ${nodeHourStageSql()}`, undefined, params);
    await store.command(`CREATE TABLE ${t.usage} ENGINE = Memory AS ${usageStageSql(q, t)}`, undefined, params);
    [lines, totalsRows, unattributed] = await Promise.all([
      store.queryRows<LineRow>(chargebackLinesSql(q, t)),
      store.queryRows<TotalsRow>(chargebackTotalsSql(t)),
      store.queryRows<{ out_requests: string | null }>(unattributedSql(t)),
    ]);
  } finally {
    await store.command(`DROP TABLE IF EXISTS ${t.nodeHour}`).catch(() => {});
    await store.command(`DROP TABLE IF EXISTS ${t.usage}`).catch(() => {});
  }
  const totals = totalsRows[0]!;
  const fleet = dec(totals.out_fleet_cost);

  const byTenant = new Map<string, LineRow[]>();
  for (const l of lines) {
    const list = byTenant.get(l.tenant) ?? [];
    list.push(l);
    byTenant.set(l.tenant, list);
  }
  const tenantNames = [...byTenant.keys()].sort();
  const exactTenantTotals = tenantNames.map((t) => byTenant.get(t)!.reduce((a, l) => a.plus(dec(l.out_usage_cost)).plus(dec(l.out_idle_share)), new D(0)));
  const tenantsExact = exactTenantTotals.reduce((a, b) => a.plus(b), new D(0));
  // Whatever no tenant carries is the unshared idle: the bill minus what tenants are charged, so the
  // reconciliation holds by construction and any engine error shows up as a negative idle.
  const unsharedExact = fleet.minus(tenantsExact);
  const rounded = roundToCents([...exactTenantTotals, unsharedExact]);
  const tenantTotals = rounded.slice(0, -1);
  const unshared = rounded[rounded.length - 1]!;

  const tenants: ChargebackTenant[] = tenantNames.map((name, ti) => {
    const rows = byTenant.get(name)!;
    const usageExact = rows.map((r) => dec(r.out_usage_cost));
    const idleExact = rows.map((r) => dec(r.out_idle_share));
    const groupTotals = roundToCents(rows.map((_, i) => usageExact[i]!.plus(idleExact[i]!)));
    // The group totals are made to add up to the tenant's rounded total (largest remainder can differ
    // by a cent from rounding the tenant separately): adjust the largest group.
    const diff = tenantTotals[ti]!.minus(groupTotals.reduce((a, b) => a.plus(b), new D(0)));
    if (!diff.isZero() && groupTotals.length > 0) {
      const big = groupTotals.reduce((bi, g, i) => (g.greaterThan(groupTotals[bi]!) ? i : bi), 0);
      groupTotals[big] = groupTotals[big]!.plus(diff);
    }
    const usageRounded = roundToCents(usageExact);
    const sum = (k: keyof LineRow) => rows.reduce((a, r) => a + Number(r[k]), 0);
    const tokens = sum('out_input_tokens') + sum('out_output_tokens');
    const total = tenantTotals[ti]!;
    // With no idle share, usage is the total (rounding usage on its own could leave a cent of "idle").
    const idleExactSum = idleExact.reduce((a, b) => a.plus(b), new D(0));
    const usage = idleExactSum.isZero() ? tenantTotals[ti]! : usageExact.reduce((a, b) => a.plus(b), new D(0)).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN);
    return {
      tenant: name,
      requests: sum('out_requests'),
      errors: sum('out_errors'),
      input_tokens: sum('out_input_tokens'),
      output_tokens: sum('out_output_tokens'),
      cached_tokens: sum('out_cached_tokens'),
      gpu_seconds: Math.round(sum('out_gpu_seconds') * 1000) / 1000,
      usage_cost: money(usage),
      idle_share: money(total.minus(usage)),
      total: money(total),
      usd_per_million_tokens: tokens > 0 ? total.times(1_000_000).div(tokens).toFixed(4) : '',
      bases: [...new Set(rows.flatMap((r) => r.out_bases))].sort(),
      groups: rows.map((r, i) => ({
        dims: Object.fromEntries(q.groupBy.map((d) => [d, String(r[d])])),
        requests: Number(r.out_requests),
        errors: Number(r.out_errors),
        input_tokens: Number(r.out_input_tokens),
        output_tokens: Number(r.out_output_tokens),
        cached_tokens: Number(r.out_cached_tokens),
        gpu_seconds: Number(r.out_gpu_seconds),
        load_seconds: Number(r.out_load_seconds),
        bases: [...r.out_bases].sort(),
        usage_cost: money(usageRounded[i]!),
        idle_share: money(groupTotals[i]!.minus(usageRounded[i]!)),
        total: money(groupTotals[i]!),
      })),
    };
  });

  const tenantsTotal = tenantTotals.reduce((a, b) => a.plus(b), new D(0));
  const fleetRounded = fleet.toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN);
  const wanted = o.tenants ? new Set(o.tenants) : undefined;
  return {
    period: { from: o.from.toISOString(), to: o.to.toISOString() },
    idle_policy: q.idle,
    idle_scope: q.scope,
    group_by: [...q.groupBy],
    currency: 'USD',
    tenants: wanted ? tenants.filter((t) => wanted.has(t.tenant)) : tenants,
    totals: {
      fleet_cost: money(fleetRounded),
      tenants_total: money(tenantsTotal),
      unshared_idle: money(unshared),
      idle_with_model_resident: money(dec(totals.out_idle_resident).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN)),
      idle_total: money(dec(totals.out_idle).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN)),
      reconciliation: money(tenantsTotal.plus(unshared).minus(fleetRounded)),
      node_count: Number(totals.out_nodes),
      device_hours: Number(totals.out_device_minutes) / 60,
      on_demand_fallback_minutes: Number(totals.out_fallback_minutes),
      unpriced_minutes: Number(totals.out_unpriced_minutes),
      unattributed_requests: Number(unattributed[0]?.out_requests ?? 0),
    },
  };
}
