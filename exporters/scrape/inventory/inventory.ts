// Writes a `node` record for every node at each refresh: from Kubernetes node labels when configured,
// else from the static list in the configuration. GPU model and count the source does not give are
// filled in from what dcgm-exporter reported for the node; in static mode, nodes seen only through
// dcgm-exporter get a record too (GPU facts only). It also teaches the node directory the names a
// node appears under (static aliases; exporter pods looked up in the Kubernetes API).
import { errorMessage } from '../../../collector/core/errors.ts';
import { isThisHost } from '../../../collector/core/node-name.ts';
import { once, type Component } from '../../../collector/core/lifecycle/component.ts';
import type { Logger } from '../../../collector/core/log.ts';
import type { RecordSink, SubmitResult } from '../../../collector/core/pipeline/pipeline.ts';
import type { NodeRecord } from '../../../collector/core/schema/tables.ts';
import type { InventoryConfig } from '../config.ts';
import type { ScrapeMetrics } from '../metrics.ts';
import { mixedGpuModels, type NodeDirectory } from './directory.ts';
import type { KubernetesNodes } from './kubernetes.ts';
import { nodeIdentity, type NodeIdentity } from './labels.ts';

export interface InventoryOptions {
  config: InventoryConfig;
  directory: NodeDirectory;
  sink: RecordSink;
  metrics: ScrapeMetrics;
  log: Logger;
  /** Present when the source is Kubernetes. */
  kubernetes?: KubernetesNodes;
  now?: () => number;
}

export function inventorySource(c: InventoryConfig): 'kubernetes' | 'static' {
  if (c.source === 'kubernetes') return 'kubernetes';
  if (c.source === 'static') return 'static';
  return c.kubernetes.enabled ? 'kubernetes' : 'static';
}

export class Inventory implements Component {
  readonly name = 'inventory';
  private readonly o: InventoryOptions;
  private readonly source: 'kubernetes' | 'static';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly now: () => number;

  constructor(o: InventoryOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.source = o.kubernetes ? 'kubernetes' : 'static';
    for (const n of o.config.nodes) for (const a of n.aliases) o.directory.addAlias(a, n.node);
    const k8s = o.kubernetes;
    if (k8s && o.config.kubernetes.resolve_exporter_pods) o.directory.setLookup((host) => k8s.nodeOfPod(host));
  }

  async start(): Promise<void> {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.config.refresh_ms);
    this.timer.unref();
  }

  /** Reads the inventory now and writes the node records. */
  refresh(): Promise<{ nodes: number; result?: SubmitResult }> {
    if (this.running) return this.running as Promise<{ nodes: number }>;
    const p = this.read()
      .then(async (ids) => {
        this.o.metrics.inventoryNodes.set({ source: this.source }, ids.length);
        const ts = this.now();
        // A node seen up stays up until the next refresh is due, with a minute to spare for a late timer.
        const upUntil = ts + this.o.config.refresh_ms + 60_000;
        const records: NodeRecord[] = ids.map(({ up, ...i }) => ({ ts, ...i, up_until: up ? upUntil : null }));
        const result = records.length ? await this.o.sink.submit('node', records, { source: 'scrape' }) : undefined;
        return { nodes: ids.length, result };
      })
      .catch((err: unknown) => {
        this.o.metrics.inventoryErrors.inc({ source: this.source });
        this.o.log.warn('node inventory read failed', { source: this.source, error: errorMessage(err) });
        return { nodes: 0 };
      })
      .finally(() => {
        this.running = undefined;
      });
    this.running = p;
    return p;
  }

  /** The node identities the configured source gives, with GPU facts filled from dcgm-exporter. */
  async read(): Promise<NodeIdentity[]> {
    const dir = this.o.directory;
    let ids: NodeIdentity[];
    if (this.o.kubernetes) {
      const tier = this.o.config.kubernetes.tier_label;
      ids = (await this.o.kubernetes.list()).filter((n) => n.name).map((n) => nodeIdentity(n, tier));
    } else {
      ids = this.o.config.nodes.map((n) => ({
        node: n.node,
        instance_type: n.instance_type,
        instance_id: n.instance_id,
        provider: n.provider,
        region: n.region,
        zone: n.zone,
        capacity_type: n.capacity_type,
        gpu_model: n.gpu_model,
        gpu_count: n.gpu_count ?? 0,
        pool: n.pool,
        tier: n.tier,
        labels: n.labels,
        // Listed is not running; only the machine llmeter runs on is known to be up.
        up: n.local || isThisHost(n.node),
      }));
      const known = new Set(ids.map((i) => i.node));
      for (const node of dir.nodesWithGpus()) {
        if (known.has(node)) continue;
        ids.push({
          node,
          instance_type: '',
          instance_id: '',
          provider: '',
          region: '',
          zone: '',
          capacity_type: 'on_demand',
          gpu_model: '',
          gpu_count: 0,
          pool: '',
          tier: '',
          labels: { source: 'dcgm' },
          // Its GPU samples are what shows it up.
          up: false,
        });
      }
      const countGiven = new Set(this.o.config.nodes.filter((n) => n.gpu_count !== undefined).map((n) => n.node));
      for (const i of ids) {
        const g = dir.gpusOf(i.node);
        if (g && !countGiven.has(i.node)) i.gpu_count = Math.min(g.gpuUuids.size, 65535);
      }
    }
    for (const i of ids) {
      const g = dir.gpusOf(i.node);
      if (g) {
        if (!i.gpu_model) i.gpu_model = g.gpuModel;
        if (!i.gpu_count) i.gpu_count = Math.min(g.gpuUuids.size, 65535);
        if (g.driverVersion) i.labels = { ...i.labels, 'nvidia.com/driver-version': g.driverVersion };
        // gpu_model holds one model; a node with several says which in a label.
        const mixed = mixedGpuModels(g);
        if (mixed) i.labels = { ...i.labels, 'llmeter.io/gpu-models': mixed };
      }
      if (!i.tier) i.tier = i.gpu_count > 0 ? 'premium' : 'standard';
    }
    return ids;
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    clearInterval(this.timer);
    await this.running;
  });
}
