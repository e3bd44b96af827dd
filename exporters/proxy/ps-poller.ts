// Model residency: polls each Ollama upstream's /api/ps and turns every resident model into a
// model_state record (which model holds how much VRAM until when), and into ProxyState for the
// live view. vLLM serves one model for its whole life, so only Ollama upstreams are polled.
import { errorMessage } from '../../collector/core/errors.ts';
import { once, type Component } from '../../collector/core/lifecycle/component.ts';
import type { Logger } from '../../collector/core/log.ts';
import type { RecordSink } from '../../collector/core/pipeline/pipeline.ts';
import type { ModelStateRecord } from '../../collector/core/schema/tables.ts';
import type { ProxyMetrics } from './metrics.ts';
import { ollamaModelName } from './model-name.ts';
import type { ProxyState, ResidentModel } from './state.ts';
import type { Upstream } from './upstreams.ts';

// Ollama writes a far-future expiry for keep_alive < 0 ("never"); the schema stores 2000..2100.
const MAX_TIME = 4102444800000;
const MIN_TIME = 946684800000;

export interface PsPollerOptions {
  upstreams: readonly Upstream[];
  intervalMs: number;
  sink: RecordSink;
  state: ProxyState;
  metrics: ProxyMetrics;
  log: Logger;
}

interface PsModel {
  name?: unknown;
  model?: unknown;
  size?: unknown;
  size_vram?: unknown;
  digest?: unknown;
  expires_at?: unknown;
  context_length?: unknown;
}

export function parseExpiry(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms >= MIN_TIME && ms < MAX_TIME ? ms : null;
}

function uint(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

/** The models of one /api/ps answer, as records and as the live view. */
export function psToRecords(body: unknown, upstream: Upstream, ts: number): { records: ModelStateRecord[]; models: ResidentModel[] } {
  const list = typeof body === 'object' && body !== null ? (body as { models?: unknown }).models : undefined;
  const records: ModelStateRecord[] = [];
  const models: ResidentModel[] = [];
  if (!Array.isArray(list)) return { records, models };
  for (const raw of list as PsModel[]) {
    const given = typeof raw.model === 'string' ? raw.model : typeof raw.name === 'string' ? raw.name : '';
    if (!given) continue;
    // Ollama shows the canonical form already; other servers that answer /api/ps may not.
    const name = ollamaModelName(given);
    const m: ResidentModel = {
      model: name,
      sizeBytes: uint(raw.size),
      sizeVramBytes: uint(raw.size_vram),
      contextLength: uint(raw.context_length),
      expiresAt: parseExpiry(raw.expires_at),
    };
    models.push(m);
    records.push({
      ts,
      server: upstream.name,
      node: upstream.node,
      model: name,
      digest: typeof raw.digest === 'string' ? raw.digest : '',
      size_bytes: m.sizeBytes,
      size_vram_bytes: m.sizeVramBytes,
      context_length: m.contextLength,
      expires_at: m.expiresAt,
    });
  }
  return { records, models };
}

export class PsPoller implements Component {
  readonly name = 'proxy-ps';
  private readonly o: PsPollerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly submits = new Set<Promise<unknown>>();

  constructor(o: PsPollerOptions) {
    this.o = o;
  }

  async start(): Promise<void> {
    if (this.o.intervalMs <= 0 || this.targets().length === 0) return;
    this.running = this.pollAll();
    this.timer = setInterval(() => {
      this.running ??= this.pollAll().finally(() => (this.running = undefined));
    }, this.o.intervalMs);
    this.timer.unref();
    // The first poll runs in the background; start-up does not wait on an upstream that is down.
    void this.running.finally(() => (this.running = undefined));
  }

  private targets(): readonly Upstream[] {
    return this.o.upstreams.filter((u) => u.kind === 'ollama');
  }

  /** Polls every Ollama upstream once (exported for tests and `forceFlush`). */
  async pollAll(): Promise<void> {
    await Promise.all(this.targets().map((u) => this.poll(u)));
  }

  private async poll(u: Upstream): Promise<void> {
    const ts = Date.now();
    try {
      const res = await u.pool.request({
        method: 'GET',
        path: `${u.basePath}/api/ps`,
        headers: u.authorization ? { authorization: u.authorization } : {},
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`/api/ps answered ${res.statusCode}`);
      const { records, models } = psToRecords(JSON.parse(text), u, ts);
      this.o.state.setResidency({ upstream: u.name, polledAt: ts, reachable: true, models });
      if (records.length) {
        const p = this.o.sink.submit('model_state', records, { source: 'proxy' }, { onFull: 'drop' });
        this.submits.add(p);
        await p.finally(() => this.submits.delete(p));
      }
    } catch (err) {
      this.o.metrics.pollErrors.inc({ upstream: u.name });
      const prev = this.o.state.residency(u.name)[0];
      this.o.state.setResidency({ upstream: u.name, polledAt: prev?.polledAt ?? 0, reachable: false, models: prev?.models ?? [] });
      this.o.log.debug('/api/ps poll failed', { upstream: u.name, error: errorMessage(err) });
    }
  }

  async forceFlush(): Promise<void> {
    await this.running;
    await Promise.all([...this.submits]);
  }

  shutdown = once(async () => {
    clearInterval(this.timer);
    await this.running;
    await Promise.all([...this.submits]);
  });
}
