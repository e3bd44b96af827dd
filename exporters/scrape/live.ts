// The latest scraped values the autoscaling signals read, kept in memory as the scraper maps each
// page: vLLM's KV-cache usage per server, engine and model, and each GPU's (or MIG slice's)
// utilisation per node. Reading them here keeps ClickHouse off the autoscaler's path. A page replaces
// everything its target said before, so a GPU or engine that left the page leaves the view; a target
// that stops answering keeps its last values with their scrape time, and readers judge freshness.
import type { SignalBatch } from './handler.ts';

/** vLLM's KV-cache gauge as the mapper stores it (the V0 `vllm:gpu_cache_usage_perc` is renamed to it). */
export const KV_CACHE_METRIC = 'vllm:kv_cache_usage_perc';
/** The DCGM mapper's derived field: GPU_UTIL, or the engine-active field on MIG slices (ratio). */
export const UTILIZATION_FIELD = 'utilization';

export interface LiveTarget {
  name: string;
  kind: 'dcgm' | 'vllm';
  /** host:port of the metrics URL (vLLM serves its API on the same one). */
  origin: string;
  intervalMs: number;
}

export interface LiveReading {
  target: string;
  node: string;
  /** vLLM model_name; '' for GPUs. */
  model: string;
  /** The series within its target: vLLM engine, or GPU UUID[/MIG instance]. */
  series: string;
  /** Ratio 0..1. */
  value: number;
  /** Scrape time (epoch ms). */
  at: number;
}

/** host:port of a URL ('' when it does not parse), the key that ties a scrape target to a proxy upstream. */
export function originOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    return '';
  }
}

export class LiveScrape {
  private readonly targets = new Map<string, LiveTarget>();
  private readonly readings = new Map<string, LiveReading[]>();

  /** Makes a configured target known before its first page, so readers can tell "none" from "not yet". */
  declare(t: LiveTarget): void {
    this.targets.set(t.name, t);
  }

  /** The records one page of `target` mapped to, scraped at `ts`. */
  observe(t: LiveTarget, batches: readonly SignalBatch[], ts: number): void {
    this.targets.set(t.name, t);
    const out: LiveReading[] = [];
    for (const b of batches) {
      if (b.signal === 'model_server_sample') {
        for (const r of b.records) {
          if (r.metric !== KV_CACHE_METRIC || r.kind !== 'gauge' || typeof r.value !== 'number') continue;
          out.push({ target: t.name, node: r.node ?? '', model: r.model ?? '', series: r.engine ?? '', value: r.value, at: ts });
        }
      } else if (b.signal === 'gpu_sample') {
        for (const r of b.records) {
          if (r.field !== UTILIZATION_FIELD || typeof r.value !== 'number') continue;
          const series = r.mig_instance ? `${r.gpu_uuid}/${r.mig_instance}` : String(r.gpu_uuid ?? '');
          out.push({ target: t.name, node: r.node ?? '', model: '', series, value: r.value, at: ts });
        }
      }
    }
    this.readings.set(t.name, out);
  }

  targetList(kind?: LiveTarget['kind']): LiveTarget[] {
    return [...this.targets.values()].filter((t) => kind === undefined || t.kind === kind);
  }

  target(name: string): LiveTarget | undefined {
    return this.targets.get(name);
  }

  /** Readings of the targets of one kind, newest page of each. */
  of(kind: LiveTarget['kind']): LiveReading[] {
    const out: LiveReading[] = [];
    for (const [name, rs] of this.readings) if (this.targets.get(name)?.kind === kind) out.push(...rs);
    return out;
  }
}
