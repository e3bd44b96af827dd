// Why a signal has no value right now (no source, no reading yet, readings too old). The external
// scaler answers it as a gRPC error naming the signal, so KEDA logs it and applies the
// ScaledObject's fallback instead of scaling on a made-up zero; /metrics leaves the series out.
import { LlmeterError } from '../../core/errors.ts';

export class MetricUnavailable extends LlmeterError {
  readonly signal: string;
  readonly tier: string;
  constructor(signal: string, tier: string, why: string) {
    super(`${signal} for tier '${tier}': ${why}`, 'metric_unavailable');
    this.signal = signal;
    this.tier = tier;
  }
}

/** "12 s", "3 min", "2.0 h": ages and bounds in error messages. */
export function age(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  const s = ms / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
