// Small typed builders for the dashboards: panels laid out left to right on Grafana's 24-column
// grid, ids numbered in order, and the four filter variables every llmeter dashboard carries.
import {
  CLICKHOUSE,
  FORMAT_TABLE,
  FORMAT_TIME_SERIES,
  PROMETHEUS,
  type ClickHouseQuery,
  type Dashboard,
  type DatasourceVariable,
  type FieldOverride,
  type Panel,
  type PanelType,
  type PrometheusQuery,
  type QueryVariable,
  type TextboxVariable,
  type Variable,
} from './grafana.ts';

/** A panel before layout: width in grid columns (of 24) and height in rows. */
export interface PanelSpec {
  type: PanelType;
  title: string;
  description: string;
  unit: string;
  /** Units of individual result columns where they differ from `unit`. */
  columnUnits?: Record<string, string>;
  w: number;
  h?: number;
  query: { sql: string; format: 'time_series' | 'table' } | { promql: string; legend: string };
  options?: Record<string, unknown>;
  min?: number;
  max?: number;
}

function target(q: PanelSpec['query']): ClickHouseQuery | PrometheusQuery {
  if ('sql' in q) {
    return {
      refId: 'A',
      datasource: CLICKHOUSE,
      editorType: 'sql',
      format: q.format === 'table' ? FORMAT_TABLE : FORMAT_TIME_SERIES,
      rawSql: q.sql.trim().replace(/\n\s+/g, '\n  '),
    };
  }
  return { refId: 'A', datasource: PROMETHEUS, expr: q.promql, legendFormat: q.legend, range: true };
}

const DEFAULT_OPTIONS: Record<PanelType, Record<string, unknown>> = {
  timeseries: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } },
  stat: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto' },
  table: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
  barchart: { orientation: 'horizontal', showValue: 'auto', legend: { displayMode: 'list', placement: 'bottom' }, xTickLabelRotation: 0 },
  bargauge: { orientation: 'horizontal', displayMode: 'gradient', reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true } },
  row: {},
};

export function layout(specs: readonly PanelSpec[]): Panel[] {
  const panels: Panel[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  for (const [i, s] of specs.entries()) {
    const h = s.h ?? 8;
    if (x + s.w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const overrides: FieldOverride[] = Object.entries(s.columnUnits ?? {}).map(([name, unit]) => ({
      matcher: { id: 'byName', options: name },
      properties: [{ id: 'unit', value: unit }],
    }));
    const t = target(s.query);
    panels.push({
      id: i + 1,
      type: s.type,
      title: s.title,
      description: s.description,
      gridPos: { h, w: s.w, x, y },
      datasource: t.datasource,
      targets: [t],
      fieldConfig: { defaults: { unit: s.unit, ...(s.min !== undefined ? { min: s.min } : {}), ...(s.max !== undefined ? { max: s.max } : {}) }, overrides },
      options: { ...DEFAULT_OPTIONS[s.type], ...s.options },
    });
    x += s.w;
    rowHeight = Math.max(rowHeight, h);
  }
  return panels;
}

function queryVariable(name: string, label: string, sql: string): QueryVariable {
  return {
    type: 'query',
    name,
    label,
    datasource: CLICKHOUSE,
    query: { editorType: 'sql', rawSql: sql },
    definition: sql,
    multi: true,
    includeAll: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    refresh: 2,
    sort: 1,
    hide: 0,
    options: [],
  };
}

function datasourceVariable(name: string, label: string, type: DatasourceVariable['query']): DatasourceVariable {
  return {
    type: 'datasource',
    name,
    label,
    query: type,
    current: {},
    regex: '',
    refresh: 1,
    multi: false,
    includeAll: false,
    hide: 0,
    skipUrlSync: false,
    options: [],
  };
}

/** The datasource variables a dashboard needs: ClickHouse always (the filter variables query it), Prometheus where a panel reads it. */
function datasourceVariables(panels: readonly Panel[]): DatasourceVariable[] {
  const vars = [datasourceVariable(CLICKHOUSE.uid.slice(2, -1), 'ClickHouse', CLICKHOUSE.type)];
  if (panels.some((p) => p.datasource.type === PROMETHEUS.type)) vars.push(datasourceVariable(PROMETHEUS.uid.slice(2, -1), 'Prometheus', PROMETHEUS.type));
  return vars;
}

export function textbox(name: string, label: string, value: string, description: string): TextboxVariable {
  return { type: 'textbox', name, label, description, query: value, current: { selected: false, text: value, value }, hide: 0, options: [] };
}

/** tenant / model / node / pool, each multi-value with All, options from the selected time range. */
export const FILTER_VARIABLES: readonly QueryVariable[] = [
  queryVariable('tenant', 'Tenant', 'SELECT DISTINCT tenant FROM llm_requests WHERE $__timeFilter(ts) ORDER BY tenant'),
  queryVariable('model', 'Model', 'SELECT DISTINCT model FROM llm_requests WHERE $__timeFilter(ts) ORDER BY model'),
  queryVariable('node', 'Node', 'SELECT DISTINCT node FROM nodes WHERE $__timeFilter(ts) ORDER BY node'),
  queryVariable('pool', 'Pool', "SELECT DISTINCT pool FROM nodes WHERE $__timeFilter(ts) AND pool != '' ORDER BY pool"),
];

/** SQL conditions for the filter variables; `$__conditionalAll` makes "All" cost nothing. */
export const where = {
  tenant: (col = 'tenant') => `$__conditionalAll(${col} IN (\${tenant}), $tenant)`,
  model: (col = 'model') => `$__conditionalAll(${col} IN (\${model}), $model)`,
  node: (col = 'node') => `$__conditionalAll(${col} IN (\${node}), $node)`,
  pool: (col = 'node') => `$__conditionalAll(${col} IN (SELECT node FROM nodes WHERE pool IN (\${pool})), $pool)`,
  nodeAndPool: (col = 'node') => `${where.node(col)} AND ${where.pool(col)}`,
  all: (tenant = 'tenant', model = 'model', node = 'node') =>
    `${where.tenant(tenant)} AND ${where.model(model)} AND ${where.node(node)} AND ${where.pool(node)}`,
};

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  time?: { from: string; to: string };
  extraVariables?: Variable[];
  panels: PanelSpec[];
}

export function dashboard(s: DashboardSpec): Dashboard {
  const panels = layout(s.panels);
  return {
    uid: s.uid,
    title: s.title,
    description: s.description,
    tags: ['llmeter', ...s.tags],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: s.time ?? { from: 'now-6h', to: 'now' },
    refresh: '1m',
    timezone: 'utc',
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [],
    annotations: { list: [] },
    templating: { list: [...datasourceVariables(panels), ...FILTER_VARIABLES, ...(s.extraVariables ?? [])] },
    panels,
  };
}
