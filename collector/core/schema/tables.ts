// The single definition of every table: columns (types, codecs, record validation), sort order,
// partitioning, retention and sharding. The DDL for a single server and for a cluster, the record
// validators and the documentation tables are all generated from what is written here.
import { c, type Column, type ColumnInput } from './columns.ts';

export interface TableDef<Cols extends Record<string, Column> = Record<string, Column>> {
  readonly name: string;
  readonly signal: string;
  readonly doc: string;
  readonly columns: Cols;
  /** `replacing` keeps the newest row per sort key (by the named version column) on merge. */
  readonly engine: { kind: 'merge' } | { kind: 'replacing'; version: string };
  readonly orderBy: readonly string[];
  readonly partitionBy: string;
  /** MergeTree settings of this table beyond the ones every table has, e.g. `ttl_only_drop_parts = 1`. */
  readonly settings?: string;
  /** Column whose age decides retention; the TTL length comes from the configuration. */
  readonly ttlColumn: string;
  /**
   * Columns that name one record (the time column, `ttlColumn`, among them or beside them). A record
   * whose identity is already stored, or already waiting to be, is not stored again: a client's
   * retry, an exporter's re-send and a re-delivered message count once. Absent on tables whose
   * engine keeps the newest row of a key itself (replacing) and on dead letters.
   */
  readonly identity?: readonly string[];
  readonly retention: 'raw' | 'reference';
  /**
   * For a table whose rows are versions of a value that holds from `ttlColumn` until the next row of
   * the same key (a price): the key. Such a table has no TTL, since age says nothing about whether a
   * version is still in force; the retention sweep (store/retention.ts) deletes only the versions
   * that a newer one had replaced before the retention horizon.
   */
  readonly inForceKey?: readonly string[];
  /** How rows spread across shards in a cluster: rows that are queried together stay together. */
  readonly shardingKey: string;
}

function table<const Cols extends Record<string, Column>>(def: TableDef<Cols>): TableDef<Cols> {
  return def;
}

export const CAPACITY_TYPES = ['on_demand', 'spot', 'reserved', 'low_priority', 'on_prem', 'marketplace', 'serverless'] as const;

export const llmRequests = table({
  name: 'llm_requests',
  signal: 'llm_request',
  doc: 'One inference request through the metering proxy, or one OTLP gen_ai span.',
  columns: {
    ts: c.time({ required: true, doc: 'When the request arrived (UTC).' }),
    request_id: c.string({ required: true, max: 128, doc: 'Unique id; the idempotence key.' }),
    tenant: c.label({ required: true, doc: 'Tenant the request is charged to.' }),
    model: c.label({ doc: 'Model name as the client asked for it.' }),
    endpoint: c.label({ doc: 'API path, e.g. /api/chat or /v1/chat/completions.' }),
    api: c.oneOf(['ollama', 'openai', 'anthropic', 'otlp', 'other'] as const, { doc: 'Wire format of the endpoint.' }),
    backend: c.label({ doc: 'Upstream model server (name from the configuration).' }),
    node: c.label({ doc: 'Node the backend runs on, for cost joins.' }),
    status: c.uint16({ doc: 'HTTP status returned to the client (0 when the client went away first).' }),
    error: c.string({ max: 1024, doc: 'Error message, empty on success. Never prompt text.' }),
    error_kind: c.label({
      doc: 'Error class: upstream_status, stream_error, queue_full, client_abort, upstream_down, timeout, rate_limited, auth, too_large.',
    }),
    stream: c.bool({ doc: 'Whether the response was streamed.' }),
    input_tokens: c.uint32({ doc: 'Prompt tokens.' }),
    output_tokens: c.uint32({ doc: 'Completion tokens.' }),
    cached_tokens: c.uint32({ doc: 'Prompt tokens served from the cache.' }),
    ttfb_ms: c.nullableMillis({ doc: 'Time to the first response byte.' }),
    ttft_ms: c.nullableMillis({ doc: 'Time to the first generated token (streams); NULL when no token came.' }),
    duration_ms: c.millis({ doc: 'Total request time as the client saw it.' }),
    queue_ms: c.millis({ doc: 'Time held by the proxy before forwarding (limits, scale-from-zero).' }),
    proxy_overhead_ms: c.millis({ doc: 'Time spent inside the proxy itself.' }),
    load_duration_ns: c.uint64({ doc: 'Ollama load_duration: model load (cold start).' }),
    prompt_eval_duration_ns: c.uint64({ doc: 'Ollama prompt_eval_duration (prefill).' }),
    eval_duration_ns: c.uint64({ doc: 'Ollama eval_duration (decode).' }),
    total_duration_ns: c.uint64({ doc: 'Ollama total_duration.' }),
    source: c.label({ doc: 'Producer: proxy, otlp, ingest.' }),
  },
  engine: { kind: 'merge' },
  orderBy: ['tenant', 'model', 'ts'],
  partitionBy: 'toYYYYMM(ts)',
  identity: ['tenant', 'request_id'],
  ttlColumn: 'ts',
  retention: 'raw',
  shardingKey: 'cityHash64(tenant)',
});

export const gpuMetrics = table({
  name: 'gpu_metrics',
  signal: 'gpu_sample',
  doc: 'One DCGM field of one GPU (or MIG slice) at one scrape, in the unit named by `unit`.',
  columns: {
    ts: c.time({ required: true, doc: 'Scrape time (UTC).' }),
    node: c.label({ required: true, doc: 'Kubernetes node or host name.' }),
    gpu_uuid: c.label({ required: true, doc: 'GPU UUID (GPU-…).' }),
    gpu_index: c.uint8({ doc: 'GPU index on the node.' }),
    gpu_model: c.label({ doc: 'GPU model name, e.g. NVIDIA A100-SXM4-80GB.' }),
    mig_instance: c.label({ doc: 'MIG GPU instance id; empty for a whole GPU.' }),
    mig_profile: c.label({ doc: 'MIG profile, e.g. 1g.10gb; empty for a whole GPU.' }),
    field: c.label({ required: true, doc: 'Normalised field name (see docs/records.md).' }),
    value: c.float({ required: true, doc: 'Value in the unit below.' }),
    unit: c.label({ doc: 'Unit after normalisation (ratio, celsius, watts, joules, hz, bytes, count…).' }),
    namespace: c.label({ doc: 'Pod attribution: namespace (empty when unallocated).' }),
    pod: c.label({ doc: 'Pod attribution: pod.' }),
    container: c.label({ doc: 'Pod attribution: container.' }),
    pci_bus_id: c.label({ doc: 'PCI bus id of the GPU (00000000:3B:00.0), as node-level tools name it; empty when the exporter does not say.' }),
  },
  engine: { kind: 'merge' },
  // The table that grows fastest (a 1,000-node fleet of 8-GPU nodes at 15 s: 1.2 billion rows a
  // day), so it is laid out for its merges (bench/scrape.md): the time before the field, so that a
  // part holds each GPU's scrapes as runs that a merge copies whole, and parts come out half the size;
  // daily partitions, so that a row is rewritten at fewer merge levels and the retention drops whole
  // days instead of rewriting the oldest month's parts to delete a day of it; and merges that join
  // about ten parts instead of five (merge_selector_base), a third fewer rewrites of each row for
  // twice the parts at a level (bench/merge-amplification.bench.ts).
  orderBy: ['node', 'gpu_uuid', 'ts', 'field'],
  partitionBy: 'toDate(ts)',
  settings: 'ttl_only_drop_parts = 1, merge_selector_base = 10',
  identity: ['node', 'gpu_uuid', 'mig_instance', 'field', 'ts'],
  ttlColumn: 'ts',
  retention: 'raw',
  shardingKey: 'cityHash64(node)',
});

export const modelServerMetrics = table({
  name: 'model_server_metrics',
  signal: 'model_server_sample',
  doc: 'One vLLM (or other model server) metric sample; counters stored as deltas since the previous scrape.',
  columns: {
    ts: c.time({ required: true }),
    server: c.label({ required: true, doc: 'Scrape target name.' }),
    node: c.label({ doc: 'Node the server runs on.' }),
    model: c.label({ doc: 'model_name label.' }),
    engine: c.label({ doc: 'engine label (vLLM V1 engine index).' }),
    metric: c.label({ required: true, doc: 'Metric name after mapping deprecated names.' }),
    kind: c.oneOf(['gauge', 'counter_delta', 'histogram_bucket_delta', 'histogram_sum_delta', 'histogram_count_delta'] as const),
    value: c.float({ required: true }),
    labels: c.labels({ doc: 'Remaining labels (le, finished_reason…).' }),
  },
  engine: { kind: 'merge' },
  orderBy: ['server', 'metric', 'ts'],
  partitionBy: 'toYYYYMM(ts)',
  identity: ['server', 'engine', 'model', 'metric', 'labels', 'ts'],
  ttlColumn: 'ts',
  retention: 'raw',
  shardingKey: 'cityHash64(server)',
});

export const modelStates = table({
  name: 'model_states',
  signal: 'model_state',
  doc: 'A model resident in an Ollama server at one poll of /api/ps.',
  columns: {
    ts: c.time({ required: true }),
    server: c.label({ required: true }),
    node: c.label(),
    model: c.label({ required: true }),
    digest: c.label(),
    size_bytes: c.uint64(),
    size_vram_bytes: c.uint64(),
    context_length: c.uint32(),
    expires_at: c.nullableTime(),
  },
  engine: { kind: 'merge' },
  orderBy: ['server', 'model', 'ts'],
  partitionBy: 'toYYYYMM(ts)',
  identity: ['server', 'model', 'ts'],
  ttlColumn: 'ts',
  retention: 'raw',
  shardingKey: 'cityHash64(server)',
});

export const pricePoints = table({
  name: 'price_points',
  signal: 'price_point',
  doc: 'One price change: the price holds from effective_from until the next change for the same key.',
  columns: {
    effective_from: c.time({ required: true }),
    provider: c.label({ required: true, doc: 'aws, azure, gcp, runpod, vast, lambda, book…' }),
    region: c.label(),
    zone: c.label({ doc: 'Availability zone; empty when the price is region-wide.' }),
    instance_type: c.label({ required: true }),
    capacity_type: c.oneOf(CAPACITY_TYPES, { required: true }),
    os: c.label({ doc: 'linux unless the source says otherwise.' }),
    usd_per_hour: c.money({ required: true, doc: 'Normalised price of the whole instance per hour.' }),
    usd_per_gpu_hour: c.money({ doc: 'usd_per_hour / gpu_count (0 when the instance has no GPU).' }),
    gpu_model: c.label(),
    gpu_count: c.uint16(),
    raw_price: c.string({ max: 64, doc: 'Price exactly as the source gave it.' }),
    raw_unit: c.label({ doc: 'Unit exactly as the source gave it (1 Hour, per second…).' }),
    currency: c.label({ doc: 'Currency of raw_price.' }),
    source: c.label({ doc: 'Which source produced the row; says so when a fallback was used.' }),
    observed_at: c.time({ doc: 'When llmeter saw it (version for de-duplication).' }),
  },
  engine: { kind: 'replacing', version: 'observed_at' },
  orderBy: ['provider', 'instance_type', 'region', 'zone', 'capacity_type', 'os', 'effective_from'],
  partitionBy: 'toYYYYMM(effective_from)',
  ttlColumn: 'effective_from',
  retention: 'reference',
  inForceKey: ['provider', 'instance_type', 'region', 'zone', 'capacity_type', 'os'],
  shardingKey: 'cityHash64(instance_type)',
});

export const capacityEvents = table({
  name: 'capacity_events',
  signal: 'capacity_event',
  doc: 'A spot interruption, rebalance recommendation, preemption, scheduled event, XID error, node up/down.',
  columns: {
    ts: c.time({ required: true }),
    event_id: c.string({ required: true, max: 256, doc: 'Deterministic id of the notice; the same notice seen twice is stored once.' }),
    kind: c.label({ required: true, doc: 'spot_interruption, rebalance_recommendation, preemption, scheduled_event, xid, node_up, node_down…' }),
    node: c.label(),
    instance_id: c.label(),
    provider: c.label(),
    action: c.label({ doc: 'terminate, stop, hibernate, Preempt, reset…' }),
    action_at: c.nullableTime({ doc: 'When the action takes effect.' }),
    detail: c.string({ max: 4096, doc: 'The notice as received (JSON).' }),
  },
  engine: { kind: 'replacing', version: 'ts' },
  orderBy: ['kind', 'event_id'],
  partitionBy: 'toYYYYMM(ts)',
  ttlColumn: 'ts',
  retention: 'reference',
  shardingKey: 'cityHash64(event_id)',
});

export const nodes = table({
  name: 'nodes',
  signal: 'node',
  doc: "A node's identity at one observation, for cost joins.",
  columns: {
    ts: c.time({ required: true }),
    node: c.label({ required: true }),
    instance_type: c.label(),
    instance_id: c.label(),
    provider: c.label(),
    region: c.label(),
    zone: c.label(),
    capacity_type: c.oneOf(CAPACITY_TYPES),
    gpu_model: c.label(),
    gpu_count: c.uint16(),
    pool: c.label(),
    tier: c.label({ doc: 'standard (CPU) or premium (GPU), or any name the config uses.' }),
    labels: c.labels(),
    up_until: c.nullableTime({
      doc: 'Until when this observation shows the node up (Kubernetes Ready, the host llmeter runs on): when the next refresh is due. NULL when the source only lists the node (a static entry, a NotReady node): a listing is no evidence that it runs.',
    }),
  },
  engine: { kind: 'merge' },
  orderBy: ['node', 'ts'],
  partitionBy: 'toYYYYMM(ts)',
  identity: ['node', 'ts'],
  ttlColumn: 'ts',
  retention: 'reference',
  shardingKey: 'cityHash64(node)',
});

export const frontendEvents = table({
  name: 'frontend_events',
  signal: 'frontend_event',
  doc: 'One Faro log, exception, measurement or event from a browser.',
  columns: {
    ts: c.time({ required: true }),
    app: c.label({ required: true }),
    tenant: c.label({ required: true }),
    session_id: c.string({ max: 128 }),
    kind: c.oneOf(['log', 'exception', 'measurement', 'event', 'trace'] as const, { required: true }),
    name: c.label({ doc: 'Measurement / event name, log level or exception type.' }),
    value: c.float(),
    message: c.string({ max: 4096 }),
    page_url: c.string({ max: 2048 }),
    trace_id: c.string({ max: 64 }),
    attributes: c.labels(),
    // Added by migration 2: new columns go last, so a migrated table has the same column order.
    idempotency_key: c.string({
      max: 128,
      doc: "The payload's Idempotency-Key (empty without one); with event_seq it names the row, the same on a retried payload.",
    }),
    event_seq: c.uint32({ doc: 'Position of the row among the rows of its payload.' }),
    // Added by migration 5: the payload's meta, the same on every row of a payload, in columns of
    // their own rather than in every row's attributes (rows stored before keep it in attributes).
    app_version: c.label({ doc: "meta.app.version: the page's build." }),
    app_environment: c.label({ doc: 'meta.app.environment, e.g. production.' }),
    app_release: c.label({ doc: 'meta.app.release.' }),
    sdk_version: c.label({ doc: "meta.sdk.version: the Faro web SDK's version." }),
    browser_name: c.label({ doc: 'meta.browser.name, e.g. Chrome.' }),
    browser_version: c.label({ doc: 'meta.browser.version.' }),
    browser_os: c.label({ doc: 'meta.browser.os.' }),
    browser_mobile: c.label({ doc: "meta.browser.mobile: 'true', 'false' or empty." }),
    view_name: c.label({ doc: 'meta.view.name: the view of a single-page app.' }),
    page_id: c.string({ max: 256, doc: 'meta.page.id.' }),
    user_id: c.string({ max: 256, doc: 'meta.user.id (opaque; no e-mail or user name is stored).' }),
    user_hash: c.string({ max: 256, doc: 'meta.user.hash.' }),
  },
  engine: { kind: 'merge' },
  orderBy: ['tenant', 'app', 'ts'],
  partitionBy: 'toYYYYMM(ts)',
  identity: ['tenant', 'app', 'session_id', 'ts', 'kind', 'name', 'value', 'message', 'idempotency_key', 'event_seq'],
  ttlColumn: 'ts',
  retention: 'raw',
  shardingKey: 'cityHash64(tenant)',
});

export const deadLetters = table({
  name: 'dead_letters',
  signal: 'dead_letter',
  doc: 'A record the collector refused, with the reason; nothing is dropped silently.',
  columns: {
    ts: c.time({ required: true }),
    signal: c.label({ required: true }),
    reason: c.string({ required: true, max: 2048 }),
    payload: c.string({ max: 1 << 20, doc: 'The record as received (truncated to 1 MiB).' }),
    source: c.label({ doc: 'ingest, http, kafka, proxy…' }),
    topic: c.label(),
    partition: c.int64(),
    offset: c.int64(),
  },
  engine: { kind: 'merge' },
  orderBy: ['signal', 'ts'],
  partitionBy: 'toYYYYMM(ts)',
  ttlColumn: 'ts',
  retention: 'reference',
  shardingKey: 'rand()',
});

/** Tables that records land in, by signal name. */
export const SIGNAL_TABLES = {
  llm_request: llmRequests,
  gpu_sample: gpuMetrics,
  model_server_sample: modelServerMetrics,
  model_state: modelStates,
  price_point: pricePoints,
  capacity_event: capacityEvents,
  node: nodes,
  frontend_event: frontendEvents,
} as const;

export type Signal = keyof typeof SIGNAL_TABLES;
export const SIGNALS = Object.keys(SIGNAL_TABLES) as Signal[];

export const ALL_TABLES: readonly TableDef[] = [...Object.values(SIGNAL_TABLES), deadLetters];

type Cols<T> = T extends TableDef<infer C> ? C : never;
type RequiredKeys<C> = { [K in keyof C]: C[K] extends Column<unknown, true> ? K : never }[keyof C];
type OptionalKeys<C> = Exclude<keyof C, RequiredKeys<C>>;

/** The record a producer sends for a table: required fields, optional ones, typed from the columns. */
export type RecordOf<T> = { [K in RequiredKeys<Cols<T>>]: ColumnInput<Cols<T>[K]> } & {
  [K in OptionalKeys<Cols<T>>]?: ColumnInput<Cols<T>[K]>;
};

export type LlmRequestRecord = RecordOf<typeof llmRequests>;
export type GpuSampleRecord = RecordOf<typeof gpuMetrics>;
export type ModelServerSampleRecord = RecordOf<typeof modelServerMetrics>;
export type ModelStateRecord = RecordOf<typeof modelStates>;
export type PricePointRecord = RecordOf<typeof pricePoints>;
export type CapacityEventRecord = RecordOf<typeof capacityEvents>;
export type NodeRecord = RecordOf<typeof nodes>;
export type FrontendEventRecord = RecordOf<typeof frontendEvents>;

export interface SignalRecords {
  llm_request: LlmRequestRecord;
  gpu_sample: GpuSampleRecord;
  model_server_sample: ModelServerSampleRecord;
  model_state: ModelStateRecord;
  price_point: PricePointRecord;
  capacity_event: CapacityEventRecord;
  node: NodeRecord;
  frontend_event: FrontendEventRecord;
}

/** Version of the record contract in docs/records.md. */
export const RECORDS_VERSION = 1;
