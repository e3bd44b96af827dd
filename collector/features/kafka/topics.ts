// Topic names and message keys. One topic per signal, versioned with the record contract so a
// change of contract gets new topics instead of confusing old consumers. Keys keep order where it
// matters: every record of one node (GPU samples, capacity events) or one tenant (requests) lands in
// one partition, so it is read back in the order it was written.
import { RECORDS_VERSION, SIGNALS, type Signal, type SignalRecords } from '../../core/schema/tables.ts';

export function topicName(prefix: string, signal: Signal, version: number = RECORDS_VERSION): string {
  return `${prefix ? `${prefix}.` : ''}${signal}.v${version}`;
}

export function allTopics(prefix: string): Map<string, Signal> {
  return new Map(SIGNALS.map((s) => [topicName(prefix, s), s] as const));
}

type AnyRecord = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

/** The field whose value keeps related records in one partition, per signal. */
const KEY_FIELDS: Record<Signal, (r: AnyRecord) => string> = {
  llm_request: (r) => str(r.tenant),
  gpu_sample: (r) => str(r.node),
  model_server_sample: (r) => str(r.server),
  model_state: (r) => str(r.server),
  price_point: (r) => [r.provider, r.region, r.instance_type].map(str).join('/'),
  capacity_event: (r) => str(r.node),
  node: (r) => str(r.node),
  frontend_event: (r) => str(r.tenant) || str(r.app),
};

export function messageKey<S extends Signal>(signal: S, record: SignalRecords[S]): string {
  return KEY_FIELDS[signal](record as unknown as AnyRecord);
}
