// EventBridge-style EC2 events (spot interruption warning, rebalance recommendation, instance state
// change) fed from a queue: raw events, SNS notifications or SQS messages wrapping them, one per line
// in a file that is followed, or POSTed to the collector. The event's own id identifies it, so an
// at-least-once queue that delivers it twice stores it once.
import { open, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpServer } from '../../../collector/core/http/server.ts';
import { readBody, sendJson } from '../../../collector/core/http/server.ts';
import type { NoticeHub } from './hub.ts';
import { parseTime, type CapacityNotice, type NoticeKind } from './notice.ts';
import { Poller, type PollerOptions } from './poller.ts';

const DOWN_STATES = new Set(['stopping', 'stopped', 'shutting-down', 'terminated']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Unwraps SQS (Records[].body / Messages[].Body) and SNS (Message) envelopes down to events. */
export function unwrapEvents(v: unknown, depth = 0): unknown[] {
  if (depth > 4) return [];
  if (typeof v === 'string') {
    try {
      return unwrapEvents(JSON.parse(v), depth + 1);
    } catch {
      // A string that is not JSON is no envelope: it is the event itself.
      return [v];
    }
  }
  if (Array.isArray(v)) return v.flatMap((x) => unwrapEvents(x, depth + 1));
  if (!isRecord(v)) return [v];
  if (Array.isArray(v.Records)) return v.Records.flatMap((r) => unwrapEvents(isRecord(r) ? (r.body ?? r.Body ?? r.Sns ?? r) : r, depth + 1));
  if (Array.isArray(v.Messages)) return v.Messages.flatMap((m) => unwrapEvents(isRecord(m) ? (m.Body ?? m.body) : m, depth + 1));
  if (v.Type === 'Notification' && typeof v.Message === 'string') return unwrapEvents(v.Message, depth + 1);
  return [v];
}

/** One EventBridge event → a notice, or the reason it is not one. */
export function eventToNotice(e: unknown): CapacityNotice | string {
  if (!isRecord(e) || typeof e.id !== 'string' || typeof e['detail-type'] !== 'string' || !isRecord(e.detail)) return 'not_an_event';
  if (e.source !== 'aws.ec2') return 'other_source';
  const ts = parseTime(e.time);
  if (ts === undefined) return 'bad_time';
  const instanceId = typeof e.detail['instance-id'] === 'string' ? e.detail['instance-id'] : '';
  if (!instanceId) return 'no_instance_id';
  let kind: NoticeKind;
  let action: string;
  let actionAt: number | null = null;
  switch (e['detail-type']) {
    case 'EC2 Spot Instance Interruption Warning':
      kind = 'spot_interruption';
      action = typeof e.detail['instance-action'] === 'string' ? e.detail['instance-action'] : 'terminate';
      // The event time is when the warning was sent, two minutes before the action.
      actionAt = ts + 120_000;
      break;
    case 'EC2 Instance Rebalance Recommendation':
      kind = 'rebalance_recommendation';
      action = 'rebalance';
      break;
    case 'EC2 Instance State-change Notification': {
      const state = typeof e.detail.state === 'string' ? e.detail.state : '';
      if (DOWN_STATES.has(state)) kind = 'node_down';
      else if (state === 'running') kind = 'node_up';
      else return 'state_not_tracked';
      action = state;
      actionAt = ts;
      break;
    }
    default:
      return 'other_detail_type';
  }
  return {
    eventId: `aws-eventbridge:${e.id}`,
    kind,
    ts,
    provider: 'aws',
    channel: 'eventbridge',
    node: '',
    instanceId,
    action,
    actionAt,
    detail: e,
  };
}

export interface FeedResult {
  recorded: number;
  duplicates: number;
  ignored: Record<string, number>;
}

export async function feedEvents(hub: NoticeHub, payload: unknown): Promise<FeedResult> {
  const out: FeedResult = { recorded: 0, duplicates: 0, ignored: {} };
  for (const e of unwrapEvents(payload)) {
    const n = eventToNotice(e);
    if (typeof n === 'string') {
      out.ignored[n] = (out.ignored[n] ?? 0) + 1;
      continue;
    }
    if (await hub.report(n)) out.recorded++;
    else out.duplicates++;
  }
  return out;
}

/** Follows an NDJSON file: new complete lines are fed to the hub; a truncated file is read afresh. */
export class EventFileFollower extends Poller {
  private readonly file: string;
  private readonly hub: NoticeHub;
  private offset = 0;
  private partial = '';

  constructor(o: Omit<PollerOptions, 'name'> & { file: string; hub: NoticeHub }) {
    super({ ...o, name: 'eventbridge-file' });
    this.file = o.file;
    this.hub = o.hub;
  }

  async pollOnce(): Promise<void> {
    let size: number;
    try {
      size = (await stat(this.file)).size;
    } catch {
      return; // not created yet
    }
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
    }
    if (size === this.offset) return;
    const fh = await open(this.file, 'r');
    try {
      const len = Math.min(size - this.offset, 16 * 1024 * 1024);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        await feedEvents(this.hub, line);
      }
    } finally {
      await fh.close();
    }
  }
}

/** POST /api/v1/spot/events: a raw event, an array, or an SQS/SNS envelope. */
export function mountEventRoute(http: HttpServer, hub: NoticeHub, guard: (req: IncomingMessage) => void): void {
  http.route(
    'POST',
    '/api/v1/spot/events',
    async (req: IncomingMessage, res: ServerResponse) => {
      guard(req);
      const body = await readBody(req, 1024 * 1024);
      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        return sendJson(res, 400, { error: 'body is not JSON' });
      }
      sendJson(res, 200, await feedEvents(hub, payload));
    },
    { bodyTypes: ['application/json'] },
  );
}
