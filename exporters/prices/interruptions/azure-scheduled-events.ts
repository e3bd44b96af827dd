// Azure Scheduled Events: GET /metadata/scheduledevents with "Metadata: true". A Spot eviction is an
// event of type Preempt (at least 30 s ahead); other types (Reboot, Redeploy, Freeze, Terminate)
// are recorded as scheduled events. EventId is stable while the event moves from Scheduled to
// Started, so each event is recorded once.
import type { NoticeHub } from './hub.ts';
import { parseTime } from './notice.ts';
import { metaFetch, Poller, WatcherError, type PollerOptions } from './poller.ts';

export interface AzureScheduledEventsOptions extends Omit<PollerOptions, 'name'> {
  endpoint: string;
  apiVersion: string;
  vmName: string;
  node: string;
  instanceId: string;
  hub: NoticeHub;
}

export class AzureScheduledEventsWatcher extends Poller {
  private readonly o: AzureScheduledEventsOptions;
  private incarnation = -1;

  constructor(o: AzureScheduledEventsOptions) {
    super({ ...o, name: 'azure-scheduled-events' });
    this.o = o;
  }

  async pollOnce(signal: AbortSignal): Promise<void> {
    const url = `${this.o.endpoint.replace(/\/$/, '')}/metadata/scheduledevents?api-version=${encodeURIComponent(this.o.apiVersion)}`;
    const res = await metaFetch(url, { headers: { metadata: 'true' } }, 5_000, signal);
    const text = await res.text();
    if (!res.ok) throw new WatcherError('http_status', `scheduled events answered ${res.status}`);
    let doc: { DocumentIncarnation?: unknown; Events?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      throw new WatcherError('garbage', 'scheduled events answer is not JSON');
    }
    if (!Array.isArray(doc.Events)) throw new WatcherError('garbage', 'scheduled events answer has no Events array');
    // An unchanged incarnation means an unchanged document.
    if (typeof doc.DocumentIncarnation === 'number' && doc.DocumentIncarnation === this.incarnation) return;
    for (const e of doc.Events as Record<string, unknown>[]) {
      if (typeof e?.EventId !== 'string') continue;
      const resources = Array.isArray(e.Resources) ? e.Resources.filter((r): r is string => typeof r === 'string') : [];
      if (this.o.vmName && !resources.includes(this.o.vmName)) continue;
      const type = String(e.EventType ?? '');
      await this.o.hub.report({
        eventId: `azure-scheduled-events:${e.EventId}`,
        kind: type === 'Preempt' ? 'preemption' : 'scheduled_event',
        ts: Date.now(),
        provider: 'azure',
        channel: 'scheduled_events',
        node: this.o.node,
        instanceId: this.o.instanceId || resources.join(','),
        action: type,
        actionAt: parseTime(e.NotBefore) ?? null,
        detail: e,
      });
    }
    if (typeof doc.DocumentIncarnation === 'number') this.incarnation = doc.DocumentIncarnation;
  }
}
