// The parts of Grafana's dashboard JSON model (schemaVersion 39) that llmeter's dashboards use, and
// the query models of the two datasources: grafana-clickhouse-datasource v4 (editorType sql,
// rawSql, format 0 = time series / 1 = table) and Prometheus.

export const CLICKHOUSE = { type: 'grafana-clickhouse-datasource', uid: 'llmeter-clickhouse' } as const;
export const PROMETHEUS = { type: 'prometheus', uid: 'llmeter-prometheus' } as const;

export type DatasourceRef = typeof CLICKHOUSE | typeof PROMETHEUS;

export const FORMAT_TIME_SERIES = 0;
export const FORMAT_TABLE = 1;

export interface ClickHouseQuery {
  refId: string;
  datasource: typeof CLICKHOUSE;
  editorType: 'sql';
  queryType: 'sql';
  format: typeof FORMAT_TIME_SERIES | typeof FORMAT_TABLE;
  rawSql: string;
}

export interface PrometheusQuery {
  refId: string;
  datasource: typeof PROMETHEUS;
  expr: string;
  legendFormat: string;
  range: true;
}

export type Query = ClickHouseQuery | PrometheusQuery;

export interface FieldOverride {
  matcher: { id: 'byName'; options: string };
  properties: { id: 'unit'; value: string }[];
}

export type PanelType = 'timeseries' | 'stat' | 'table' | 'barchart' | 'bargauge' | 'row';

export interface Panel {
  id: number;
  type: PanelType;
  title: string;
  description: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource: DatasourceRef;
  targets: Query[];
  fieldConfig: { defaults: { unit: string; min?: number; max?: number; decimals?: number }; overrides: FieldOverride[] };
  options: Record<string, unknown>;
}

export interface QueryVariable {
  type: 'query';
  name: string;
  label: string;
  datasource: typeof CLICKHOUSE;
  query: { editorType: 'sql'; rawSql: string };
  definition: string;
  multi: true;
  includeAll: true;
  current: { selected: true; text: ['All']; value: ['$__all'] };
  refresh: 2;
  sort: 1;
  hide: 0;
  options: [];
}

export interface TextboxVariable {
  type: 'textbox';
  name: string;
  label: string;
  description: string;
  query: string;
  current: { selected: false; text: string; value: string };
  hide: 0;
  options: [];
}

export type Variable = QueryVariable | TextboxVariable;

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  editable: true;
  graphTooltip: 1;
  schemaVersion: 39;
  version: 1;
  time: { from: string; to: string };
  refresh: string;
  timezone: 'utc';
  fiscalYearStartMonth: 0;
  liveNow: false;
  links: [];
  annotations: { list: [] };
  templating: { list: Variable[] };
  panels: Panel[];
}
