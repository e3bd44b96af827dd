// The proxy's live view of its load: requests in flight and waiting per upstream and model, the
// models each Ollama upstream holds in memory, and when each upstream and model last saw a request.
// Autoscaling reads this (directly or through the gauges on /metrics); nothing here is persisted.

export interface LoadSnapshot {
  upstream: string;
  model: string;
  inflight: number;
  queued: number;
  /** Epoch milliseconds of the last request that arrived for this upstream and model. */
  lastRequestAt: number;
}

export interface ResidentModel {
  model: string;
  sizeBytes: number;
  sizeVramBytes: number;
  contextLength: number;
  /** Epoch milliseconds when the server will unload it; null when it never expires or did not say. */
  expiresAt: number | null;
}

export interface Residency {
  upstream: string;
  /** Epoch milliseconds of the last successful poll (0: never). */
  polledAt: number;
  /** Whether the last poll reached the server. */
  reachable: boolean;
  models: ResidentModel[];
}

/** One upstream and model's counts; the request path holds it to skip the keyed lookup. */
export interface Cell {
  upstream: string;
  model: string;
  inflight: number;
  queued: number;
  lastRequestAt: number;
}

export type StateListener = (upstream: string, model: string) => void;

export class ProxyState {
  private readonly cells = new Map<string, Cell>();
  private readonly resident = new Map<string, Residency>();
  private readonly listeners = new Set<StateListener>();
  /** Upstreams whose node has a pending interruption, until when (epoch ms). */
  private readonly drainingUntil = new Map<string, number>();

  /** Routes new requests away from this upstream until `untilMs` where another can serve them. */
  drainUntil(upstream: string, untilMs: number): void {
    this.drainingUntil.set(upstream, Math.max(untilMs, this.drainingUntil.get(upstream) ?? 0));
  }

  isDraining(upstream: string, at = Date.now()): boolean {
    const until = this.drainingUntil.get(upstream);
    if (until === undefined) return false;
    if (until > at) return true;
    this.drainingUntil.delete(upstream);
    return false;
  }

  /** The counts of one upstream and model, made on first use. */
  cell(upstream: string, model: string): Cell {
    const key = upstream + '\u0000' + model;
    let c = this.cells.get(key);
    if (!c) {
      c = { upstream, model, inflight: 0, queued: 0, lastRequestAt: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  /** A request arrived for this upstream and model. */
  arrived(upstream: string, model: string, at: number): void {
    this.cell(upstream, model).lastRequestAt = at;
  }

  queueDelta(upstream: string, model: string, delta: number): void {
    this.cell(upstream, model).queued += delta;
    this.emit(upstream, model);
  }

  inflightDelta(upstream: string, model: string, delta: number): void {
    this.cellInflightDelta(this.cell(upstream, model), delta);
  }

  /** inflightDelta on a cell already looked up. */
  cellInflightDelta(c: Cell, delta: number): void {
    c.inflight += delta;
    this.emit(c.upstream, c.model);
  }

  /** Requests in flight, summed over whatever the filter leaves. */
  inflight(upstream?: string, model?: string): number {
    let n = 0;
    for (const c of this.cells.values()) if ((upstream === undefined || c.upstream === upstream) && (model === undefined || c.model === model)) n += c.inflight;
    return n;
  }

  queued(upstream?: string, model?: string): number {
    let n = 0;
    for (const c of this.cells.values()) if ((upstream === undefined || c.upstream === upstream) && (model === undefined || c.model === model)) n += c.queued;
    return n;
  }

  snapshot(): LoadSnapshot[] {
    return [...this.cells.values()].map((c) => ({ ...c }));
  }

  setResidency(r: Residency): void {
    this.resident.set(r.upstream, r);
  }

  residency(upstream?: string): Residency[] {
    const all = [...this.resident.values()];
    return upstream === undefined ? all : all.filter((r) => r.upstream === upstream);
  }

  /** Called on every change of an in-flight or queued count (keep it cheap). */
  onChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(upstream: string, model: string): void {
    if (this.listeners.size === 0) return;
    for (const l of this.listeners) l(upstream, model);
  }
}

/** Keeps metric labels bounded: clients name models freely, and each name would be a new series. */
export class LabelCap {
  private readonly seen = new Set<string>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  label(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}
