// The alert-facing gauges on the collector's registry. Each refresh replaces every gauge's series
// with the snapshot's, in one synchronous step, so a scrape never sees half an update and a GPU or
// model that left the window disappears (its alert resolves) instead of keeping its last value.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { STORE_GAUGES as N } from './metric-names.ts';
import { memoryUsedRatio, type Snapshot } from './queries.ts';

const GPU_LABELS = ['node', 'gpu', 'gpu_uuid', 'gpu_model', 'mig_instance'] as const;

export class AlertGauges {
  private readonly gpuTemperature: Gauge;
  private readonly gpuMemoryUsed: Gauge;
  private readonly gpuLastSample: Gauge;
  private readonly gpuXid: Gauge;
  private readonly modelRequests: Gauge;
  private readonly modelLatencyP95: Gauge;
  private readonly modelTtftP95: Gauge;
  private readonly modelErrorRatio: Gauge;
  private readonly modelQueueFull: Gauge;
  private readonly deadLetters: Gauge;
  private readonly capacityNotice: Gauge;
  private readonly nodeDown: Gauge;
  readonly refreshSeconds: Histogram;
  readonly refreshFailures: Counter;
  readonly lastRefresh: Gauge;
  private readonly maxSeries: number;
  /** Series left out because a gauge reached max_series in the last refresh. */
  truncated = 0;

  constructor(registry: Registry, maxSeries: number) {
    const registers = [registry];
    this.maxSeries = maxSeries;
    this.gpuTemperature = new Gauge({
      name: N.gpuTemperature,
      help: 'Newest GPU temperature in the store (gpu_metrics field gpu_temp).',
      labelNames: GPU_LABELS,
      registers,
    });
    this.gpuMemoryUsed = new Gauge({
      name: N.gpuMemoryUsedRatio,
      help: 'Newest share of GPU frame buffer in use (0-1) in the store.',
      labelNames: GPU_LABELS,
      registers,
    });
    this.gpuLastSample = new Gauge({
      name: N.gpuLastSample,
      help: 'Unix time of the newest sample of the GPU in the store.',
      labelNames: GPU_LABELS,
      registers,
    });
    this.gpuXid = new Gauge({
      name: N.gpuXidEvents,
      help: 'XID events per GPU and code in the XID window (capacity_events kind=xid).',
      labelNames: ['node', 'gpu_uuid', 'xid'],
      registers,
    });
    this.modelRequests = new Gauge({
      name: N.modelRequests,
      help: 'Requests per model in the request window (llm_requests).',
      labelNames: ['model'],
      registers,
    });
    this.modelLatencyP95 = new Gauge({
      name: N.modelLatencyP95,
      help: 'p95 of request duration per model over the request window, seconds.',
      labelNames: ['model'],
      registers,
    });
    this.modelTtftP95 = new Gauge({
      name: N.modelTtftP95,
      help: 'p95 of time to first token per model over the request window, seconds.',
      labelNames: ['model'],
      registers,
    });
    this.modelErrorRatio = new Gauge({
      name: N.modelErrorRatio,
      help: 'Share of requests per model that failed (5xx, stream error, upstream down, timeout) over the request window.',
      labelNames: ['model'],
      registers,
    });
    this.modelQueueFull = new Gauge({
      name: N.modelQueueFull,
      help: 'Requests per model refused with 503 queue_full over the request window.',
      labelNames: ['model'],
      registers,
    });
    this.deadLetters = new Gauge({
      name: N.deadLetters,
      help: 'Rows in dead_letters per signal over the dead-letter window (all writers, not only this process).',
      labelNames: ['signal'],
      registers,
    });
    this.capacityNotice = new Gauge({
      name: N.capacityNotice,
      help: 'Unix time a pending spot interruption / preemption / rebalance / scheduled event takes effect.',
      labelNames: ['node', 'kind', 'provider', 'instance_id', 'action'],
      registers,
    });
    this.nodeDown = new Gauge({ name: N.nodeDown, help: '1 for a node whose newest node_up/node_down event is node_down.', labelNames: ['node'], registers });
    this.refreshSeconds = new Histogram({
      name: N.refreshSeconds,
      help: 'Time to recompute the alert-facing gauges from the store.',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.refreshFailures = new Counter({
      name: N.refreshFailures,
      help: 'Refreshes of the alert-facing gauges that failed (the previous values stay).',
      registers,
    });
    this.lastRefresh = new Gauge({ name: N.lastRefresh, help: 'Unix time of the last successful refresh of the alert-facing gauges.', registers });
  }

  apply(s: Snapshot, now: number): void {
    this.truncated = 0;
    const all = [
      this.gpuTemperature,
      this.gpuMemoryUsed,
      this.gpuLastSample,
      this.gpuXid,
      this.modelRequests,
      this.modelLatencyP95,
      this.modelTtftP95,
      this.modelErrorRatio,
      this.modelQueueFull,
      this.deadLetters,
      this.capacityNotice,
      this.nodeDown,
    ];
    for (const g of all) g.reset();
    for (const gpu of this.bounded(s.gpus)) {
      const labels = { node: gpu.node, gpu: gpu.gpu, gpu_uuid: gpu.gpu_uuid, gpu_model: gpu.gpu_model, mig_instance: gpu.mig_instance };
      if (gpu.fields.gpu_temp !== undefined) this.gpuTemperature.set(labels, gpu.fields.gpu_temp);
      const mem = memoryUsedRatio(gpu.fields);
      if (mem !== undefined) this.gpuMemoryUsed.set(labels, mem);
      this.gpuLastSample.set(labels, gpu.lastMs / 1000);
    }
    for (const x of this.bounded(s.xids)) this.gpuXid.set({ node: x.node, gpu_uuid: x.gpu_uuid, xid: x.xid }, x.events);
    for (const m of this.bounded(s.models)) {
      this.modelRequests.set({ model: m.model }, m.requests);
      this.modelLatencyP95.set({ model: m.model }, m.p95Seconds);
      if (m.ttftP95Seconds !== null) this.modelTtftP95.set({ model: m.model }, m.ttftP95Seconds);
      this.modelErrorRatio.set({ model: m.model }, m.requests > 0 ? m.errors / m.requests : 0);
      this.modelQueueFull.set({ model: m.model }, m.queueFull);
    }
    for (const d of this.bounded(s.deadLetters)) this.deadLetters.set({ signal: d.signal }, d.rows);
    for (const n of this.bounded(s.notices)) {
      this.capacityNotice.set({ node: n.node, kind: n.kind, provider: n.provider, instance_id: n.instance_id, action: n.action }, n.actionAtMs / 1000);
    }
    for (const node of this.bounded(s.nodesDown)) this.nodeDown.set({ node }, 1);
    this.lastRefresh.set(now / 1000);
  }

  private bounded<T>(rows: readonly T[]): readonly T[] {
    if (rows.length <= this.maxSeries) return rows;
    this.truncated += rows.length - this.maxSeries;
    return rows.slice(0, this.maxSeries);
  }
}
