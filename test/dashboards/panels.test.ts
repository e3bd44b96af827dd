// Every ClickHouse query of every dashboard — panels, variables — and of the Grafana cost alert
// rules runs against the embedded store filled with the generated fleet, with the Grafana macros
// expanded as the plugin does: it runs, returns rows, has the shape its format needs, and its
// numbers fit the unit the panel shows them in. Once with every variable at All, once with
// multi-value selections (the $__conditionalAll and IN (…) paths).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { costAlertRules } from '../../dashboards/cost-alerts.ts';
import { DASHBOARDS } from '../../dashboards/index.ts';
import { FORMAT_TIME_SERIES, type ClickHouseQuery, type Dashboard, type Panel } from '../../dashboards/lib/grafana.ts';
import { renderProvisioning } from '../../dashboards/render.ts';
import { silentLogger } from '../../collector/log.ts';
import { startCollector, type Collector } from '../../collector/runtime.ts';
import { testConfig } from '../helpers/store.ts';
import { FLEET_FROM, FLEET_TO, loadFleet } from './fleet.ts';
import { expandMacros, type ExpandOptions } from './macros.ts';
import { TIME_UNITS, UNIT_BOUNDS } from './units.ts';

interface JsonResult {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
}

const SELECTION: Record<string, readonly string[]> = {
  tenant: ['acme', 'globex'],
  model: ['llama3.1:70b', 'qwen2.5:7b'],
  node: ['gpu-a100-1', 'gpu-l4-1', 'gpu-l4-2'],
  pool: ['gpu-a100', 'gpu-l4'],
};

const isNumeric = (type: string) => /^(LowCardinality\()?(Nullable\()?(U?Int|Float|Decimal)/.test(type);
const isTime = (type: string) => /^(Nullable\()?DateTime/.test(type);

function clickhousePanels(d: Dashboard): (Panel & { targets: ClickHouseQuery[] })[] {
  return d.panels.filter((p): p is Panel & { targets: ClickHouseQuery[] } => p.datasource.type === 'grafana-clickhouse-datasource');
}

function unitOf(p: Panel, column: string): string {
  return p.fieldConfig.overrides.find((o) => o.matcher.options === column)?.properties.find((x) => x.id === 'unit')?.value ?? p.fieldConfig.defaults.unit;
}

describe('dashboard SQL against a generated fleet', () => {
  let collector: Collector;
  const options: Record<string, string[]> = {};

  async function run(sql: string): Promise<JsonResult> {
    const text = await collector.store.queryText(sql, 'JSON');
    return JSON.parse(text) as JsonResult;
  }

  function expansion(mode: 'all' | 'selected', extra: Record<string, string> = {}): ExpandOptions {
    const variables: ExpandOptions['variables'] = { ...extra };
    for (const name of Object.keys(SELECTION)) variables[name] = mode === 'all' ? 'all' : SELECTION[name]!;
    return { fromMs: FLEET_FROM, toMs: FLEET_TO, intervalMs: 300_000, variables, options };
  }

  beforeAll(async () => {
    collector = await startCollector(testConfig(), silentLogger, { withoutHttp: true, withoutFeatures: true });
    const { counts } = await loadFleet(collector);
    for (const [signal, n] of Object.entries(counts)) expect(n, signal).toBeGreaterThan(0);
    // variable options, from the variables' own queries
    for (const v of Object.values(DASHBOARDS)[0]!.templating.list) {
      if (v.type !== 'query') continue;
      const r = await run(expandMacros(v.query.rawSql, expansion('all')));
      options[v.name] = r.data.map((row) => String(Object.values(row)[0]));
    }
  });

  afterAll(() => collector?.shutdown());

  it('the generator wrote every table', async () => {
    for (const table of ['llm_requests', 'gpu_metrics', 'model_server_metrics', 'model_states', 'price_points', 'capacity_events', 'nodes', 'frontend_events', 'dead_letters', 'llm_requests_hourly', 'gpu_metrics_hourly']) {
      const r = await run(`SELECT count() AS n FROM ${table}`);
      expect(Number(r.data[0]!.n), table).toBeGreaterThan(0);
    }
  });

  it('the filter variables list the fleet, and the test selections are among their options', () => {
    expect(options.tenant).toEqual(['acme', 'globex', 'initech']);
    expect(options.model).toEqual(['llama3.1:70b', 'mistral:7b', 'qwen2.5:7b']);
    expect(options.node).toEqual(['cpu-1', 'gpu-a100-1', 'gpu-l4-1', 'gpu-l4-2']);
    expect(options.pool).toEqual(['cpu', 'gpu-a100', 'gpu-l4']);
    for (const [name, values] of Object.entries(SELECTION)) for (const v of values) expect(options[name], name).toContain(v);
  });

  for (const [file, d] of Object.entries(DASHBOARDS)) {
    describe(file, () => {
      const textboxes = Object.fromEntries(d.templating.list.filter((v) => v.type === 'textbox').map((v) => [v.name, v.query]));
      for (const p of clickhousePanels(d)) {
        for (const mode of ['all', 'selected'] as const) {
          it(`${p.title} (${mode === 'all' ? 'All' : 'multi-value selection'})`, async () => {
            const t = p.targets[0]!;
            const sql = expandMacros(t.rawSql, expansion(mode, textboxes));
            let r: JsonResult;
            try {
              r = await run(sql);
            } catch (err) {
              throw new Error(`${(err as Error).message}\n--- SQL\n${sql}`, { cause: err });
            }
            expect(r.data.length, `no rows:\n${sql}`).toBeGreaterThan(0);
            if (t.format === FORMAT_TIME_SERIES) {
              expect(r.meta[0]?.name, 'a time series starts with its time column').toBe('time');
              expect(isTime(r.meta[0]!.type), r.meta[0]!.type).toBe(true);
              const times = r.data.map((row) => Date.parse(`${String(row.time).replace(' ', 'T')}Z`));
              for (const ms of times) expect(ms >= FLEET_FROM - 86_400_000 && ms <= FLEET_TO, `time ${ms} outside the range`).toBe(true);
            }
            const numeric = r.meta.filter((m) => isNumeric(m.type) && !(t.format === FORMAT_TIME_SERIES && m.name === 'time'));
            expect(numeric.length, 'at least one value column').toBeGreaterThan(0);
            for (const col of numeric) {
              const unit = unitOf(p, col.name);
              const bounds = UNIT_BOUNDS[unit];
              expect(bounds, `unit ${unit} of ${col.name} has bounds`).toBeDefined();
              const values = r.data.map((row) => row[col.name]).filter((v) => v !== null).map(Number);
              expect(values.length, `${col.name} has values`).toBeGreaterThan(0);
              for (const v of values) {
                expect(Number.isFinite(v), `${col.name} = ${v}`).toBe(true);
                expect(v, `${col.name} (${unit})`).toBeGreaterThanOrEqual(bounds![0]);
                expect(v, `${col.name} (${unit})`).toBeLessThanOrEqual(bounds![1]);
              }
            }
            for (const m of r.meta) if (TIME_UNITS.has(unitOf(p, m.name)) && p.fieldConfig.defaults.unit !== unitOf(p, m.name)) expect(isTime(m.type), `${m.name} shown as a time`).toBe(true);
          });
        }
      }
    });
  }

  describe('Grafana-managed cost alert rules', () => {
    const committed = parse(renderProvisioning().get('alerting/cost-rules.yaml')!) as typeof costAlertRules;
    for (const rule of committed.groups.flatMap((g) => g.rules)) {
      it(`${rule.title}: its ClickHouse query runs over its relative time range and returns a number per series`, async () => {
        const q = rule.data.find((x) => x.refId === 'A')!;
        expect(q.datasourceUid).toBe('llmeter-clickhouse');
        expect(q.relativeTimeRange?.from).toBeGreaterThan(0);
        const sql = expandMacros(q.model.rawSql as string, { fromMs: FLEET_TO - (q.relativeTimeRange?.from ?? 0) * 1000, toMs: FLEET_TO, intervalMs: 60_000, variables: {}, options: {} });
        const r = await run(sql);
        expect(r.data.length, sql).toBeGreaterThan(0);
        const numeric = r.meta.filter((m) => isNumeric(m.type));
        expect(numeric).toHaveLength(1);
        for (const row of r.data) {
          const v = Number(row[numeric[0]!.name]);
          expect(Number.isFinite(v) && v >= 0, `${numeric[0]!.name} = ${v}`).toBe(true);
        }
        expect(rule.data.map((x) => x.refId)).toContain(rule.condition);
      });
    }

    it('the budget burn projects month-to-date spend onto the month', async () => {
      const sql = expandMacros(committed.groups[0]!.rules[0]!.data[0]!.model.rawSql as string, { fromMs: FLEET_FROM - 86_400_000, toMs: FLEET_TO, intervalMs: 60_000, variables: {}, options: {} });
      const ratio = Number((await run(sql)).data[0]!.projected_budget_ratio);
      const cost = await run(expandMacros(`WITH ${(await import('../../dashboards/lib/cost-sql.ts')).nodeCostCtes('1')} SELECT sum(usd) AS usd FROM node_cost`, { fromMs: FLEET_FROM, toMs: FLEET_TO, intervalMs: 60_000, variables: {}, options: {} }));
      const spent = Number(cost.data[0]!.usd);
      // March 2026 has 31 days; the fleet has run 1 day 8 hours into it (from midnight 1 March to 08:00 on the 2nd).
      const elapsed = (FLEET_TO - Date.parse('2026-03-01T00:00:00Z')) / 1000;
      expect(ratio).toBeCloseTo((spent / elapsed) * 31 * 86_400 / 10_000, 6);
    });
  });
});
