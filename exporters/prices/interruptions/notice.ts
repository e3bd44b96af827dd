// A capacity notice as the watchers see it, and its capacity_event record. The event id is built
// from what identifies the notice at its source, so the same notice read twice has the same id.
import type { CapacityEventRecord } from '../../../collector/core/schema/tables.ts';

export type NoticeKind = 'spot_interruption' | 'rebalance_recommendation' | 'preemption' | 'scheduled_event' | 'node_up' | 'node_down';

export interface CapacityNotice {
  /** Deterministic id (source + the notice's own identity). */
  eventId: string;
  kind: NoticeKind;
  /** When the notice was given (ms). */
  ts: number;
  provider: 'aws' | 'gcp' | 'azure';
  /** Channel that delivered it: imds, eventbridge, metadata, scheduled_events. */
  channel: string;
  node: string;
  instanceId: string;
  /** terminate, stop, hibernate, Preempt, Reboot… */
  action: string;
  /** When the action takes effect, if the source says. */
  actionAt: number | null;
  /** The notice as received. */
  detail: unknown;
}

export function noticeRecord(n: CapacityNotice): CapacityEventRecord {
  let detail = JSON.stringify(n.detail) ?? '';
  if (detail.length > 4096) detail = detail.slice(0, 4096);
  return {
    ts: n.ts,
    event_id: n.eventId.slice(0, 256),
    kind: n.kind,
    node: n.node,
    instance_id: n.instanceId,
    provider: n.provider,
    action: n.action,
    action_at: n.actionAt,
    detail,
  };
}

/** Parses ISO-8601 and RFC 1123 ("Mon, 11 Apr 2026 22:26:58 GMT") times; undefined when empty or bad. */
export function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}
