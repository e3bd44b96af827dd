// A vLLM /metrics page → model_server_sample records: gauges as they are, counters and histogram
// parts (buckets, _sum, _count) as deltas since the previous scrape, per series, with resets
// detected. Deprecated names are stored under their current name; a page that exposes both (the
// transition releases do) keeps only the current one.
import type { ModelServerSampleRecord } from '../../../collector/core/schema/tables.ts';
import { CounterDeltas, type InitialPolicy } from '../prometheus/deltas.ts';
import { familyOf, parseValue, type Labels, type ParsedPage, type Sample } from '../prometheus/parse.ts';
import { bump, type MappedPage, type PageHandler } from '../handler.ts';
import { COLUMN_LABELS, VLLM_METRICS, VLLM_RENAMES } from './metrics.ts';

export interface VllmMapperOptions {
  server: string;
  node: string;
  prefixes: readonly string[];
  initial: InitialPolicy;
  startedAt: number;
  maxSeries: number;
}

type Part = 'gauge' | 'counter' | 'bucket' | 'sum' | 'count';

interface Classified {
  /** Stored metric name (after renames). */
  metric: string;
  /** The family the page names (before renames), for `_created` lookups and dedupe. */
  family: string;
  part: Part;
}

const KIND: Readonly<Record<Exclude<Part, 'gauge'>, ModelServerSampleRecord['kind']>> = {
  counter: 'counter_delta',
  bucket: 'histogram_bucket_delta',
  sum: 'histogram_sum_delta',
  count: 'histogram_count_delta',
};

// Stable text of a label set, cached per (shared, frozen) label object.
const labelKeys = new WeakMap<Labels, string>();
function labelKey(l: Labels): string {
  let k = labelKeys.get(l);
  if (k === undefined) {
    k = Object.keys(l)
      .filter((x) => x !== 'le')
      .sort()
      .map((x) => `${x}=${l[x]}`)
      .join(',');
    if (Object.isFrozen(l)) labelKeys.set(l, k);
  }
  return k;
}

function normaliseLe(le: string): string {
  const v = parseValue(le);
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  return Number.isFinite(v) ? String(v) : le;
}

export class VllmMapper implements PageHandler {
  readonly kind = 'vllm' as const;
  private readonly o: VllmMapperOptions;
  private readonly deltas: CounterDeltas;

  constructor(o: VllmMapperOptions) {
    this.o = o;
    this.deltas = new CounterDeltas({ initial: o.initial, startedAt: o.startedAt, maxSeries: o.maxSeries });
  }

  private wanted(name: string): boolean {
    for (const p of this.o.prefixes) if (name.startsWith(p)) return true;
    return false;
  }

  private classify(s: Sample, page: ParsedPage): Classified {
    const name = s.name;
    const family = familyOf(name, page.types);
    const declared = page.types.get(family);
    const histBase = name.replace(/_(bucket|sum|count)$/, '');
    const partOf = (n: string): Part => (n.endsWith('_bucket') ? 'bucket' : n.endsWith('_sum') ? 'sum' : 'count');
    let fam: string;
    let part: Part;
    if (declared === 'histogram') {
      fam = family;
      part = histBase !== name ? partOf(name) : 'gauge';
    } else if (declared === 'counter' || (declared === 'summary' && histBase !== name && !name.endsWith('_bucket'))) {
      // The stored name is the sample's (with _total), whether the TYPE line had the suffix or not.
      fam = name;
      part = 'counter';
    } else if (declared !== undefined) {
      fam = family;
      part = 'gauge';
    } else if (histBase !== name && (VLLM_METRICS[histBase] === 'histogram' || (name.endsWith('_bucket') && s.labels.le !== undefined))) {
      // A page filtered through grep lost its TYPE lines: the table (or `le`) says histogram.
      fam = histBase;
      part = partOf(name);
    } else {
      fam = name;
      part = VLLM_METRICS[name] === 'counter' || (VLLM_METRICS[name] === undefined && name.endsWith('_total')) ? 'counter' : 'gauge';
    }
    return { metric: VLLM_RENAMES[fam] ?? fam, family: fam, part };
  }

  map(page: ParsedPage, ts: number): MappedPage {
    const ignored = new Map<string, number>();
    const records: ModelServerSampleRecord[] = [];
    let resets = 0;
    // `_created` values by family + label set, and the current names present on this page.
    const created = new Map<string, number>();
    const present = new Set<string>();
    const wanted: Sample[] = [];
    for (const s of page.samples) {
      if (!this.wanted(s.name)) {
        bump(ignored, 'other_metric');
        continue;
      }
      if (s.name.endsWith('_created')) {
        created.set(`${s.name.slice(0, -8)}|${labelKey(s.labels)}`, s.value);
        continue;
      }
      wanted.push(s);
      present.add(familyOf(s.name, page.types));
      present.add(s.name.replace(/_(bucket|sum|count)$/, ''));
    }
    for (const s of wanted) {
      const c = this.classify(s, page);
      if (c.metric !== c.family && (present.has(c.metric) || present.has(c.metric.replace(/_total$/, '')))) {
        bump(ignored, 'deprecated_duplicate');
        continue;
      }
      const l = s.labels;
      const extra: Record<string, string> = {};
      for (const k in l) {
        if (COLUMN_LABELS.has(k)) continue;
        extra[k] = k === 'le' ? normaliseLe(l[k]!) : l[k]!;
      }
      if (c.metric !== c.family) {
        extra.deprecated_name = c.family;
        if (c.family.startsWith('vllm:gpu_prefix_cache_') && /blocks/i.test(page.help.get(familyOf(s.name, page.types)) ?? 'blocks')) extra.unit = 'blocks';
      }
      const base = { ts, server: this.o.server, node: this.o.node, model: l.model_name ?? '', engine: l.engine ?? '', metric: c.metric, labels: extra };
      if (c.part === 'gauge') {
        if (!Number.isFinite(s.value)) {
          bump(ignored, 'not_finite');
          continue;
        }
        records.push({ ...base, kind: 'gauge', value: s.value });
        continue;
      }
      if (!Number.isFinite(s.value)) {
        bump(ignored, 'not_finite');
        continue;
      }
      const familyForCreated = c.part === 'counter' ? s.name.replace(/_total$/, '') : c.family;
      const createdSec = created.get(`${familyForCreated}|${labelKey(l)}`);
      const key = `${s.name}|${labelKey(l)}|${l.le ?? ''}`;
      const r = this.deltas.next(key, s.value, ts, createdSec);
      if (r.kind === 'first_dropped') {
        bump(ignored, 'first_sight');
        continue;
      }
      if (r.kind === 'series_limit') {
        bump(ignored, 'series_limit');
        continue;
      }
      if (r.reset) resets++;
      records.push({ ...base, kind: KIND[c.part], value: r.delta });
    }
    return { batches: [{ signal: 'model_server_sample', records }], ignored, resets };
  }

  forget(before: number): void {
    this.deltas.forget(before);
  }

  trackedSeries(): number {
    return this.deltas.size;
  }
}
