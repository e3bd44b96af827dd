// The chargeback's formats on their own: the HTML page's title names the period's days as people
// read them (the end of a report's period is exclusive).
import { describe, expect, it } from 'vitest';
import type { ChargebackReport } from '../../../collector/features/cost/chargeback.ts';
import { periodLabel, toHtml } from '../../../collector/features/cost/formats.ts';

const report = (from: string, to: string): ChargebackReport => ({
  period: { from, to },
  idle_policy: 'separate',
  idle_scope: 'node',
  group_by: [],
  currency: 'USD',
  computed: { kept_hours: 0, computed_hours: 0 },
  tenants: [],
  nodes: [],
  price_gaps: [],
  unattributed: [],
  warnings: [],
  totals: {
    fleet_cost: '0.00',
    fleet_cost_exact: '0.000000',
    tenants_total: '0.00',
    tenants_total_exact: '0.000000',
    unshared_idle: '0.00',
    unshared_idle_exact: '0.000000',
    idle_with_model_resident: '0.00',
    idle_with_model_resident_exact: '0.000000',
    idle_total: '0.00',
    idle_total_exact: '0.000000',
    reconciliation: '0.00',
    node_count: 0,
    device_hours: 0,
    on_demand_fallback_minutes: 0,
    unpriced_minutes: 0,
    unattributed_requests: 0,
  },
});

describe('the period as people read it', () => {
  it('whole days: the last day is the one before the exclusive end', () => {
    expect(periodLabel('2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z')).toBe('1 Nov – 30 Nov 2026');
    expect(periodLabel('2026-11-05T00:00:00.000Z', '2026-11-06T00:00:00.000Z')).toBe('5 Nov 2026');
    expect(periodLabel('2026-12-20T00:00:00.000Z', '2027-01-04T00:00:00.000Z')).toBe('20 Dec 2026 – 3 Jan 2027');
  });

  it('a period that starts or ends inside a day says its times and that the end is exclusive', () => {
    expect(periodLabel('2026-10-20T10:00:00.000Z', '2026-10-20T12:00:00.000Z')).toBe('2026-10-20 10:00 to 2026-10-20 12:00 UTC (end exclusive)');
  });

  it('the HTML title and heading use it', () => {
    const page = toHtml(report('2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'), { byDay: [], byModel: [], generatedAt: new Date(0) });
    expect(page).toContain('<title>Chargeback 1 Nov – 30 Nov 2026</title>');
    expect(page).not.toContain('– 2026-12-01');
  });
});
