// Every ClickHouse query of every dashboard — panels, variables — and of the Grafana cost alert
// rules runs against the embedded store filled with the generated fleet, with the Grafana macros
// expanded as the plugin does: it runs, returns rows, has the shape its format needs, and its
// numbers fit the unit the panel shows them in. Once with every variable at All, once with
// multi-value selections (the $__conditionalAll and IN (…) paths). The stat panels' numbers are
// compared with the same figures computed here from the generated records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { costAlertRules } from '../../dashboards/cost-alerts.ts';
import { DASHBOARDS } from '../../dashboards/index.ts';
import { FORMAT_TIME_SERIES, type ClickHouseQuery, type Dashboard, type Panel } from '../../dashboards/lib/grafana.ts';
import { renderProvisioning } from '../../dashboards/render.ts';
import { isColdStart } from '../../exporters/proxy/cold-start.ts';
import { silentLogger } from '../../collector/core/log.ts';
import { startCollector, type Collector } from '../../collector/app/runtime.ts';
import { testConfig } from '../helpers/store.ts';
import { FLEET_FROM, FLEET_TO, loadFleet, type DeadLetterRow, type FleetRecords } from './fleet.ts';
import { expandMacros, type ExpandOptions } from '../helpers/grafana-macros.ts';
import { TIME_UNITS, UNIT_BOUNDS } from './units.ts';

interface JsonResult {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
}

const SELECTION: Record<string, readonly string[]> = {
  tenant: ['acme-chat', 'globex-batch'],
  model: ['llama3.2:3b', 'qwen2.5:14b'],
  node: ['sim-gpu-a', 'sim-gpu-b', 'sim-gpu-c'],
  pool: ['sim-small', 'sim-a100'],
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
  let records: FleetRecords;
  let deadLetters: DeadLetterRow[];

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
    const loaded = await loadFleet(collector);
    const { counts } = loaded;
    records = loaded.records;
    deadLetters = loaded.deadLetters;
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
    for (const table of [
      'llm_requests',
      'gpu_metrics',
      'model_server_metrics',
      'model_states',
      'price_points',
      'capacity_events',
      'nodes',
      'frontend_events',
      'dead_letters',
      'llm_requests_hourly',
      'gpu_metrics_hourly',
    ]) {
      const r = await run(`SELECT count() AS n FROM ${table}`);
      expect(Number(r.data[0]!.n), table).toBeGreaterThan(0);
    }
  });

  it('the filter variables list the fleet, and the test selections are among their options', () => {
    const distinct = (xs: string[]) => [...new Set(xs)].filter((x) => x !== '').sort();
    expect(options.tenant).toEqual(distinct(records.llm_request.map((r) => r.tenant ?? '')));
    expect(options.model).toEqual(distinct(records.llm_request.map((r) => r.model ?? '')));
    expect(options.node).toEqual(distinct(records.node.map((r) => r.node ?? '')));
    expect(options.pool).toEqual(distinct(records.node.map((r) => r.pool ?? '')));
    // The generated fleet has what the panels need to show something.
    expect(options.node).toHaveLength(4);
    expect(options.tenant).toHaveLength(3);
    for (const [name, values] of Object.entries(SELECTION)) for (const v of values) expect(options[name], name).toContain(v);
  });

  describe('stat panels equal the figures computed from the generated records', () => {
    const inSelection = (mode: 'all' | 'selected', name: string, value: string | undefined) => mode === 'all' || SELECTION[name]!.includes(value ?? '');
    const nodeOk = (mode: 'all' | 'selected', node: string | undefined) => {
      if (mode === 'all') return true;
      const pools = new Set(records.node.filter((n) => n.node === node).map((n) => n.pool ?? ''));
      return inSelection(mode, 'node', node) && SELECTION.pool!.some((p) => pools.has(p));
    };
    const requests = (mode: 'all' | 'selected') =>
      records.llm_request.filter((r) => inSelection(mode, 'tenant', r.tenant) && inSelection(mode, 'model', r.model) && nodeOk(mode, r.node));
    const gpuRows = (mode: 'all' | 'selected', field: string) => records.gpu_sample.filter((g) => g.field === field && nodeOk(mode, g.node));
    const isError = (r: FleetRecords['llm_request'][number]) =>
      (r.status ?? 0) >= 500 || ['stream_error', 'upstream_down', 'timeout'].includes(r.error_kind ?? '');
    const expected: Record<string, (mode: 'all' | 'selected') => number> = {
      'llmeter-llm-serving/Requests': (m) => requests(m).length,
      'llmeter-llm-serving/Error rate': (m) => requests(m).filter(isError).length / Math.max(1, requests(m).length),
      'llmeter-llm-serving/Output tokens': (m) => requests(m).reduce((s, r) => s + (r.output_tokens ?? 0), 0),
      'llmeter-llm-serving/Cold starts': (m) => requests(m).filter((r) => isColdStart(r.load_duration_ns ?? 0)).length,
      'llmeter-gpu-fleet/GPUs reporting': (m) =>
        new Set(records.gpu_sample.filter((g) => nodeOk(m, g.node)).map((g) => `${g.gpu_uuid}/${g.mig_instance}`)).size,
      'llmeter-gpu-fleet/Fleet utilisation': (m) => {
        const rows = gpuRows(m, 'utilization').filter((g) => g.mig_instance === '');
        return rows.reduce((s, g) => s + (g.value ?? 0), 0) / rows.length;
      },
      'llmeter-gpu-fleet/Hottest GPU': (m) => Math.max(...gpuRows(m, 'gpu_temp').map((g) => g.value ?? 0)),
      'llmeter-gpu-fleet/XID errors': (m) => records.capacity_event.filter((e) => e.kind === 'xid' && nodeOk(m, e.node)).length,
      'llmeter-gpu-fleet/Frame buffer in use': (m) => {
        const newest = new Map<string, { ts: number; value: number }>();
        for (const g of gpuRows(m, 'fb_used')) {
          const k = `${g.gpu_uuid}/${g.mig_instance}`;
          const ts = Number(g.ts);
          if (!newest.has(k) || newest.get(k)!.ts < ts) newest.set(k, { ts, value: g.value ?? 0 });
        }
        return [...newest.values()].reduce((s, x) => s + x.value, 0);
      },
      'llmeter-pipeline-health/Dead letters (range)': () => deadLetters.length,
    };
    for (const [key, compute] of Object.entries(expected)) {
      const [uid, title] = key.split('/') as [string, string];
      for (const mode of ['all', 'selected'] as const) {
        it(`${title} (${mode === 'all' ? 'All' : 'multi-value selection'})`, async () => {
          const d = Object.values(DASHBOARDS).find((x) => x.uid === uid)!;
          const p = clickhousePanels(d).find((x) => x.title === title)!;
          expect(p, key).toBeDefined();
          const textboxes = Object.fromEntries(d.templating.list.filter((v) => v.type === 'textbox').map((v) => [v.name, v.query]));
          const r = await run(expandMacros(p.targets[0]!.rawSql, expansion(mode, textboxes)));
          const want = compute(mode);
          // The figure must not be trivially zero, or the comparison proves nothing.
          expect(want, key).toBeGreaterThan(0);
          expect(Number(Object.values(r.data[0]!)[0])).toBeCloseTo(want, 6);
        });
      }
    }
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
              const values = r.data
                .map((row) => row[col.name])
                .filter((v) => v !== null)
                .map(Number);
              expect(values.length, `${col.name} has values`).toBeGreaterThan(0);
              for (const v of values) {
                expect(Number.isFinite(v), `${col.name} = ${v}`).toBe(true);
                expect(v, `${col.name} (${unit})`).toBeGreaterThanOrEqual(bounds![0]);
                expect(v, `${col.name} (${unit})`).toBeLessThanOrEqual(bounds![1]);
              }
            }
            for (const m of r.meta)
              if (TIME_UNITS.has(unitOf(p, m.name)) && p.fieldConfig.defaults.unit !== unitOf(p, m.name))
                expect(isTime(m.type), `${m.name} shown as a time`).toBe(true);
          });
        }
      }
    });
  }

  describe('Grafana-managed cost alert rules', () => {
    // Rendered as for an installation with a monthly budget, so that the budget burn rule exists.
    const BUDGET = 10_000;
    const committed = parse(renderProvisioning({ monthlyBudgetUsd: BUDGET }).get('alerting/cost-rules.yaml')!) as ReturnType<typeof costAlertRules>;
    for (const rule of committed.groups.flatMap((g) => g.rules)) {
      it(`${rule.title}: its ClickHouse query runs over its relative time range and returns a number per series`, async () => {
        const q = rule.data.find((x) => x.refId === 'A')!;
        expect(q.datasourceUid).toBe('llmeter-clickhouse');
        expect(q.relativeTimeRange?.from).toBeGreaterThan(0);
        const sql = expandMacros(q.model.rawSql as string, {
          fromMs: FLEET_TO - (q.relativeTimeRange?.from ?? 0) * 1000,
          toMs: FLEET_TO,
          intervalMs: 60_000,
          variables: {},
          options: {},
        });
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
      const burn = committed.groups[0]!.rules.find((r) => r.title === 'Budget burn')!;
      const sql = expandMacros(burn.data[0]!.model.rawSql as string, {
        fromMs: FLEET_FROM - 86_400_000,
        toMs: FLEET_TO,
        intervalMs: 60_000,
        variables: {},
        options: {},
      });
      const ratio = Number((await run(sql)).data[0]!.projected_budget_ratio);
      const cost = await run(
        expandMacros(`WITH ${(await import('../../dashboards/lib/cost-sql.ts')).nodeCostCtes('1')} SELECT sum(usd) AS usd FROM node_cost`, {
          fromMs: FLEET_FROM,
          toMs: FLEET_TO,
          intervalMs: 60_000,
          variables: {},
          options: {},
        }),
      );
      const spent = Number(cost.data[0]!.usd);
      // March 2026 has 31 days; the fleet has run 1 day 8 hours into it (from midnight 1 March to 08:00 on the 2nd).
      const elapsed = (FLEET_TO - Date.parse('2026-03-01T00:00:00Z')) / 1000;
      expect(ratio).toBeCloseTo(((spent / elapsed) * 31 * 86_400) / BUDGET, 6);
    });
  });
});
