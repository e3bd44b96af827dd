// GCE metadata server: `instance/preempted` answers FALSE until the VM is preempted, then TRUE. The
// watcher hangs on wait_for_change (with last_etag) so the change arrives at once; the ETag of the
// TRUE answer identifies the notice.
import type { NoticeHub } from './hub.ts';
import { metaFetch, Poller, WatcherError, type PollerOptions } from './poller.ts';

export interface GcpMetadataOptions extends Omit<PollerOptions, 'name'> {
  endpoint: string;
  waitTimeoutS: number;
  node: string;
  instanceId: string;
  hub: NoticeHub;
}

export class GcpMetadataWatcher extends Poller {
  private readonly o: GcpMetadataOptions;
  private readonly base: string;
  private etag = '0';
  private instanceId: string;

  constructor(o: GcpMetadataOptions) {
    super({ ...o, name: 'gcp-metadata' });
    this.o = o;
    this.base = `${o.endpoint.replace(/\/$/, '')}/computeMetadata/v1/instance`;
    this.instanceId = o.instanceId;
  }

  private async read(path: string, signal: AbortSignal, timeoutMs: number): Promise<Response> {
    const res = await metaFetch(`${this.base}/${path}`, { headers: { 'metadata-flavor': 'Google' } }, timeoutMs, signal);
    if (!res.ok) {
      await res.body?.cancel();
      throw new WatcherError('http_status', `metadata ${path.split('?')[0]} answered ${res.status}`);
    }
    return res;
  }

  async pollOnce(signal: AbortSignal): Promise<void> {
    if (!this.instanceId) this.instanceId = (await (await this.read('id', signal, 2_000)).text()).trim();
    const q = `preempted?wait_for_change=true&timeout_sec=${this.o.waitTimeoutS}&last_etag=${encodeURIComponent(this.etag)}`;
    const res = await this.read(q, signal, (this.o.waitTimeoutS + 5) * 1000);
    const body = (await res.text()).trim();
    const etag = res.headers.get('etag') ?? this.etag;
    this.etag = etag;
    if (body !== 'TRUE' && body !== 'FALSE') throw new WatcherError('garbage', `preempted answered ${JSON.stringify(body.slice(0, 40))}`);
    if (body !== 'TRUE') return;
    await this.o.hub.report({
      eventId: `gcp-metadata:${this.instanceId}:preempted:${etag}`,
      kind: 'preemption',
      ts: Date.now(),
      provider: 'gcp',
      channel: 'metadata',
      node: this.o.node,
      instanceId: this.instanceId,
      action: 'preempt',
      // GCE sends ACPI soft-off and gives about 30 s (or the configured preemption notice duration).
      actionAt: null,
      detail: { preempted: body, etag },
    });
  }
}
