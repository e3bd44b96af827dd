// Runs the cost engine's queries and assembles a chargeback report: per tenant (and per requested
// group) usage, cost, share of idle and total; the fleet total; and the reconciliation line. Amounts
// are rounded to the cent by largest remainder, so the rounded lines add up to the rounded bill.
import { Decimal } from 'decimal.js';
import { chTime } from '../../core/schema/columns.ts';
import type { Store } from '../../core/store/store.ts';
import {
  BASES,
  chargebackLinesSql,
  chargebackTotalsSql,
  KEPT_FROM,
  KEPT_TO,
  keptNodesSql,
  keptUsageSql,
  NODE_COLUMNS,
  USAGE_COLUMNS,
  type ChargebackQuery,
  type GroupDim,
  type IdlePolicy,
  type IdleScope,
  type ReportSources,
} from './chargeback-sql.ts';
import { chargebackNodesSql, nodeInventorySql, unattributedSql } from './report-sections-sql.ts';
import { gapWarnings, priceGaps, unattributedRequests, type PriceGap, type UnattributedRequests } from './gaps.ts';
import { refreshChargebackRollup, withChargebackLock } from './rollup-refresh.ts';
import { computeStages, DAY, HOUR, Scratch, secs, type Params } from './stages.ts';

const D = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN });
type Dec = InstanceType<typeof D>;
export type { PriceGap, UnattributedRequests } from './gaps.ts';

export interface ChargebackOptions {
  from: Date;
  to: Date;
  idle?: IdlePolicy;
  scope?: IdleScope;
  groupBy?: readonly GroupDim[];
  /** Only these tenants' lines are returned (the split itself always uses every tenant). */
  tenants?: readonly string[];
  /** Tenants the bill always lists (the proxy's configured tenants and its anonymous tenant): 0.00 when they had no traffic. */
  configuredTenants?: readonly string[];
  /** Read request usage from the hourly rollups (fast) or the raw table (every hour computed; same numbers). */
  source?: 'rollup' | 'raw';
  /**
   * `kept` (default): complete hours come from chargeback_rollup, refreshed first; `scratch`: every
   * hour is computed for this report from the hourly rollups (same numbers, slower).
   */
  compute?: 'kept' | 'scratch';
  /** The clock: hours that ended before it are kept. Defaults to the current time. */
  now?: Date;
  /** See RefreshOptions.settleMs. */
  settleMs?: number;
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
  /**
   * The same amounts to six decimals, before rounding to cents: what a short run or a cheap tenant
   * really cost where cents would show $0.00 or $0.01. The cent amounts are the ones that reconcile.
   */
  usage_cost_exact: string;
  idle_share_exact: string;
  total_exact: string;
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
  /** The tenant's requests that could not be priced (see `unattributed`): not in its lines. */
  unattributed_requests: number;
}

/** A node over the period: its device-hours, what it cost, what its tenants used and its idle. */
export interface ChargebackNode {
  node: string;
  pool: string;
  /** The node's inventory as last observed in the period. */
  instance_type: string;
  provider: string;
  region: string;
  zone: string;
  capacity_type: string;
  device_hours: number;
  cost: string;
  cost_exact: string;
  /** Usage cost charged to tenants on this node. */
  used: string;
  used_exact: string;
  /** cost − used. */
  idle: string;
  idle_exact: string;
  /** Part of the idle during which a model sat loaded with no request. */
  idle_with_model_resident: string;
  on_demand_fallback_minutes: number;
  unpriced_minutes: number;
}

export interface ChargebackReport {
  period: { from: string; to: string };
  idle_policy: IdlePolicy;
  idle_scope: IdleScope;
  group_by: GroupDim[];
  currency: 'USD';
  /**
   * How the report was computed: hours read from chargeback_rollup (always after a refresh that
   * recomputed every day whose inputs changed, so never stale rows) and hours computed for this
   * report (hours the period only partly covers, hours not over yet, or all with `compute: scratch`).
   */
  computed: { kept_hours: number; computed_hours: number };
  tenants: ChargebackTenant[];
  /** Per node (and pool): device-hours, cost, used, idle; by node. */
  nodes: ChargebackNode[];
  /** Each node's unpriced and on-demand-fallback minutes, with how to price it. */
  price_gaps: PriceGap[];
  /** Requests that could not be priced, per node (empty node: requests recorded with no node). */
  unattributed: UnattributedRequests[];
  /** One line per gap (and first, when no node had any price), as `llmeter report chargeback` prints them on stderr. */
  warnings: string[];
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
    /** The amounts above to six decimals, before rounding to cents (see ChargebackLine.total_exact). */
    fleet_cost_exact: string;
    tenants_total_exact: string;
    unshared_idle_exact: string;
    idle_total_exact: string;
    idle_with_model_resident_exact: string;
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
/** An amount to six decimals (millionths of a dollar), half to even. */
export const exactMoney = (d: Dec) => d.toFixed(6);

interface LineRow {
  tenant: string;
  [dim: string]: unknown;
  out_bases: number;
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
  out_fleet_cost: string | null;
  out_idle: string | null;
  out_idle_resident: string | null;
  out_device_minutes: string;
  out_fallback_minutes: string;
  out_unpriced_minutes: string;
  out_nodes: string;
  out_unattributed: string | null;
}

interface NodeRow {
  node: string;
  pool: string;
  out_device_minutes: string;
  out_cost: string | null;
  out_used: string | null;
  out_idle_resident: string | null;
  out_fallback_minutes: string;
  out_unpriced_minutes: string;
}

interface InventoryRow {
  node: string;
  instance_type: string;
  provider: string;
  region: string;
  zone: string;
  capacity_type: string;
}

const basesOf = (mask: number) => BASES.filter(([, bit]) => (Number(mask) & bit) !== 0).map(([name]) => name);

/**
 * Which hours of [from, to) are read from chargeback_rollup: the whole hours that ended before `now`
 * ([keptFrom, keptTo), empty when keptFrom = keptTo), and among them the whole days. Every other hour
 * the period touches is computed for the report.
 */
export function planHours(from: number, to: number, now: number): { keptFrom: number; keptTo: number; dayFrom: number; dayTo: number; computed: number } {
  const first = Math.ceil(from / HOUR) * HOUR;
  let keptTo = Math.min(Math.floor(to / HOUR) * HOUR, Math.floor(now / HOUR) * HOUR);
  const keptFrom = first;
  if (keptTo < keptFrom) keptTo = keptFrom;
  let dayFrom = Math.ceil(keptFrom / DAY) * DAY;
  let dayTo = Math.floor(keptTo / DAY) * DAY;
  if (dayTo <= dayFrom) dayFrom = dayTo = keptFrom;
  const touched = Math.ceil(to / HOUR) - Math.floor(from / HOUR);
  return { keptFrom, keptTo, dayFrom, dayTo, computed: touched - (keptTo - keptFrom) / HOUR };
}

/** Runs the report's queries: its rows come from kept rollups and from stages computed into scratch tables. */
async function reportRows(store: Store, q: ChargebackQuery, o: ChargebackOptions, kept: boolean, now: number, scratch: Scratch) {
  const from = o.from.getTime();
  const to = o.to.getTime();
  // Nothing is kept on the scratch path: every hour the period touches is computed.
  const plan = planHours(from, to, kept ? now : -Infinity);
  const params: Params = {
    from: chTime(from),
    to: chTime(to),
    kept_from: secs(plan.keptFrom),
    kept_to: secs(plan.keptTo),
    day_from: secs(plan.dayFrom),
    day_to: secs(plan.dayTo),
  };
  const parts = { usage: kept ? [keptUsageSql()] : [], nodes: kept ? [keptNodesSql()] : [] };
  // Hours the period only partly covers, hours not over yet (and every hour when nothing is kept)
  // are computed for this report.
  if (plan.computed > 0) {
    const hours = kept ? `NOT (hour >= ${KEPT_FROM} AND hour < ${KEPT_TO})` : '1';
    const st = await computeStages(store, scratch, { hours, source: o.source ?? 'rollup' }, params);
    parts.usage.push(`SELECT toDate(hour) AS day, ${USAGE_COLUMNS} FROM ${st.split}`);
    parts.nodes.push(`SELECT ${NODE_COLUMNS} FROM ${st.nodes}`);
  }
  const src: ReportSources = { usage: parts.usage.join('\nUNION ALL\n'), nodes: parts.nodes.join('\nUNION ALL\n') };
  const lines = await store.queryRows<LineRow>(chargebackLinesSql(q, src), params);
  const totals = await store.queryRows<TotalsRow>(chargebackTotalsSql(src), params);
  const nodes = await store.queryRows<NodeRow>(chargebackNodesSql(src), params);
  const unattributed = await store.queryRows<{ node: string; tenant: string; out_requests: string }>(unattributedSql(src), params);
  const inventory = nodes.length ? await store.queryRows<InventoryRow>(nodeInventorySql(), { ...params, nodes: [...new Set(nodes.map((n) => n.node))] }) : [];
  return { lines, totals: totals[0]!, nodes, unattributed, inventory, keptHours: (plan.keptTo - plan.keptFrom) / HOUR, computedHours: plan.computed };
}

export async function chargeback(store: Store, o: ChargebackOptions): Promise<ChargebackReport> {
  if (!(o.to > o.from)) throw new Error('the period is empty: "to" must be after "from"');
  const q: ChargebackQuery = { idle: o.idle ?? 'separate', scope: o.scope ?? 'node', groupBy: o.groupBy ?? [] };
  // The raw path is the cross-check: every hour from the raw table, nothing kept read.
  const kept = (o.compute ?? 'kept') === 'kept' && (o.source ?? 'rollup') === 'rollup';
  // One clock for the refresh and the plan, so the report reads only hours the refresh kept.
  const now = (o.now ?? new Date()).getTime();
  const run = async () => {
    if (kept) await refreshChargebackRollup(store, { now, settleMs: o.settleMs });
    const scratch = new Scratch(store);
    try {
      return await reportRows(store, q, o, kept, now, scratch);
    } finally {
      await scratch.drop();
    }
  };
  const { lines, totals, nodes, unattributed, inventory, keptHours, computedHours } = kept ? await withChargebackLock(store, run) : await run();
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

  const unattributedOf = new Map<string, number>();
  for (const u of unattributed) unattributedOf.set(u.tenant, (unattributedOf.get(u.tenant) ?? 0) + Number(u.out_requests));
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
    const totalExact = exactTenantTotals[ti]!;
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
      usage_cost_exact: exactMoney(totalExact.minus(idleExactSum)),
      idle_share_exact: exactMoney(idleExactSum),
      total_exact: exactMoney(totalExact),
      // From the exact total: a cheap tenant's cents would make its price per token 0 or a multiple of a cent.
      usd_per_million_tokens: tokens > 0 ? totalExact.times(1_000_000).div(tokens).toFixed(4) : '',
      bases: [...new Set(rows.flatMap((r) => basesOf(r.out_bases)))].sort(),
      groups: rows.map((r, i) => ({
        dims: Object.fromEntries(q.groupBy.map((d) => [d, String(r[d])])),
        requests: Number(r.out_requests),
        errors: Number(r.out_errors),
        input_tokens: Number(r.out_input_tokens),
        output_tokens: Number(r.out_output_tokens),
        cached_tokens: Number(r.out_cached_tokens),
        gpu_seconds: Number(r.out_gpu_seconds),
        load_seconds: Number(r.out_load_seconds),
        bases: basesOf(r.out_bases).sort(),
        usage_cost: money(usageRounded[i]!),
        idle_share: money(groupTotals[i]!.minus(usageRounded[i]!)),
        total: money(groupTotals[i]!),
        usage_cost_exact: exactMoney(usageExact[i]!),
        idle_share_exact: exactMoney(idleExact[i]!),
        total_exact: exactMoney(usageExact[i]!.plus(idleExact[i]!)),
      })),
      unattributed_requests: unattributedOf.get(name) ?? 0,
    };
  });
  // Configured tenants with no traffic, and tenants whose every request could not be priced, are on
  // the bill too, at 0.00: absent, they would read as unknown rather than as costing nothing.
  for (const name of new Set([...(o.configuredTenants ?? []), ...unattributedOf.keys()])) {
    if (!byTenant.has(name)) tenants.push(zeroTenant(name, unattributedOf.get(name) ?? 0));
  }
  tenants.sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
  const nodeSection = reportNodes(nodes, inventory);
  const gaps = priceGaps(nodeSection);
  const unattributedByNode = unattributedRequests(unattributed.map((u) => ({ node: u.node, tenant: u.tenant, requests: Number(u.out_requests) })));
  // No price at all: the fleet had minutes, every node had unpriced ones and nothing cost anything.
  const noPriceAtAll = nodeSection.length > 0 && fleet.isZero() && nodeSection.every((n) => n.unpriced_minutes > 0);

  const tenantsTotal = tenantTotals.reduce((a, b) => a.plus(b), new D(0));
  const fleetRounded = fleet.toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN);
  const wanted = o.tenants ? new Set(o.tenants) : undefined;
  return {
    period: { from: o.from.toISOString(), to: o.to.toISOString() },
    idle_policy: q.idle,
    idle_scope: q.scope,
    group_by: [...q.groupBy],
    currency: 'USD',
    computed: { kept_hours: keptHours, computed_hours: computedHours },
    tenants: wanted ? tenants.filter((t) => wanted.has(t.tenant)) : tenants,
    nodes: nodeSection,
    price_gaps: gaps,
    unattributed: unattributedByNode,
    warnings: gapWarnings(noPriceAtAll, gaps, unattributedByNode),
    totals: {
      fleet_cost: money(fleetRounded),
      tenants_total: money(tenantsTotal),
      unshared_idle: money(unshared),
      idle_with_model_resident: money(dec(totals.out_idle_resident).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN)),
      idle_total: money(dec(totals.out_idle).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN)),
      reconciliation: money(tenantsTotal.plus(unshared).minus(fleetRounded)),
      fleet_cost_exact: exactMoney(fleet),
      tenants_total_exact: exactMoney(tenantsExact),
      unshared_idle_exact: exactMoney(unsharedExact),
      idle_total_exact: exactMoney(dec(totals.out_idle)),
      idle_with_model_resident_exact: exactMoney(dec(totals.out_idle_resident)),
      node_count: Number(totals.out_nodes),
      device_hours: Number(totals.out_device_minutes) / 60,
      on_demand_fallback_minutes: Number(totals.out_fallback_minutes),
      unpriced_minutes: Number(totals.out_unpriced_minutes),
      unattributed_requests: Number(totals.out_unattributed ?? 0),
    },
  };
}

function zeroTenant(tenant: string, unattributed: number): ChargebackTenant {
  return {
    tenant,
    requests: 0,
    errors: 0,
    input_tokens: 0,
    output_tokens: 0,
    cached_tokens: 0,
    gpu_seconds: 0,
    bases: [],
    usage_cost: '0.00',
    idle_share: '0.00',
    total: '0.00',
    usage_cost_exact: exactMoney(new D(0)),
    idle_share_exact: exactMoney(new D(0)),
    total_exact: exactMoney(new D(0)),
    usd_per_million_tokens: '',
    groups: [],
    unattributed_requests: unattributed,
  };
}

/**
 * The node section: per node (and pool), cost rounded to cents by largest remainder so the nodes add
 * up to the fleet cost, used likewise, idle the difference; with the node's inventory as last observed.
 */
function reportNodes(rows: readonly NodeRow[], inventory: readonly InventoryRow[]): ChargebackNode[] {
  const inv = new Map(inventory.map((i) => [i.node, i]));
  const cost = roundToCents(rows.map((r) => dec(r.out_cost)));
  // Usage is a part of the cost: rounded on its own, never above the node's rounded cost, so idle is never negative.
  const used = rows.map((r, i) => D.min(dec(r.out_used).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN), cost[i]!));
  return rows.map((r, i) => {
    const at = inv.get(r.node);
    return {
      node: r.node,
      pool: r.pool,
      instance_type: at?.instance_type ?? '',
      provider: at?.provider ?? '',
      region: at?.region ?? '',
      zone: at?.zone ?? '',
      capacity_type: at?.capacity_type ?? '',
      device_hours: Number(r.out_device_minutes) / 60,
      cost: money(cost[i]!),
      cost_exact: exactMoney(dec(r.out_cost)),
      used: money(used[i]!),
      used_exact: exactMoney(dec(r.out_used)),
      idle: money(cost[i]!.minus(used[i]!)),
      idle_exact: exactMoney(dec(r.out_cost).minus(dec(r.out_used))),
      idle_with_model_resident: money(dec(r.out_idle_resident).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN)),
      on_demand_fallback_minutes: Number(r.out_fallback_minutes),
      unpriced_minutes: Number(r.out_unpriced_minutes),
    };
  });
}
