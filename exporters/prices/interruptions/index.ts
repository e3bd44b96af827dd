// Builds the interruption watchers enabled in `prices.interruptions` and the hub they report to.
import os from 'node:os';
import { errorMessage } from '../../../collector/core/errors.ts';
import { adminKeyRing, requireAdmin } from '../../../collector/core/http/admin-auth.ts';
import { once, type Component } from '../../../collector/core/lifecycle/component.ts';
import type { Store } from '../../../collector/core/store/store.ts';
import type { CoreServices } from '../../../collector/core/feature.ts';
import type { Logger } from '../../../collector/core/log.ts';
import { AwsImdsWatcher } from './aws-imds.ts';
import { AzureScheduledEventsWatcher } from './azure-scheduled-events.ts';
import { EventFileFollower, mountEventRoute } from './eventbridge.ts';
import { GcpMetadataWatcher } from './gcp-metadata.ts';
import { NoticeHub } from './hub.ts';
import type { InterruptionsConfig } from './config.ts';
import type { WatcherMetrics } from './poller.ts';
import { type Poller } from './poller.ts';

const MAX_BACKOFF_MS = 60_000;
const PRELOAD_MS = 7 * 24 * 3_600_000;

/** Loads the ids of recent notices at start-up, so a restart does not publish them again. */
class HubPreload implements Component {
  readonly name = 'spot-notices';
  private readonly hub: NoticeHub;
  private readonly store: Store;
  private readonly log: Logger;
  constructor(hub: NoticeHub, store: Store, log: Logger) {
    this.hub = hub;
    this.store = store;
    this.log = log;
  }
  async start(): Promise<void> {
    try {
      await this.hub.preload(this.store, Date.now() - PRELOAD_MS);
    } catch (err) {
      this.log.warn('could not load recent capacity notices; a notice seen before the restart may be published again', { error: errorMessage(err) });
    }
  }
  async forceFlush(): Promise<void> {}
  shutdown = once(async () => {});
}

/** The hub the watchers report notices to; the autoscaling side subscribes to it (`onNotice`). */
export function newNoticeHub(core: Pick<CoreServices, 'sink' | 'registry' | 'log'>, c: InterruptionsConfig): NoticeHub {
  return new NoticeHub({
    sink: core.sink,
    registry: core.registry,
    log: core.log.child('spot'),
    dedupeWindow: c.dedupe_window,
    suppressMs: c.drain_suppress_ms,
  });
}

/** The watchers a machine can run on its own, by their configuration key. */
export const WATCHER_NAMES = ['aws_imds', 'gcp_metadata', 'azure_scheduled_events', 'eventbridge'] as const;
export type WatcherName = (typeof WATCHER_NAMES)[number];

export interface WatcherDeps {
  hub: NoticeHub;
  metrics: WatcherMetrics;
  log: Logger;
}

/**
 * The pollers of the watchers enabled in the configuration (or of those named in `only`, enabled
 * or not): the metadata services and the EventBridge file. `endpoint` replaces the endpoint (or the
 * file) of the watchers built.
 */
export function pollingWatchers(c: InterruptionsConfig, d: WatcherDeps, only?: readonly WatcherName[], endpoint?: string): Poller[] {
  const on = (name: WatcherName, enabled: boolean) => (only ? only.includes(name) : enabled);
  const node = c.node || os.hostname();
  const common = { metrics: d.metrics, log: d.log, maxBackoffMs: MAX_BACKOFF_MS, node, instanceId: c.instance_id, hub: d.hub };
  const out: Poller[] = [];
  if (on('aws_imds', c.aws_imds.enabled)) {
    const a = c.aws_imds;
    out.push(
      new AwsImdsWatcher({
        ...common,
        intervalMs: a.interval_ms,
        endpoint: endpoint ?? a.endpoint,
        tokenTtlS: a.token_ttl_s,
        imdsv1Fallback: a.imdsv1_fallback,
        scheduledEvents: a.scheduled_events,
      }),
    );
  }
  if (on('gcp_metadata', c.gcp_metadata.enabled)) {
    const g = c.gcp_metadata;
    out.push(new GcpMetadataWatcher({ ...common, intervalMs: g.interval_ms, endpoint: endpoint ?? g.endpoint, waitTimeoutS: g.wait_timeout_s }));
  }
  if (on('azure_scheduled_events', c.azure_scheduled_events.enabled)) {
    const a = c.azure_scheduled_events;
    out.push(
      new AzureScheduledEventsWatcher({ ...common, intervalMs: a.interval_ms, endpoint: endpoint ?? a.endpoint, apiVersion: a.api_version, vmName: a.vm_name }),
    );
  }
  const file = endpoint ?? c.eventbridge.file;
  if (on('eventbridge', c.eventbridge.file !== '') && file) {
    out.push(new EventFileFollower({ metrics: d.metrics, log: d.log, maxBackoffMs: MAX_BACKOFF_MS, intervalMs: c.eventbridge.poll_ms, file, hub: d.hub }));
  }
  return out;
}

/** The enabled watchers, their preload of recent notices, and POST /api/v1/spot/events (none when nothing is enabled). */
export function buildInterruptions(core: CoreServices, c: InterruptionsConfig, hub: NoticeHub, metrics: WatcherMetrics): Component[] {
  const anything = c.aws_imds.enabled || c.gcp_metadata.enabled || c.azure_scheduled_events.enabled || c.eventbridge.file !== '' || c.eventbridge.http;
  if (!anything) return [];
  const log = core.log.child('spot');
  const out: Component[] = [new HubPreload(hub, core.store, log)];
  out.push(...pollingWatchers(c, { hub, metrics, log }));
  if (c.eventbridge.http) {
    const ring = adminKeyRing(core.config.http);
    mountEventRoute(core.http, hub, (req) => requireAdmin(req, ring));
  }
  return out;
}
