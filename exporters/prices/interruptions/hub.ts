// Where every watcher sends its notices: each notice is stored once (by event id) as a
// capacity_event and published once to the listeners — the hook the autoscaling side uses to drain
// a node. The same interruption reported by two channels (IMDS and EventBridge) is stored under each
// channel's id but published only once.
import { EventEmitter } from 'node:events';
import { Counter, type Registry } from 'prom-client';
import { errorMessage } from '../../../collector/core/errors.ts';
import type { Logger } from '../../../collector/core/log.ts';
import type { RecordSink } from '../../../collector/core/pipeline/pipeline.ts';
import type { Store } from '../../../collector/core/store/store.ts';
import { noticeRecord, type CapacityNotice } from './notice.ts';

export type NoticeListener = (n: CapacityNotice) => void | Promise<void>;

export interface NoticeHubOptions {
  sink: RecordSink;
  registry: Registry;
  log: Logger;
  /** Ids remembered in memory (bounded; the table's replacing key covers what falls out). */
  dedupeWindow: number;
  /** Same kind + instance from another channel within this time is not published again. */
  suppressMs: number;
}

interface HubEvents {
  notice: [CapacityNotice];
}

export class NoticeHub {
  private readonly o: NoticeHubOptions;
  private readonly seen = new Map<string, number>();
  private readonly published = new Map<string, number>();
  private readonly emitter = new EventEmitter<HubEvents>();
  private readonly notices: Counter<'kind' | 'provider' | 'channel'>;
  private readonly duplicates: Counter<'channel'>;
  private readonly listenerErrors: Counter;

  constructor(o: NoticeHubOptions) {
    this.o = o;
    const registers = [o.registry];
    this.notices = new Counter({
      name: 'llmeter_spot_notices_total',
      help: 'Capacity notices recorded (first sight only).',
      labelNames: ['kind', 'provider', 'channel'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'llmeter_spot_notices_duplicate_total',
      help: 'Notices seen again and not recorded twice.',
      labelNames: ['channel'],
      registers,
    });
    this.listenerErrors = new Counter({ name: 'llmeter_spot_listener_errors_total', help: 'Notice listeners that threw.', registers });
  }

  /** Subscribes to new notices; returns the unsubscribe function. */
  onNotice(listener: NoticeListener): () => void {
    const wrapped = (n: CapacityNotice) => {
      try {
        const r = listener(n);
        if (r instanceof Promise) r.catch((err: unknown) => this.listenerFailed(err));
      } catch (err) {
        this.listenerFailed(err);
      }
    };
    this.emitter.on('notice', wrapped);
    return () => this.emitter.off('notice', wrapped);
  }

  private listenerFailed(err: unknown): void {
    this.listenerErrors.inc();
    this.o.log.error('capacity notice listener failed', { error: errorMessage(err) });
  }

  /** Remembers ids already stored (after a restart) so they are not published again. */
  async preload(store: Store, sinceMs: number): Promise<number> {
    const rows = await store.queryRows<{ event_id: string }>(
      'SELECT DISTINCT event_id FROM capacity_events WHERE ts >= fromUnixTimestamp64Milli({t:Int64}) LIMIT {n:UInt32}',
      { t: sinceMs, n: this.o.dedupeWindow },
    );
    for (const r of rows) this.remember(r.event_id);
    return rows.length;
  }

  private remember(id: string): void {
    this.seen.set(id, Date.now());
    while (this.seen.size > this.o.dedupeWindow) this.seen.delete(this.seen.keys().next().value!);
  }

  /** Records a notice unless already seen; resolves true when it was new. */
  async report(n: CapacityNotice): Promise<boolean> {
    if (this.seen.has(n.eventId)) {
      this.duplicates.inc({ channel: n.channel });
      return false;
    }
    this.remember(n.eventId);
    const r = await this.o.sink.submit('capacity_event', [noticeRecord(n)], { source: `spot:${n.channel}` });
    if (r.accepted === 0) {
      this.o.log.error('capacity notice not stored', { event_id: n.eventId, reasons: r.reasons });
    }
    this.notices.inc({ kind: n.kind, provider: n.provider, channel: n.channel });
    this.o.log.warn('capacity notice', { kind: n.kind, node: n.node, instance_id: n.instanceId, action: n.action, action_at: n.actionAt, channel: n.channel });
    const pubKey = `${n.kind}\u0001${n.instanceId || n.node}`;
    const last = this.published.get(pubKey);
    const now = Date.now();
    if (last === undefined || now - last > this.o.suppressMs) {
      this.published.set(pubKey, now);
      if (this.published.size > this.o.dedupeWindow) this.published.delete(this.published.keys().next().value!);
      this.emitter.emit('notice', n);
    }
    return true;
  }
}
