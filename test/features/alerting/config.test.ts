// The alerting section of the configuration: its defaults, strictness, and nothing built when it is off.
import { describe, expect, it } from 'vitest';
import { alertingConfigSchema, buildAlerting, type AlertingDeps } from '../../../collector/features/alerting/index.ts';

describe('alerting configuration', () => {
  it('has defaults for every key and refuses unknown keys', () => {
    const c = alertingConfigSchema.parse({});
    expect(c).toMatchObject({ enabled: true, interval_ms: 15_000, gpu_stale_ms: 120_000, request_window_ms: 300_000 });
    expect(() => alertingConfigSchema.parse({ interval: 5 })).toThrow(/interval/);
    expect(() => alertingConfigSchema.parse({ interval_ms: 0 })).toThrow();
  });

  it('builds nothing when disabled', () => {
    expect(buildAlerting({} as AlertingDeps, alertingConfigSchema.parse({ enabled: false }), undefined, 200)).toEqual([]);
  });
});
