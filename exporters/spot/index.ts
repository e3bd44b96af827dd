// Builds the interruption watchers enabled in `prices.interruptions` and the hub they report to.
import os from 'node:os';
import { adminKeyRing, requireAdmin } from '../../collector/http/admin-api.ts';
import { once, type Component } from '../../collector/lifecycle/component.ts';
import type { Store } from '../../collector/store/store.ts';
import type { RuntimeContext } from '../../collector/runtime.ts';
import { AwsImdsWatcher } from './aws-imds.ts';
import { AzureScheduledEventsWatcher } from './azure-scheduled-events.ts';
import { EventFileFollower, mountEventRoute } from './eventbridge.ts';
import { GcpMetadataWatcher } from './gcp-metadata.ts';
import { hubFor, NoticeHub } from './hub.ts';
import { watcherMetrics } from './poller.ts';

const MAX_BACKOFF_MS = 60_000;
const PRELOAD_MS = 7 * 24 * 3_600_000;

/** Loads the ids of recent notices at start-up, so a restart does not publish them again. */
class HubPreload implements Component {
  readonly name = 'spot-notices';
  private readonly hub: NoticeHub;
  private readonly store: Store;
  private readonly log: RuntimeContext['log'];
  constructor(hub: NoticeHub, store: Store, log: RuntimeContext['log']) {
    this.hub = hub;
    this.store = store;
    this.log = log;
  }
  async start(): Promise<void> {
    try {
      await this.hub.preload(this.store, Date.now() - PRELOAD_MS);
    } catch (err) {
      this.log.warn('could not load recent capacity notices; a notice seen before the restart may be published again', { error: (err as Error).message });
    }
  }
  async forceFlush(): Promise<void> {}
  shutdown = once(async () => {});
}

/** The hub of this collector: the autoscaling side subscribes with `noticeHub(ctx).onNotice(…)`. */
export function noticeHub(ctx: Pick<RuntimeContext, 'config' | 'sink' | 'registry' | 'log'>): NoticeHub {
  const c = ctx.config.prices.interruptions;
  return hubFor(ctx.registry, () => new NoticeHub({ sink: ctx.sink, registry: ctx.registry, log: ctx.log.child('spot'), dedupeWindow: c.dedupe_window, suppressMs: c.drain_suppress_ms }));
}

export function spotComponents(ctx: RuntimeContext): Component[] {
  const c = ctx.config.prices.interruptions;
  const anything = c.aws_imds.enabled || c.gcp_metadata.enabled || c.azure_scheduled_events.enabled || c.eventbridge.file !== '' || c.eventbridge.http;
  if (!anything) return [];
  const hub = noticeHub(ctx);
  const metrics = watcherMetrics(ctx.registry);
  const log = ctx.log.child('spot');
  const node = c.node || os.hostname();
  const common = { metrics, log, maxBackoffMs: MAX_BACKOFF_MS, node, instanceId: c.instance_id, hub };
  const out: Component[] = [new HubPreload(hub, ctx.store, log)];
  if (c.aws_imds.enabled) {
    out.push(new AwsImdsWatcher({ ...common, intervalMs: c.aws_imds.interval_ms, endpoint: c.aws_imds.endpoint, tokenTtlS: c.aws_imds.token_ttl_s, imdsv1Fallback: c.aws_imds.imdsv1_fallback, scheduledEvents: c.aws_imds.scheduled_events }));
  }
  if (c.gcp_metadata.enabled) {
    out.push(new GcpMetadataWatcher({ ...common, intervalMs: c.gcp_metadata.interval_ms, endpoint: c.gcp_metadata.endpoint, waitTimeoutS: c.gcp_metadata.wait_timeout_s }));
  }
  if (c.azure_scheduled_events.enabled) {
    const a = c.azure_scheduled_events;
    out.push(new AzureScheduledEventsWatcher({ ...common, intervalMs: a.interval_ms, endpoint: a.endpoint, apiVersion: a.api_version, vmName: a.vm_name }));
  }
  if (c.eventbridge.file) out.push(new EventFileFollower({ metrics, log, maxBackoffMs: MAX_BACKOFF_MS, intervalMs: c.eventbridge.poll_ms, file: c.eventbridge.file, hub }));
  if (c.eventbridge.http) {
    const ring = adminKeyRing(ctx.config.http);
    mountEventRoute(ctx.http, hub, (req) => requireAdmin(req, ring));
  }
  return out;
}
