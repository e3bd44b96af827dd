// ScalerMetrics from the scrapers' latest pages: vLLM's KV-cache usage and GPU utilisation, each the mean
// over the tier's fresh readings. The mean, not the max, because the HPA's arithmetic for a ratio
// (metricType Value: desired = ceil(replicas × value / target)) assumes the pool's average; a max
// would add replicas whenever one server runs hotter than the rest, which the proxy's routing already
// evens out. Readings older than the staleness bound are left out, and with none left the signal is
// unavailable rather than zero.
import type { LiveReading, LiveScrape, LiveTarget } from '../../../exporters/scrape/live.ts';
import { age, MetricUnavailable } from './errors.ts';

export interface ScrapedQuery {
  signal: 'kv_cache_usage' | 'gpu_utilization';
  tier: string;
  /** Keeps the readings that count for the tier (and model). */
  keep: (r: LiveReading, t: LiveTarget) => boolean;
  /** Fixed bound (autoscale.stale_after_ms); absent: twice each target's interval. */
  staleAfterMs: number | undefined;
  now: number;
  /** What was looked for, for the message when nothing matched. */
  looking: string;
}

export function freshMean(live: LiveScrape, kind: LiveTarget['kind'], q: ScrapedQuery): number {
  const targets = live.targetList(kind);
  if (targets.length === 0)
    throw new MetricUnavailable(q.signal, q.tier, `no ${kind} scrape target is configured in this collector (scrape.targets with kind: ${kind})`);
  let sum = 0;
  let n = 0;
  let matched = 0;
  let newest = Number.NEGATIVE_INFINITY;
  let bound = 0;
  for (const r of live.of(kind)) {
    const t = live.target(r.target);
    if (!t || !q.keep(r, t)) continue;
    matched++;
    const limit = q.staleAfterMs ?? 2 * t.intervalMs;
    if (q.now - r.at > limit) {
      if (r.at > newest) {
        newest = r.at;
        bound = limit;
      }
      continue;
    }
    sum += r.value;
    n++;
  }
  if (n > 0) return sum / n;
  if (matched === 0)
    throw new MetricUnavailable(q.signal, q.tier, `no reading for ${q.looking} from the ${kind} targets (${targets.map((t) => t.name).join(', ')})`);
  throw new MetricUnavailable(
    q.signal,
    q.tier,
    `readings are stale: the newest of ${matched} is ${age(q.now - newest)} old (bound ${age(bound)}); is the ${kind} target up?`,
  );
}
