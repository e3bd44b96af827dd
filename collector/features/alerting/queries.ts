// What the alert-facing gauges are computed from: a handful of bounded aggregate queries over the
// raw tables, each reading only a recent window (the tables' sort keys put ts last, so the window is
// a range scan per key). Times are epoch ms; `now` is passed in so tests control the clock.
import type { Store } from '../../core/store/store.ts';
import type { AlertingConfig } from './config.ts';
import { CAPACITY_NOTICE_KINDS } from './metric-names.ts';

/** Fields of gpu_metrics the GPU gauges read (stored units: celsius, bytes, ratio). */
const GPU_FIELDS = ['gpu_temp', 'fb_used', 'fb_free', 'fb_reserved', 'fb_total', 'fb_used_percent'] as const;

export interface GpuState {
  node: string;
  gpu: string;
  gpu_uuid: string;
  gpu_model: string;
  mig_instance: string;
  /** Newest value per field. */
  fields: Partial<Record<(typeof GPU_FIELDS)[number], number>>;
  lastMs: number;
}

export interface ModelWindow {
  model: string;
  requests: number;
  errors: number;
  queueFull: number;
  p95Seconds: number;
  ttftP95Seconds: number | null;
}

export interface XidCount {
  node: string;
  gpu_uuid: string;
  xid: string;
  events: number;
}

export interface CapacityNotice {
  node: string;
  kind: string;
  provider: string;
  instance_id: string;
  action: string;
  actionAtMs: number;
}

export interface Snapshot {
  gpus: GpuState[];
  models: ModelWindow[];
  deadLetters: { signal: string; rows: number }[];
  xids: XidCount[];
  notices: CapacityNotice[];
  nodesDown: string[];
}

const num = (v: unknown): number => (v === null || v === undefined ? NaN : Number(v));

export async function readGpus(store: Store, now: number, cfg: AlertingConfig): Promise<GpuState[]> {
  const rows = await store.queryRows<{
    node: string;
    gpu: string;
    gpu_uuid: string;
    gpu_model: string;
    mig_instance: string;
    field: string;
    value: number;
    last_ms: string;
  }>(
    `SELECT node, toString(gpu_index) AS gpu, gpu_uuid, any(gpu_model) AS gpu_model, mig_instance, field,
            argMax(value, ts) AS value, toUnixTimestamp64Milli(max(ts)) AS last_ms
       FROM gpu_metrics
      WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) AND field IN {fields:Array(String)}
      GROUP BY node, gpu_uuid, gpu_index, mig_instance, field
      LIMIT {limit:UInt32}`,
    { since: now - cfg.gpu_stale_ms, fields: GPU_FIELDS, limit: cfg.max_series * GPU_FIELDS.length },
  );
  const byGpu = new Map<string, GpuState>();
  for (const r of rows) {
    const key = `${r.node}\u0000${r.gpu_uuid}\u0000${r.mig_instance}`;
    let g = byGpu.get(key);
    if (!g) {
      g = { node: r.node, gpu: r.gpu, gpu_uuid: r.gpu_uuid, gpu_model: r.gpu_model, mig_instance: r.mig_instance, fields: {}, lastMs: 0 };
      byGpu.set(key, g);
    }
    g.fields[r.field as (typeof GPU_FIELDS)[number]] = num(r.value);
    g.lastMs = Math.max(g.lastMs, num(r.last_ms));
  }
  return [...byGpu.values()];
}

/**
 * Share of the frame buffer in use: DCGM's own percentage where the exporter publishes it, else
 * used / total, else used / (used + free + reserved) — FB_TOTAL is missing on some MIG pages.
 */
export function memoryUsedRatio(f: GpuState['fields']): number | undefined {
  if (f.fb_used_percent !== undefined && Number.isFinite(f.fb_used_percent)) return f.fb_used_percent;
  if (f.fb_used === undefined) return undefined;
  if (f.fb_total !== undefined && f.fb_total > 0) return f.fb_used / f.fb_total;
  const total = f.fb_used + (f.fb_free ?? NaN) + (f.fb_reserved ?? 0);
  return Number.isFinite(total) && total > 0 ? f.fb_used / total : undefined;
}

/**
 * An error is what the operator must act on: a 5xx, or a failure the proxy saw from the upstream.
 * Client aborts, rate limits and 4xx are the client's business and not counted.
 */
export const ERROR_CONDITION = "(status >= 500 OR error_kind IN ('stream_error', 'upstream_down', 'timeout'))";
export const QUEUE_FULL_CONDITION = "(status = 503 AND error_kind = 'queue_full')";

/** The model label of the series that stands for every model beyond the bound. */
export const OTHER_MODEL = 'other';

/**
 * Per-model figures over the request window. A client names the model, so at most `maxModels`
 * models (the busiest) have series of their own, as the proxy's own model labels are bounded
 * (proxy.max_model_labels); the requests of all others are one series, model="other".
 */
export async function readModels(store: Store, now: number, cfg: AlertingConfig, maxModels: number): Promise<ModelWindow[]> {
  const rows = await store.queryRows<{ model: string; requests: string; errors: string; queue_full: string; p95_s: number; ttft_p95_s: number | null }>(
    `WITH busiest AS (
       SELECT model FROM llm_requests WHERE ts >= fromUnixTimestamp64Milli({since:Int64})
        GROUP BY model ORDER BY count() DESC, model LIMIT {keep:UInt32})
     SELECT if(model IN (SELECT model FROM busiest), model, {other:String}) AS model,
            count() AS requests, countIf(${ERROR_CONDITION}) AS errors, countIf(${QUEUE_FULL_CONDITION}) AS queue_full,
            quantile(0.95)(duration_ms) / 1000 AS p95_s,
            if(countIf(ttft_ms IS NOT NULL) = 0, NULL, quantileIf(0.95)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) / 1000) AS ttft_p95_s
       FROM llm_requests
      WHERE ts >= fromUnixTimestamp64Milli({since:Int64})
      GROUP BY model
      LIMIT {limit:UInt32}`,
    { since: now - cfg.request_window_ms, keep: maxModels, other: OTHER_MODEL, limit: cfg.max_series },
  );
  return rows.map((r) => ({
    model: r.model,
    requests: num(r.requests),
    errors: num(r.errors),
    queueFull: num(r.queue_full),
    p95Seconds: num(r.p95_s),
    ttftP95Seconds: r.ttft_p95_s === null ? null : num(r.ttft_p95_s),
  }));
}

export async function readDeadLetters(store: Store, now: number, cfg: AlertingConfig): Promise<{ signal: string; rows: number }[]> {
  const rows = await store.queryRows<{ signal: string; n: string }>(
    `SELECT signal, count() AS n FROM dead_letters WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) GROUP BY signal LIMIT {limit:UInt32}`,
    { since: now - cfg.dead_letter_window_ms, limit: cfg.max_series },
  );
  return rows.map((r) => ({ signal: r.signal, rows: num(r.n) }));
}

/** XID events per GPU and code; the GPU is in the event's detail (see exporters/scrape/dcgm/map.ts). */
export async function readXids(store: Store, now: number, cfg: AlertingConfig): Promise<XidCount[]> {
  const rows = await store.queryRows<{ node: string; gpu_uuid: string; xid: string; n: string }>(
    `SELECT node, JSONExtractString(detail, 'gpu_uuid') AS gpu_uuid, replaceOne(action, 'xid_', '') AS xid, count() AS n
       FROM capacity_events FINAL
      WHERE kind = 'xid' AND ts >= fromUnixTimestamp64Milli({since:Int64})
      GROUP BY node, gpu_uuid, xid
      LIMIT {limit:UInt32}`,
    { since: now - cfg.xid_window_ms, limit: cfg.max_series },
  );
  return rows.map((r) => ({ node: r.node, gpu_uuid: r.gpu_uuid, xid: r.xid, events: num(r.n) }));
}

/** Notices whose action is still ahead, or passed less than the grace period ago. */
export async function readNotices(store: Store, now: number, cfg: AlertingConfig): Promise<CapacityNotice[]> {
  const rows = await store.queryRows<{ node: string; kind: string; provider: string; instance_id: string; action: string; action_ms: string }>(
    `SELECT node, kind, provider, instance_id, action,
            toUnixTimestamp64Milli(max(coalesce(action_at, ts))) AS action_ms
       FROM capacity_events FINAL
      WHERE kind IN {kinds:Array(String)} AND ts >= fromUnixTimestamp64Milli({since:Int64})
      GROUP BY node, kind, provider, instance_id, action
     HAVING action_ms >= {cutoff:Int64}
      LIMIT {limit:UInt32}`,
    // A notice comes at most a day or so ahead of its action (scheduled events); older ones are history.
    { kinds: CAPACITY_NOTICE_KINDS, since: now - 2 * 86_400_000, cutoff: now - cfg.notice_grace_ms, limit: cfg.max_series },
  );
  return rows.map((r) => ({ node: r.node, kind: r.kind, provider: r.provider, instance_id: r.instance_id, action: r.action, actionAtMs: num(r.action_ms) }));
}

/** Nodes whose newest node_up/node_down event is node_down. */
export async function readNodesDown(store: Store, now: number, cfg: AlertingConfig): Promise<string[]> {
  const rows = await store.queryRows<{ node: string }>(
    `SELECT node FROM capacity_events FINAL
      WHERE kind IN ('node_up', 'node_down') AND ts >= fromUnixTimestamp64Milli({since:Int64})
      GROUP BY node
     HAVING argMax(kind, ts) = 'node_down'
      LIMIT {limit:UInt32}`,
    { since: now - cfg.node_state_lookback_ms, limit: cfg.max_series },
  );
  return rows.map((r) => r.node);
}

export async function readSnapshot(store: Store, now: number, cfg: AlertingConfig, maxModels: number): Promise<Snapshot> {
  const [gpus, models, deadLetters, xids, notices, nodesDown] = await Promise.all([
    readGpus(store, now, cfg),
    readModels(store, now, cfg, maxModels),
    readDeadLetters(store, now, cfg),
    readXids(store, now, cfg),
    readNotices(store, now, cfg),
    readNodesDown(store, now, cfg),
  ]);
  return { gpus, models, deadLetters, xids, notices, nodesDown };
}
