// The committed provisioning under dashboards/provisioning/ is what the TypeScript sources generate,
// the dashboards are well formed (variables, datasources, layout, units), the datasources are
// provisioned without secrets, and every Prometheus panel's PromQL parses (promtool) and reads only
// metrics llmeter publishes.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse, stringify } from 'yaml';
import { FOREIGN_METRICS, STORE_GAUGES } from '../../collector/features/alerting/metric-names.ts';
import { DASHBOARDS } from '../../dashboards/index.ts';
import { CLICKHOUSE_UID, PROMETHEUS_UID, type PrometheusQuery } from '../../dashboards/lib/grafana.ts';
import { renderProvisioning } from '../../dashboards/render.ts';
import { provisioningOptions } from '../../dashboards/lib/options.ts';
import { configSchema } from '../../collector/app/config-schema.ts';
import { runTool } from '../helpers/prometheus-tools.ts';
import { tempDir } from '../helpers/store.ts';
import { TIME_UNITS, UNIT_BOUNDS } from './units.ts';
import { fixtureText, ROOT } from '../helpers/paths.ts';

const PROVISIONING = path.join(ROOT, 'dashboards', 'provisioning');

interface DatasourceFile {
  apiVersion: number;
  datasources: { name: string; uid: string; type: string; jsonData?: Record<string, unknown>; secureJsonData?: Record<string, string>; url?: string }[];
}

describe('provisioning files', () => {
  it('the committed files are exactly what dashboards/*.ts generate (run `node dashboards/generate.ts`)', () => {
    const rendered = renderProvisioning();
    for (const [file, text] of rendered) expect(readFileSync(path.join(PROVISIONING, file), 'utf8'), file).toBe(text);
    const committedJson = readdirSync(path.join(PROVISIONING, 'dashboards', 'llmeter')).map((f) => `dashboards/llmeter/${f}`);
    expect(committedJson.sort()).toEqual([...rendered.keys()].filter((f) => f.startsWith('dashboards/')).sort());
  });

  it('provisions the ClickHouse datasource over HTTP on 8123 (the collector’s interface or a server) and Prometheus, secrets from the environment', () => {
    const text = readFileSync(path.join(PROVISIONING, 'datasources', 'llmeter.yaml'), 'utf8');
    const ds = parse(text) as DatasourceFile;
    expect(ds.apiVersion).toBe(1);
    const ch = ds.datasources.find((d) => d.type === 'grafana-clickhouse-datasource');
    expect(ch?.uid).toBe(CLICKHOUSE_UID);
    expect(ch?.jsonData).toMatchObject({ protocol: 'http', port: 8123, host: '${LLMETER_CLICKHOUSE_HOST}', defaultDatabase: 'llmeter' });
    expect(ch?.secureJsonData?.password).toMatch(/^\$\{[A-Z_]+\}$/);
    const prom = ds.datasources.find((d) => d.type === 'prometheus');
    expect(prom?.uid).toBe(PROMETHEUS_UID);
  });

  it('the dashboard provider points at the generated JSON', () => {
    const provider = parse(readFileSync(path.join(PROVISIONING, 'dashboards', 'llmeter.yaml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.providers[0]?.type).toBe('file');
    expect(provider.providers[0]?.options.path).toMatch(/\/dashboards\/llmeter$/);
  });
});

describe('dashboards', () => {
  const all = Object.entries(DASHBOARDS);

  for (const [file, d] of all) {
    it(`${file}: imports into any Grafana — datasources through variables as the plugin's dashboards have them, the current query model`, () => {
      const reference = JSON.parse(fixtureText('grafana', 'clickhouse-datasource-dashboard.json')) as {
        templating: { list: Record<string, unknown>[] };
        panels: { targets?: Record<string, unknown>[] }[];
      };
      const refVariable = reference.templating.list.find((v) => v.type === 'datasource')!;
      const refTarget = reference.panels.flatMap((p) => p.targets ?? [])[0]!;
      const variables = d.templating.list.filter((v) => v.type === 'datasource');
      expect(variables[0]).toMatchObject({ name: 'datasource', query: 'grafana-clickhouse-datasource' });
      for (const v of variables) expect(Object.keys(v).sort()).toEqual(Object.keys(refVariable).sort());
      const byUid = new Map(variables.map((v) => [`\${${v.name}}`, v.query]));
      for (const p of d.panels) {
        expect(byUid.get(p.datasource.uid), `${p.title}: its datasource is a variable of its type`).toBe(p.datasource.type);
        for (const t of p.targets) {
          expect(t.datasource).toEqual(p.datasource);
          if ('rawSql' in t) expect(Object.keys(t).sort(), p.title).toEqual(Object.keys(refTarget).sort());
        }
      }
      const json = JSON.stringify(d);
      expect(json).not.toContain(CLICKHOUSE_UID);
      expect(json).not.toContain(PROMETHEUS_UID);
      expect(json).not.toContain('queryType');
    });
  }

  it('are the five of the design, with unique uids', () => {
    expect(all.map(([, d]) => d.uid)).toEqual(['llmeter-gpu-fleet', 'llmeter-llm-serving', 'llmeter-cost', 'llmeter-spot-market', 'llmeter-pipeline-health']);
  });

  for (const [file, d] of all) {
    it(`${file}: tenant / model / node / pool variables, ids, layout, units, descriptions`, () => {
      const vars = d.templating.list.filter((v) => v.type === 'query');
      expect(vars.map((v) => v.name)).toEqual(['tenant', 'model', 'node', 'pool']);
      for (const v of vars) expect(v).toMatchObject({ multi: true, includeAll: true, datasource: { uid: '${datasource}' } });
      expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
      for (const p of d.panels) {
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        expect(p.description.length, p.title).toBeGreaterThan(10);
        for (const u of [p.fieldConfig.defaults.unit, ...p.fieldConfig.overrides.flatMap((o) => o.properties.map((x) => x.value))]) {
          expect(u in UNIT_BOUNDS || TIME_UNITS.has(u), `${p.title}: unit ${u}`).toBe(true);
        }
        expect(p.targets.length).toBe(1);
      }
      // no two panels overlap
      const cells = new Set<string>();
      for (const p of d.panels) {
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
            cells.add(`${x},${y}`);
          }
        }
      }
    });
  }

  it('the ClickHouse panels of the data dashboards use the filter variables', () => {
    for (const [file, d] of all.filter(([f]) => f !== 'pipeline-health.json')) {
      const sql = d.panels
        .flatMap((p) => p.targets)
        .map((t) => ('rawSql' in t ? t.rawSql : ''))
        .join('\n');
      for (const v of ['node', 'pool']) expect(sql, `${file} uses $${v}`).toContain(`\${${v}}`);
    }
    const serving = DASHBOARDS['llm-serving.json']!.panels.flatMap((p) => p.targets)
      .map((t) => ('rawSql' in t ? t.rawSql : ''))
      .join('\n');
    for (const v of ['tenant', 'model']) expect(serving).toContain(`\${${v}}`);
  });

  it('every Prometheus panel query parses (promtool) and reads only metrics llmeter publishes', async () => {
    const queries = all.flatMap(([, d]) =>
      d.panels.flatMap((p) => p.targets.filter((t): t is PrometheusQuery => 'expr' in t).map((t) => ({ title: p.title, expr: t.expr }))),
    );
    expect(queries.length).toBeGreaterThan(5);
    const concrete = (e: string) => e.replace(/\$__rate_interval|\$__interval/g, '1m').replace(/\$__range/g, '6h');
    const dir = tempDir('llmeter-promql-');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'panels.rules.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'panels', rules: queries.map((q, i) => ({ record: `panel:${i}`, expr: concrete(q.expr) })) }] }));
    const r = await runTool('promtool', ['check', 'rules', file]);
    expect(r.code, r.output).toBe(0);

    const operations = readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
    const known = new Set<string>([...operations.matchAll(/`(llmeter_[a-z_]+)/g)].map((m) => m[1]!));
    for (const n of [...Object.values(FOREIGN_METRICS), ...Object.values(STORE_GAUGES)]) known.add(n);
    for (const q of queries) {
      for (const m of q.expr.match(/\bllmeter_[a-z_]+/g) ?? []) expect(known, `${q.title}: ${m}`).toContain(m.replace(/_bucket$/, ''));
    }
  });
});

describe('Grafana-managed cost alert rules', () => {
  const file = parse(readFileSync(path.join(PROVISIONING, 'alerting', 'cost-rules.yaml'), 'utf8')) as {
    apiVersion: number;
    groups: {
      folder: string;
      interval: string;
      rules: {
        uid: string;
        title: string;
        condition: string;
        data: { refId: string; datasourceUid: string; model: Record<string, unknown> }[];
        labels: Record<string, string>;
        annotations: Record<string, string>;
      }[];
    }[];
  };

  it('as committed (no configuration): the cost anomaly rule alone — no budget, no budget burn; no runbook base, no runbook link', () => {
    expect(file.apiVersion).toBe(1);
    const rules = file.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.title)).toEqual(['Cost anomaly']);
    expect(JSON.stringify(file)).not.toContain('runbook');
    expect(JSON.stringify(file)).not.toContain('queryType');
  });

  it('with a configuration: budget burn against its monthly budget, runbook_url annotations under its base', () => {
    const config = configSchema.parse({
      dashboards: { runbook_base_url: 'https://git.example.com/llmeter/blob/main/docs' },
      cost: {
        budgets: [
          { tenant: 'a', monthly_usd: '2500.10' },
          { tenant: 'b', monthly_usd: '0.2' },
          { tenant: 'c', daily_usd: '5' },
        ],
      },
    });
    const options = provisioningOptions(config);
    expect(options).toEqual({ monthlyBudgetUsd: 2500.3, runbookBaseUrl: 'https://git.example.com/llmeter/blob/main/docs' });
    const explicit = provisioningOptions(configSchema.parse({ dashboards: { monthly_budget_usd: 40_000 }, cost: config.cost }));
    expect(explicit.monthlyBudgetUsd).toBe(40_000);
    const rendered = parse(renderProvisioning(options).get('alerting/cost-rules.yaml')!) as typeof file;
    const rules = rendered.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.title)).toEqual(['Budget burn', 'Cost anomaly']);
    expect(String(rules[0]!.data[0]!.model.rawSql)).toMatch(/\/ 2500\.3 AS projected_budget_ratio/);
    for (const r of rules) expect(r.annotations.runbook_url).toBe('https://git.example.com/llmeter/blob/main/docs/alerting.md#grafana-managed-cost-alerts');
    expect(() => configSchema.parse({ dashboards: { runbook_base_url: 'docs/' } })).toThrow(/runbook_base_url/);
  });

  it('each rule a ClickHouse query on the provisioned datasource, reduced and compared with a threshold', () => {
    const rules = (parse(renderProvisioning({ monthlyBudgetUsd: 10_000 }).get('alerting/cost-rules.yaml')!) as typeof file).groups.flatMap((g) => g.rules);
    expect(rules).toHaveLength(2);
    for (const r of rules) {
      expect(r.data.map((d) => d.datasourceUid)).toEqual([CLICKHOUSE_UID, '__expr__', '__expr__']);
      expect(r.data[0]!.model.datasource).toEqual({ type: 'grafana-clickhouse-datasource', uid: CLICKHOUSE_UID });
      expect(r.data[1]!.model).toMatchObject({ type: 'reduce', expression: 'A' });
      expect(r.data[2]!.model).toMatchObject({ type: 'threshold', expression: 'B' });
      expect(r.condition).toBe('C');
      expect(r.labels).toMatchObject({ component: 'cost' });
      expect(String(r.data[0]!.model.rawSql)).not.toMatch(/\$\{?(tenant|model|node|pool)\b/);
    }
  });
});
