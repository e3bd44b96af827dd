// KEDA external scaler: a gRPC server speaking KEDA's externalscaler.proto. KEDA calls IsActive
// (activation, 0 ↔ 1 replicas) and GetMetricSpec/GetMetrics (the HPA, 1 ↔ N) on its polling
// interval; with an `external-push` trigger it also holds StreamIsActive open, and this server
// writes to that stream the moment a tier's activity changes (a request held for a pool at zero
// wakes the pool without waiting for the next poll).
//
// Trigger metadata (all strings, as KEDA passes them): `tier` (required), `model` (optional: one
// model within the tier; refused for node-level metrics), `metric` (one of SCALER_METRICS, default `load`),
// `target` (HPA target per replica, default the tier's target_per_replica for load, 1 otherwise),
// `metricName` (optional). A metric that cannot be computed right now (no source, stale data) is
// answered with UNAVAILABLE naming the metric and why, never with a zero.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage, LlmeterError } from '../../core/errors.ts';
import { parseListen } from '../../core/http/server.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import { MetricUnavailable } from './errors.ts';
import { isScalerMetric, PRICE_METRICS, SCALER_METRICS, TIER_ONLY, type ScalerMetric, type MetricQuery, type ScalerMetrics } from './scaler-metrics.ts';

export const PROTO_PATH = path.join(import.meta.dirname, 'proto', 'externalscaler.proto');

export interface ScaledObjectRef {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}
export interface IsActiveResponse {
  result: boolean;
}
export interface MetricSpec {
  metricName: string;
  targetSize: number | string;
  targetSizeFloat: number;
}
export interface GetMetricSpecResponse {
  metricSpecs: MetricSpec[];
}
export interface GetMetricsRequest {
  scaledObjectRef: ScaledObjectRef | null;
  metricName: string;
}
export interface MetricValue {
  metricName: string;
  metricValue: number | string;
  metricValueFloat: number;
}
export interface GetMetricsResponse {
  metricValues: MetricValue[];
}

/** Loader options that keep field names as written in the proto (camelCase, as KEDA's Go stubs). */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, defaults: true, oneofs: true };

export function loadExternalScalerProto(): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS));
}

export function externalScalerService(): grpc.ServiceDefinition {
  const pkg = loadExternalScalerProto().externalscaler as grpc.GrpcObject;
  return (pkg.ExternalScaler as grpc.ServiceClientConstructor).service;
}

/** A ScaledObject's trigger, read from its metadata. */
export interface Trigger {
  query: MetricQuery;
  metric: ScalerMetric;
  target: number;
  metricName: string;
}

/** A ScaledObject trigger whose metadata the scaler cannot serve (answered INVALID_ARGUMENT). */
export class TriggerError extends LlmeterError {
  constructor(message: string) {
    super(message, 'invalid_trigger');
  }
}

export function parseTrigger(ref: ScaledObjectRef | null | undefined, signals: ScalerMetrics): Trigger {
  const md = ref?.scalerMetadata ?? {};
  const tier = md.tier ?? '';
  if (!tier) throw new TriggerError('trigger metadata needs `tier`');
  const t = signals.tier(tier);
  if (!t) throw new TriggerError(`unknown tier '${tier}' (configured: ${signals.tierNames().join(', ') || 'none'})`);
  const metric = md.metric ?? 'load';
  if (!isScalerMetric(metric)) throw new TriggerError(`unknown metric '${metric}' (one of ${SCALER_METRICS.join(', ')})`);
  const model = md.model ?? '';
  if (model !== '' && TIER_ONLY.has(metric)) throw new TriggerError(`metric '${metric}' is per tier (a node-level quantity): leave out \`model\``);
  if (PRICE_METRICS.has(metric) && !t.pricing)
    throw new TriggerError(`metric '${metric}' needs the tier's pricing (autoscale.tiers[].pricing) and tier '${tier}' has none`);
  let target = metric === 'load' ? t.target_per_replica : 1;
  if (md.target !== undefined && md.target !== '') {
    target = Number(md.target);
    if (!Number.isFinite(target) || target <= 0) throw new TriggerError(`target '${md.target}' is not a positive number`);
  }
  const metricName = md.metricName || sanitize(['llmeter', metric, tier, model].filter((s) => s !== '').join('-'));
  return { query: { tier, model }, metric, target, metricName };
}

function sanitize(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

export interface ExternalScalerOptions {
  listen: string;
  signals: ScalerMetrics;
  registry: Registry;
  log: Logger;
  maxStreams: number;
}

interface Stream {
  call: grpc.ServerWritableStream<ScaledObjectRef, IsActiveResponse>;
  trigger: Trigger;
  last: boolean;
}

export class ExternalScalerServer implements Component {
  readonly name = 'keda-external-scaler';
  private readonly o: ExternalScalerOptions;
  private readonly server = new grpc.Server();
  private readonly streams = new Set<Stream>();
  private readonly dirty = new Set<string>();
  private flushQueued = false;
  private unsubscribe: () => void = () => {};
  private port = 0;
  private host = '';
  private readonly calls: Counter<'method' | 'code'>;
  private readonly pushes: Counter<'tier'>;

  constructor(o: ExternalScalerOptions) {
    this.o = o;
    const registers = [o.registry];
    this.calls = new Counter({
      name: 'llmeter_autoscale_scaler_calls_total',
      help: 'External scaler calls by method and gRPC status.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.pushes = new Counter({
      name: 'llmeter_autoscale_stream_pushes_total',
      help: 'Activity changes written to StreamIsActive subscribers.',
      labelNames: ['tier'],
      registers,
    });
    const streams = this.streams;
    new Gauge({
      name: 'llmeter_autoscale_streams',
      help: 'StreamIsActive subscriptions open (KEDA external-push triggers).',
      registers,
      collect() {
        this.set(streams.size);
      },
    });
    this.server.addService(externalScalerService(), {
      IsActive: (call: grpc.ServerUnaryCall<ScaledObjectRef, IsActiveResponse>, cb: grpc.sendUnaryData<IsActiveResponse>) =>
        this.unary('IsActive', call.request, cb, (t) => ({ result: this.o.signals.active(t.query) })),
      GetMetricSpec: (call: grpc.ServerUnaryCall<ScaledObjectRef, GetMetricSpecResponse>, cb: grpc.sendUnaryData<GetMetricSpecResponse>) =>
        this.unary('GetMetricSpec', call.request, cb, (t) => ({
          metricSpecs: [{ metricName: t.metricName, targetSize: Math.max(1, Math.round(t.target)), targetSizeFloat: t.target }],
        })),
      GetMetrics: (call: grpc.ServerUnaryCall<GetMetricsRequest, GetMetricsResponse>, cb: grpc.sendUnaryData<GetMetricsResponse>) =>
        this.unary('GetMetrics', call.request.scaledObjectRef, cb, (t) => {
          const v = this.o.signals.value(t.query, t.metric);
          return { metricValues: [{ metricName: call.request.metricName || t.metricName, metricValue: Math.round(v), metricValueFloat: v }] };
        }),
      StreamIsActive: (call: grpc.ServerWritableStream<ScaledObjectRef, IsActiveResponse>) => this.stream(call),
    });
  }

  async start(): Promise<void> {
    const { host, port } = parseListen(this.o.listen);
    this.host = host;
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    this.unsubscribe = this.o.signals.onChange((tier) => this.markDirty(tier));
    this.o.log.info('KEDA external scaler listening', { listen: this.address() });
  }

  /** host:port the gRPC server listens on. */
  address(): string {
    return `${this.host.includes(':') && !this.host.startsWith('[') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  async forceFlush(): Promise<void> {
    this.flush();
  }

  shutdown = once(async () => {
    this.unsubscribe();
    for (const s of this.streams) s.call.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2_000);
      t.unref();
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  });

  private unary<Res>(method: string, ref: ScaledObjectRef | null | undefined, cb: grpc.sendUnaryData<Res>, answer: (t: Trigger) => Res): void {
    let trigger: Trigger;
    try {
      trigger = parseTrigger(ref, this.o.signals);
    } catch (err) {
      this.calls.inc({ method, code: 'INVALID_ARGUMENT' });
      cb({ code: grpc.status.INVALID_ARGUMENT, details: errorMessage(err) });
      return;
    }
    let res: Res;
    try {
      res = answer(trigger);
    } catch (err) {
      if (!(err instanceof MetricUnavailable)) throw err;
      this.calls.inc({ method, code: 'UNAVAILABLE' });
      cb({ code: grpc.status.UNAVAILABLE, details: err.message });
      return;
    }
    this.calls.inc({ method, code: 'OK' });
    cb(null, res);
  }

  private stream(call: grpc.ServerWritableStream<ScaledObjectRef, IsActiveResponse>): void {
    let trigger: Trigger;
    try {
      trigger = parseTrigger(call.request, this.o.signals);
    } catch (err) {
      this.calls.inc({ method: 'StreamIsActive', code: 'INVALID_ARGUMENT' });
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: errorMessage(err) });
      return;
    }
    if (this.streams.size >= this.o.maxStreams) {
      this.calls.inc({ method: 'StreamIsActive', code: 'RESOURCE_EXHAUSTED' });
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `${this.streams.size} streams already open` });
      return;
    }
    this.calls.inc({ method: 'StreamIsActive', code: 'OK' });
    const s: Stream = { call, trigger, last: this.o.signals.active(trigger.query) };
    this.streams.add(s);
    const end = () => this.streams.delete(s);
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    // The current state at once, as KEDA expects on a new stream; afterwards only changes.
    call.write({ result: s.last });
  }

  private markDirty(tier: string): void {
    if (this.streams.size === 0) return;
    this.dirty.add(tier);
    if (this.flushQueued) return;
    this.flushQueued = true;
    // One evaluation after everything the current event has moved: a request released from a hold
    // leaves the held count and enters the in-flight one a few awaits apart, and evaluated between
    // the two the tier would look empty for an instant (a false and a true pushed within
    // milliseconds). setImmediate runs once those awaits are done, before any further I/O.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.dirty.size === 0) return;
    const tiers = new Set(this.dirty);
    this.dirty.clear();
    for (const s of this.streams) {
      if (!tiers.has(s.trigger.query.tier)) continue;
      const now = this.o.signals.active(s.trigger.query);
      if (now === s.last) continue;
      s.last = now;
      this.pushes.inc({ tier: s.trigger.query.tier });
      s.call.write({ result: now });
    }
  }
}
