// The machine llmeter runs on, as a node of the fleet, when nothing else inventories it: `llmeter
// proxy` (or a collector) in front of a model server on this host, with no configuration, still
// knows what its requests ran on. Its GPUs come from nvidia-smi where the NVIDIA driver is installed;
// without it, it is a CPU node. It is up while llmeter runs, so each record stands until the next.
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import type { BackgroundFailures } from '../../../collector/core/lifecycle/background.ts';
import { once, type Component } from '../../../collector/core/lifecycle/component.ts';
import type { RecordSink } from '../../../collector/core/pipeline/pipeline.ts';
import type { NodeRecord } from '../../../collector/core/schema/tables.ts';
import type { LocalHostConfig } from '../config.ts';

export interface LocalGpus {
  count: number;
  /** GPUs by model, most numerous first. */
  models: [string, number][];
}

/** Runs `nvidia-smi` with `args`; rejects when it cannot run (no driver) or fails. */
export type NvidiaSmi = (args: readonly string[]) => Promise<string>;

const runNvidiaSmi: NvidiaSmi = (args) =>
  new Promise((resolve, reject) => {
    execFile('nvidia-smi', args, { timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });

/**
 * The GPUs nvidia-smi lists (`--query-gpu=index,name --format=csv,noheader`: one "0, NVIDIA A100-SXM4-80GB"
 * line per GPU); none when nvidia-smi is not installed or answers nothing usable.
 */
export async function localGpus(smi: NvidiaSmi = runNvidiaSmi): Promise<LocalGpus> {
  let out: string;
  try {
    out = await smi(['--query-gpu=index,name', '--format=csv,noheader']);
  } catch {
    // No NVIDIA driver (or no GPU it can see): a CPU node, which is what this host is then.
    return { count: 0, models: [] };
  }
  const byModel = new Map<string, number>();
  let count = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*\d+\s*,\s*(.+?)\s*$/.exec(line);
    if (!m) continue;
    count++;
    byModel.set(m[1]!, (byModel.get(m[1]!) ?? 0) + 1);
  }
  return { count, models: [...byModel].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])) };
}

/** This host's node record at `ts`, up until the next refresh is due. */
export function localHostRecord(c: LocalHostConfig, gpus: LocalGpus, ts: number, refreshMs: number, host = hostname()): NodeRecord {
  const labels: Record<string, string> = { source: 'local-host' };
  if (gpus.models.length > 1) labels['llmeter.io/gpu-models'] = gpus.models.map(([m, n]) => `${n}x ${m}`).join(', ');
  return {
    ts,
    node: c.node || host,
    // A machine of your own is priced by a name of its own (a price book entry for it).
    instance_type: c.instance_type || c.node || host,
    provider: c.provider,
    region: c.region,
    zone: c.zone,
    capacity_type: c.capacity_type,
    gpu_model: gpus.models[0]?.[0] ?? '',
    gpu_count: Math.min(gpus.count, 65535),
    pool: c.pool,
    tier: c.tier || (gpus.count > 0 ? 'premium' : 'standard'),
    labels,
    up_until: ts + refreshMs + 60_000,
  };
}

export interface LocalHostOptions {
  config: LocalHostConfig;
  refreshMs: number;
  sink: RecordSink;
  failures: BackgroundFailures;
  smi?: NvidiaSmi;
  now?: () => number;
}

export class LocalHostInventory implements Component {
  readonly name = 'local-host-inventory';
  private readonly o: LocalHostOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private gpus: Promise<LocalGpus> | undefined;

  constructor(o: LocalHostOptions) {
    this.o = o;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    this.timer.unref();
  }

  /** Writes this host's node record now (its GPUs are read once: they do not change while it runs). */
  refresh(): Promise<void> {
    this.running ??= (async () => {
      this.gpus ??= localGpus(this.o.smi);
      const record = localHostRecord(this.o.config, await this.gpus, (this.o.now ?? Date.now)(), this.o.refreshMs);
      const r = await this.o.sink.submit('node', [record], { source: 'scrape' });
      await r.durable;
    })()
      .catch(this.o.failures.handler(this.name, 'local host inventory failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    clearInterval(this.timer);
    await this.running;
  });
}
