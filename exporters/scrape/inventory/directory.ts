// Which node a name on a metrics page means, and which GPUs each node was seen with. dcgm-exporter's
// Hostname label is the exporter pod's name in many Kubernetes installs ("dcgm-exporter-lcxpl"), not
// the node: configured aliases, static node aliases and pods looked up in the Kubernetes API map it
// back. Lookups never block a scrape: an unknown name is queued for the inventory to resolve, and
// the name itself is used until then.
import type { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';

export interface GpuObservation {
  /** The model last reported on the node. */
  gpuModel: string;
  gpuUuids: Set<string>;
  /** Each GPU's own model and PCI bus id, by UUID: a node may hold GPUs of several models. */
  gpus: Map<string, { model: string; pciBusId: string }>;
  driverVersion: string;
  seenAt: number;
}

/** "2x NVIDIA L40S, 1x NVIDIA A10G" for a node with GPUs of several models; empty with one model. */
export function mixedGpuModels(o: GpuObservation): string {
  const counts = new Map<string, number>();
  for (const g of o.gpus.values()) if (g.model) counts.set(g.model, (counts.get(g.model) ?? 0) + 1);
  if (counts.size < 2) return '';
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([m, n]) => `${n}x ${m}`)
    .join(', ');
}

/** Asks an outside source (the Kubernetes API) what node a host name is; undefined when not a pod. */
export type HostLookup = (hostname: string) => Promise<string | undefined>;

export class NodeDirectory {
  private readonly aliases = new Map<string, string>();
  private readonly learned = new Map<string, string>();
  private readonly pending = new Set<string>();
  private readonly negative = new Map<string, number>();
  private readonly gpus = new Map<string, GpuObservation>();
  private lookup: HostLookup | undefined;
  private readonly retryMs: number;
  private readonly maxEntries: number;
  private readonly failures: BackgroundFailures | undefined;

  /** `failures`: where a lookup that failed (the API down, a pod list it may not read) is logged and counted. */
  constructor(aliases: Record<string, string> = {}, opts: { retryMs?: number; maxEntries?: number; failures?: BackgroundFailures } = {}) {
    for (const [k, v] of Object.entries(aliases)) this.aliases.set(k, v);
    this.retryMs = opts.retryMs ?? 300_000;
    this.maxEntries = opts.maxEntries ?? 50_000;
    this.failures = opts.failures;
  }

  addAlias(name: string, node: string): void {
    this.aliases.set(name, node);
  }

  setLookup(lookup: HostLookup | undefined): void {
    this.lookup = lookup;
  }

  /** The node a host name maps to, or undefined when unknown (a lookup may be started). */
  resolve(hostname: string, now = Date.now()): string | undefined {
    const a = this.aliases.get(hostname) ?? this.learned.get(hostname);
    if (a !== undefined) return a;
    if (this.lookup && !this.pending.has(hostname) && (this.negative.get(hostname) ?? 0) <= now) this.startLookup(hostname, now);
    return undefined;
  }

  private startLookup(hostname: string, now: number): void {
    const lookup = this.lookup;
    if (!lookup || this.pending.size > 1000) return;
    this.pending.add(hostname);
    lookup(hostname)
      .then((node) => {
        if (node) {
          if (this.learned.size >= this.maxEntries) this.learned.clear();
          this.learned.set(hostname, node);
        } else this.negative.set(hostname, now + this.retryMs);
      })
      .catch((err: unknown) => {
        // Asked again after retryMs, like a name that is no pod; meanwhile the name itself is used.
        this.negative.set(hostname, now + this.retryMs);
        this.failures?.report('node-directory', err, 'exporter pod lookup failed');
      })
      .finally(() => this.pending.delete(hostname));
  }

  /** Resolves once every lookup started so far has finished (tests, `--once`). */
  async settled(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  observeGpu(node: string, uuid: string, model: string, driver: string, now: number, pciBusId = ''): void {
    let o = this.gpus.get(node);
    if (!o) {
      if (this.gpus.size >= this.maxEntries) return;
      o = { gpuModel: model, gpuUuids: new Set(), gpus: new Map(), driverVersion: driver, seenAt: now };
      this.gpus.set(node, o);
    }
    o.gpuUuids.add(uuid);
    o.gpus.set(uuid, { model, pciBusId });
    if (model) o.gpuModel = model;
    if (driver) o.driverVersion = driver;
    o.seenAt = now;
  }

  gpusOf(node: string): GpuObservation | undefined {
    return this.gpus.get(node);
  }

  nodesWithGpus(): string[] {
    return [...this.gpus.keys()];
  }
}
