// Puts the scrape feature together from its configuration: one page handler per target (dcgm or
// vllm), the scraper that runs them, the node directory they share and the node inventory.
import { nodeOfUrl } from '../../collector/core/node-name.ts';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { BackgroundFailures } from '../../collector/core/lifecycle/background.ts';
import type { Logger } from '../../collector/core/log.ts';
import type { RecordSink } from '../../collector/core/pipeline/pipeline.ts';
import { DcgmMapper } from './dcgm/map.ts';
import { NodeDirectory } from './inventory/directory.ts';
import { Inventory, inventorySource } from './inventory/inventory.ts';
import { KubernetesNodes, kubeConfigFrom } from './inventory/kubernetes.ts';
import { VllmMapper } from './vllm/map.ts';
import type { ScrapeConfig, ScrapeTarget } from './config.ts';
import type { PageHandler } from './handler.ts';
import { ScrapeMetrics } from './metrics.ts';
import { LiveScrape, originOf } from './live.ts';
import { Scraper, type TargetSpec } from './scraper.ts';

export interface ScrapeParts {
  scraper: Scraper;
  directory: NodeDirectory;
  inventory: Inventory | undefined;
  metrics: ScrapeMetrics;
  /** The newest page of each target, for the autoscaling side. */
  live: LiveScrape;
}

export interface BuildOptions {
  config: ScrapeConfig;
  sink: RecordSink;
  registry: Registry;
  log: Logger;
  /** Where background lookups that failed are logged and counted. */
  failures?: BackgroundFailures;
  /** Build the inventory component (default: config.inventory.enabled). */
  inventory?: boolean;
  /** Where the newest pages go (default: a new one). */
  live?: LiveScrape;
  now?: () => number;
  random?: () => number;
}

/** The node the URL names (this host for a loopback URL), or '' when it does not parse (the target then has no fallback node name). */
function hostOf(url: string): string {
  try {
    return nodeOfUrl(new URL(url));
  } catch {
    return '';
  }
}

export function handlerFor(t: ScrapeTarget, c: ScrapeConfig, directory: NodeDirectory, startedAt: number): PageHandler {
  const fallbackNode = t.node ?? hostOf(t.url);
  if (t.kind === 'dcgm') {
    return new DcgmMapper({ target: t.name, node: t.node, fallbackNode, directory, maxSeries: c.max_series_per_target });
  }
  return new VllmMapper({
    server: t.name,
    node: fallbackNode,
    prefixes: c.vllm_prefixes,
    initial: c.counter_initial,
    startedAt,
    maxSeries: c.max_series_per_target,
  });
}

export function buildScrape(o: BuildOptions): ScrapeParts {
  const c = o.config;
  const now = o.now ?? Date.now;
  const startedAt = now();
  const metrics = new ScrapeMetrics(o.registry);
  const directory = new NodeDirectory(c.node_aliases, { failures: o.failures });
  const targets: TargetSpec[] = c.targets.map((t) => {
    const headers = { ...t.headers };
    if (t.bearer_token_file) headers.authorization = `Bearer ${readFileSync(t.bearer_token_file, 'utf8').trim()}`;
    return {
      name: t.name,
      url: t.url,
      intervalMs: t.interval_ms ?? c.interval_ms,
      timeoutMs: t.timeout_ms ?? c.timeout_ms,
      headers,
      handler: handlerFor(t, c, directory, startedAt),
    };
  });
  const live = o.live ?? new LiveScrape();
  const liveTarget = (t: TargetSpec) => ({ name: t.name, kind: t.handler.kind, origin: originOf(t.url), intervalMs: t.intervalMs });
  for (const t of targets) live.declare(liveTarget(t));
  const scraper = new Scraper({
    targets,
    observe: (t, batches, ts) => live.observe(liveTarget(t), batches, ts),
    sink: o.sink,
    metrics,
    log: o.log.child('scrape'),
    maxBodyBytes: c.max_body_bytes,
    jitterRatio: c.jitter_ratio,
    staleAfterMs: c.stale_after_ms,
    now,
    random: o.random,
  });
  let inventory: Inventory | undefined;
  if (o.inventory ?? c.inventory.enabled) {
    const k8s =
      inventorySource(c.inventory) === 'kubernetes'
        ? new KubernetesNodes(kubeConfigFrom(c.inventory.kubernetes), c.inventory.kubernetes.label_selector)
        : undefined;
    inventory = new Inventory({ config: c.inventory, directory, sink: o.sink, metrics, log: o.log.child('inventory'), kubernetes: k8s, now });
  }
  return { scraper, directory, inventory, metrics, live };
}
