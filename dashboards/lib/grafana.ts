// The parts of Grafana's dashboard JSON model (schemaVersion 39) that llmeter's dashboards use, and
// the query models of the two datasources: grafana-clickhouse-datasource v4 (editorType sql,
// rawSql, format 0 = time series / 1 = table; the model the plugin's own dashboards use, without
// the legacy queryType) and Prometheus. Panels name their datasource through a datasource template
// variable, as the plugin's dashboards do, so that a dashboard imported into any Grafana runs on
// whichever ClickHouse (and Prometheus) datasource is picked there.

/** The ClickHouse datasource a dashboard's panels use: the `datasource` variable. */
export const CLICKHOUSE = { type: 'grafana-clickhouse-datasource', uid: '${datasource}' } as const;
/** The Prometheus datasource a dashboard's panels use: the `prometheus` variable. */
export const PROMETHEUS = { type: 'prometheus', uid: '${prometheus}' } as const;

/** The uids of the provisioned datasources (dashboards/provisioning/datasources): what alert rules, which cannot use variables, name. */
export const CLICKHOUSE_UID = 'llmeter-clickhouse';
export const PROMETHEUS_UID = 'llmeter-prometheus';

export type DatasourceRef = typeof CLICKHOUSE | typeof PROMETHEUS;

export const FORMAT_TIME_SERIES = 0;
export const FORMAT_TABLE = 1;

export interface ClickHouseQuery {
  refId: string;
  datasource: typeof CLICKHOUSE;
  editorType: 'sql';
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

/** A choice of datasource of one type; panels name it as `${name}`. */
export interface DatasourceVariable {
  type: 'datasource';
  name: string;
  label: string;
  /** The datasource type (plugin id) to choose from. */
  query: DatasourceRef['type'];
  /** Empty: Grafana takes the default datasource of the type (the provisioned one is the default). */
  current: Record<string, never>;
  regex: '';
  refresh: 1;
  multi: false;
  includeAll: false;
  hide: 0;
  skipUrlSync: false;
  options: [];
}

export type Variable = DatasourceVariable | QueryVariable | TextboxVariable;

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
