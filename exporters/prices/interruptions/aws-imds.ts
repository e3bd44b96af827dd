// EC2 instance metadata (IMDSv2): a session token from PUT /latest/api/token, refreshed before it
// expires or when a read answers 401; then the spot instance-action, the rebalance recommendation
// and (optionally) scheduled maintenance events. A refused token PUT is reported
// (reason token_refused) and retried, or read without a token when imdsv1_fallback allows it.
import type { NoticeHub } from './hub.ts';
import { parseTime, type CapacityNotice } from './notice.ts';
import { metaFetch, Poller, WatcherError, type PollerOptions } from './poller.ts';

export interface AwsImdsOptions extends Omit<PollerOptions, 'name'> {
  endpoint: string;
  tokenTtlS: number;
  imdsv1Fallback: boolean;
  scheduledEvents: boolean;
  node: string;
  instanceId: string;
  hub: NoticeHub;
  timeoutMs?: number;
}

export class AwsImdsWatcher extends Poller {
  private readonly o: AwsImdsOptions;
  private token?: { value: string; expiresAt: number };
  private instanceId: string;
  private readonly base: string;

  constructor(o: AwsImdsOptions) {
    super({ ...o, name: 'aws-imds' });
    this.o = o;
    this.instanceId = o.instanceId;
    this.base = o.endpoint.replace(/\/$/, '');
  }

  private get timeoutMs(): number {
    return this.o.timeoutMs ?? 2_000;
  }

  /** The current token, fetched when missing or within 15 s of expiry; undefined in IMDSv1 mode. */
  private async sessionToken(signal: AbortSignal): Promise<string | undefined> {
    if (this.token && this.token.expiresAt - 15_000 > Date.now()) return this.token.value;
    const res = await metaFetch(
      `${this.base}/latest/api/token`,
      { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.o.tokenTtlS) } },
      this.timeoutMs,
      signal,
    );
    const body = await res.text();
    if (!res.ok || !body.trim()) {
      if (this.o.imdsv1Fallback) return undefined;
      throw new WatcherError('token_refused', `IMDS refused a session token (PUT /latest/api/token answered ${res.status})`);
    }
    this.token = { value: body.trim(), expiresAt: Date.now() + this.o.tokenTtlS * 1000 };
    return this.token.value;
  }

  /** GET a metadata path: the body, or undefined on 404 (nothing to report). */
  private async get(path: string, signal: AbortSignal, retried = false): Promise<string | undefined> {
    const token = await this.sessionToken(signal);
    const res = await metaFetch(
      `${this.base}/latest/meta-data/${path}`,
      { headers: token ? { 'x-aws-ec2-metadata-token': token } : {} },
      this.timeoutMs,
      signal,
    );
    const body = await res.text();
    if (res.status === 404) return undefined;
    if (res.status === 401 && !retried) {
      this.token = undefined;
      return this.get(path, signal, true);
    }
    if (!res.ok) throw new WatcherError('http_status', `IMDS ${path} answered ${res.status}`);
    return body;
  }

  private json(path: string, body: string): unknown {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new WatcherError('garbage', `IMDS ${path} is not JSON: ${JSON.stringify(body.slice(0, 80))}`);
    }
  }

  async pollOnce(signal: AbortSignal): Promise<void> {
    if (!this.instanceId) this.instanceId = (await this.get('instance-id', signal))?.trim() ?? '';
    const base = { provider: 'aws' as const, channel: 'imds', node: this.o.node, instanceId: this.instanceId };
    const notices: CapacityNotice[] = [];

    const action = await this.get('spot/instance-action', signal);
    if (action !== undefined) {
      const d = this.json('spot/instance-action', action) as { action?: unknown; time?: unknown };
      const at = parseTime(d.time);
      const act = typeof d.action === 'string' ? d.action : 'terminate';
      notices.push({
        ...base,
        kind: 'spot_interruption',
        eventId: `aws-imds:${this.instanceId}:instance-action:${act}:${String(d.time)}`,
        // The notice comes two minutes ahead of the action: a deterministic ts keeps a re-read in the
        // same table partition, where the replacing key folds it.
        ts: at !== undefined ? Math.min(Date.now(), at - 120_000) : Date.now(),
        action: act,
        actionAt: at ?? null,
        detail: d,
      });
    }

    const rebalance = await this.get('events/recommendations/rebalance', signal);
    if (rebalance !== undefined) {
      const d = this.json('events/recommendations/rebalance', rebalance) as { noticeTime?: unknown };
      const t = parseTime(d.noticeTime);
      notices.push({
        ...base,
        kind: 'rebalance_recommendation',
        eventId: `aws-imds:${this.instanceId}:rebalance:${String(d.noticeTime)}`,
        ts: t ?? Date.now(),
        action: 'rebalance',
        actionAt: null,
        detail: d,
      });
    }

    if (this.o.scheduledEvents) {
      const sched = await this.get('events/maintenance/scheduled', signal);
      if (sched !== undefined && sched.trim()) {
        const list = this.json('events/maintenance/scheduled', sched);
        if (Array.isArray(list)) {
          for (const e of list as Record<string, unknown>[]) {
            if (typeof e?.EventId !== 'string' || e.State === 'completed' || e.State === 'canceled') continue;
            notices.push({
              ...base,
              kind: 'scheduled_event',
              eventId: `aws-imds:${this.instanceId}:${e.EventId}`,
              ts: Date.now(),
              action: String(e.Code ?? ''),
              actionAt: parseTime(e.NotBefore) ?? null,
              detail: e,
            });
          }
        }
      }
    }
    for (const n of notices) await this.o.hub.report(n);
  }
}
