// A dcgm-exporter page → gpu_sample records (one per GPU or MIG slice, field and scrape, in one unit
// per field) and `xid` capacity events.
//
// - Time-sliced GPUs: the exporter repeats a GPU's series once per pod sharing it, with the same
//   whole-GPU value. One row is kept per (GPU, MIG slice, field); the pods are listed in it,
//   comma-separated, so nothing is counted twice.
// - MIG slices have no DCGM_FI_DEV_GPU_UTIL: the derived `utilization` field (ratio) is GPU_UTIL where
//   the exporter has it and the profiling engine-active field (DCGM_FI_PROF_GR_ENGINE_ACTIVE) where
//   it does not, so every GPU and slice has one utilisation series.
// - XID: DCGM_FI_DEV_XID_ERRORS is the last XID seen, not a count. An event is written when it
//   changes to a non-zero value (and once at first sight of a non-zero value). Where the exporter has
//   DCGM_EXP_XID_ERRORS_COUNT (per-XID counts in a window), events come from its increases instead.
import type { CapacityEventRecord, GpuSampleRecord } from '../../../collector/core/schema/tables.ts';
import type { NodeDirectory } from '../inventory/directory.ts';
import { familyOf, type ParsedPage } from '../prometheus/parse.ts';
import { bump, type MappedPage, type PageHandler } from '../handler.ts';
import { resolveField } from './fields.ts';
import { identityOf, type GpuIdentity } from './identity.ts';
import { CONVERSIONS, isBlankSentinel, sourceUnitOf, type StoredUnit } from './units.ts';

export interface DcgmMapperOptions {
  /** Target name (for the event detail). */
  target: string;
  /** Configured node of the target; wins over the page's Hostname. */
  node?: string;
  /** Used when the page has no Hostname label and no node is configured (the target's host). */
  fallbackNode: string;
  directory: NodeDirectory;
  maxSeries: number;
}

interface XidState {
  value: number;
  seen: number;
}

interface RowAttribution {
  /** namespace/pod/container of each series merged into the row. */
  keys: Set<string>;
  namespaces: Set<string>;
  pods: Set<string>;
  containers: Set<string>;
}

const podKey = (p: { namespace: string; pod: string; container: string }) => `${p.namespace}\u0001${p.pod}\u0001${p.container}`;

const XID_FIELD = 'xid_errors';
const XID_COUNT_FIELD = 'exp_xid_errors_count';
const EXTRA_LABEL_FIELDS = new Set([XID_COUNT_FIELD, 'exp_clock_events_count', 'exp_gpu_health_status']);

/** `.48` for `window_size_in_ms=300000,xid=48`: the values that tell the series apart. */
function extraSuffix(extra: string): string {
  let out = '';
  for (const kv of extra.split(',')) {
    const eq = kv.indexOf('=');
    if (kv.slice(0, eq) === 'window_size_in_ms') continue;
    out += '.' + kv.slice(eq + 1);
  }
  return out;
}

export class DcgmMapper implements PageHandler {
  readonly kind = 'dcgm' as const;
  private readonly o: DcgmMapperOptions;
  private readonly xidLast = new Map<string, XidState>();
  private readonly xidCounts = new Map<string, XidState>();

  constructor(o: DcgmMapperOptions) {
    this.o = o;
  }

  /** Starts node lookups for the page's host names and waits briefly for the answers. */
  async prepare(page: ParsedPage): Promise<void> {
    if (this.o.node) return;
    let unknown = false;
    const seen = new Set<string>();
    for (const s of page.samples) {
      const h = identityOf(s.labels).hostname;
      if (!h || seen.has(h)) continue;
      seen.add(h);
      if (this.o.directory.resolve(h) === undefined) unknown = true;
    }
    if (unknown) await this.o.directory.settled(2000);
  }

  map(page: ParsedPage, ts: number): MappedPage {
    const ignored = new Map<string, number>();
    const rows: GpuSampleRecord[] = [];
    // Row of each (entity, field): nested maps keyed by the label set's own strings, whose hashes V8
    // keeps on the string, rather than a concatenated key hashed afresh for every sample.
    const rowIndex = new Map<string, Map<string, number>>();
    const attributions = new Map<number, RowAttribution>();
    const units = new Map<string, readonly [StoredUnit, number]>();
    const nodes = new Map<string, string>();
    const hasXidCount = page.samples.some((s) => s.name === 'DCGM_EXP_XID_ERRORS_COUNT');
    const events: CapacityEventRecord[] = [];
    const observed = new Set<string>();
    const dir = this.o.directory;

    for (const s of page.samples) {
      const rf = resolveField(s.name);
      if (!rf) {
        bump(ignored, 'other_metric');
        continue;
      }
      const v = s.value;
      if (!Number.isFinite(v)) {
        bump(ignored, 'not_finite');
        continue;
      }
      if (isBlankSentinel(v)) {
        bump(ignored, 'blank_sentinel');
        continue;
      }
      const id = identityOf(s.labels);
      if (!id.uuid) {
        bump(ignored, id.nonGpu ? 'non_gpu_entity' : 'unknown_gpu');
        continue;
      }
      let conv = units.get(s.name);
      if (!conv) {
        const src = sourceUnitOf(page.help.get(familyOf(s.name, page.types)), rf.suffixUnit ?? rf.def.unit);
        conv = CONVERSIONS[src];
        units.set(s.name, conv);
      }
      let node = nodes.get(id.hostname);
      if (node === undefined) {
        node = this.nodeFor(id.hostname, ts);
        nodes.set(id.hostname, node);
      }
      let field = rf.def.field;
      // Labels beyond the GPU's identity tell an exporter metric's series apart (xid="48"), and
      // may do so for a field the table does not know: they stay in the field name.
      if ((rf.unknown || EXTRA_LABEL_FIELDS.has(field)) && id.extra) field += extraSuffix(id.extra);
      const value = conv[1] === 1 ? v : v * conv[1];

      const entity = id.entity;
      let fields = rowIndex.get(entity);
      if (!fields) rowIndex.set(entity, (fields = new Map()));
      const at = fields.get(field);
      if (at !== undefined) {
        // The same GPU field again: another pod sharing a time-sliced GPU, or the same series
        // repeated (differing only in labels that are not stored), whose first value is kept.
        bump(ignored, this.attribute(attributions, rows, at, id) ? 'shared_gpu_duplicate' : 'duplicate_series');
        continue;
      }
      fields.set(field, rows.length);
      // One literal shape for every row (gpu_index undefined when absent reads as absent), instead of
      // a spread that builds a second object per sample.
      rows.push({
        ts,
        node,
        gpu_uuid: id.uuid,
        gpu_index: id.index,
        gpu_model: id.model,
        mig_instance: id.migInstance,
        mig_profile: id.migProfile,
        field,
        value,
        unit: conv[0],
        namespace: id.namespace,
        pod: id.pod,
        container: id.container,
        pci_bus_id: id.pciBusId,
      });
      if (!observed.has(id.uuid)) {
        observed.add(id.uuid);
        dir.observeGpu(node, id.uuid, id.model, id.driver, ts, id.pciBusId);
      }
      if (field === XID_FIELD && !hasXidCount) this.xidFromGauge(events, entity, node, id, v, ts, s.name, ignored);
      else if (rf.def.field === XID_COUNT_FIELD) this.xidFromCount(events, `${entity}|${field}`, node, id, v, ts, ignored);
    }

    for (const [at, a] of attributions) {
      const r = rows[at]!;
      r.namespace = [...a.namespaces].sort().join(',');
      r.pod = [...a.pods].sort().join(',');
      r.container = [...a.containers].sort().join(',');
    }
    return {
      batches: [
        { signal: 'gpu_sample', records: byGpu(rows, rowIndex, ts) },
        { signal: 'capacity_event', records: events },
      ],
      ignored,
      resets: 0,
    };
  }

  private nodeFor(hostname: string, ts: number): string {
    if (this.o.node) return this.o.node;
    if (!hostname) return this.o.fallbackNode;
    return this.o.directory.resolve(hostname, ts) ?? hostname;
  }

  /** Adds another series' pod to a row; false when the row has that pod already (a repeated series). */
  private attribute(attributions: Map<number, RowAttribution>, rows: GpuSampleRecord[], at: number, id: GpuIdentity): boolean {
    let a = attributions.get(at);
    if (!a) {
      const r = { namespace: rows[at]!.namespace ?? '', pod: rows[at]!.pod ?? '', container: rows[at]!.container ?? '' };
      a = { keys: new Set([podKey(r)]), namespaces: new Set(), pods: new Set(), containers: new Set() };
      if (r.namespace) a.namespaces.add(r.namespace);
      if (r.pod) a.pods.add(r.pod);
      if (r.container) a.containers.add(r.container);
    }
    const k = podKey(id);
    if (a.keys.has(k)) return false;
    attributions.set(at, a);
    a.keys.add(k);
    if (id.namespace) a.namespaces.add(id.namespace);
    if (id.pod) a.pods.add(id.pod);
    if (id.container) a.containers.add(id.container);
    return true;
  }

  private xidFromGauge(
    events: CapacityEventRecord[],
    entity: string,
    node: string,
    id: GpuIdentity,
    xid: number,
    ts: number,
    metric: string,
    ignored: Map<string, number>,
  ): void {
    const prev = this.xidLast.get(entity);
    if (!prev && this.xidLast.size >= this.o.maxSeries) {
      bump(ignored, 'series_limit');
      return;
    }
    this.xidLast.set(entity, { value: xid, seen: ts });
    if (xid === 0 || prev?.value === xid) return;
    const suffix = prev ? String(ts) : 'first';
    events.push(this.event(node, id, xid, `${entity}:${xid}:${suffix}`, ts, { metric, previous: prev?.value ?? null }));
  }

  private xidFromCount(
    events: CapacityEventRecord[],
    key: string,
    node: string,
    id: GpuIdentity,
    count: number,
    ts: number,
    ignored: Map<string, number>,
  ): void {
    const prev = this.xidCounts.get(key);
    if (!prev && this.xidCounts.size >= this.o.maxSeries) {
      bump(ignored, 'series_limit');
      return;
    }
    this.xidCounts.set(key, { value: count, seen: ts });
    const xid = Number(/(?:^|,)xid=(\d+)/.exec(id.extra)?.[1] ?? NaN);
    if (!Number.isFinite(xid)) return;
    const added = prev ? count - prev.value : count;
    if (added <= 0) return;
    events.push(
      this.event(node, id, xid, `${id.entity}:${xid}:${prev ? ts : 'first'}`, ts, { metric: 'DCGM_EXP_XID_ERRORS_COUNT', count: added, window_count: count }),
    );
  }

  private event(node: string, id: GpuIdentity, xid: number, idTail: string, ts: number, more: Record<string, unknown>): CapacityEventRecord {
    return {
      ts,
      event_id: `xid:${node}:${idTail}`.slice(0, 256),
      kind: 'xid',
      node,
      action: `xid_${xid}`,
      detail: JSON.stringify({
        xid,
        gpu_uuid: id.uuid,
        gpu_index: id.index ?? null,
        gpu_model: id.model,
        mig_instance: id.migInstance,
        namespace: id.namespace,
        pod: id.pod,
        target: this.o.target,
        ...more,
      }),
    };
  }

  forget(before: number): void {
    for (const m of [this.xidLast, this.xidCounts]) for (const [k, s] of m) if (s.seen < before) m.delete(k);
  }

  trackedSeries(): number {
    return this.xidLast.size + this.xidCounts.size;
  }
}

/**
 * The rows grouped by GPU or slice (a page lists them field by field), each group followed by its
 * derived `utilization` row (ratio): GPU_UTIL, else the engine-active field. Grouped, one GPU's rows
 * differ only in field, value and unit, and the store sends them as one line.
 */
function byGpu(rows: readonly GpuSampleRecord[], index: Map<string, Map<string, number>>, ts: number): GpuSampleRecord[] {
  const out: GpuSampleRecord[] = [];
  for (const fields of index.values()) {
    for (const at of fields.values()) out.push(rows[at]!);
    const at = fields.get('gpu_util') ?? fields.get('prof_gr_engine_active');
    if (at !== undefined) out.push({ ...rows[at]!, ts, field: 'utilization', unit: 'ratio' });
  }
  return out;
}
