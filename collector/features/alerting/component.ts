// Recomputes the alert-facing gauges from the store on a fixed interval. One refresh runs at a
// time (a slow store makes ticks skip, never pile up); a failed refresh keeps the previous values
// and is counted, so an alert does not flap because one query timed out.
import { errorMessage } from '../../core/errors.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import type { Store } from '../../core/store/store.ts';
import type { AlertingConfig } from './config.ts';
import type { AlertGauges } from './gauges.ts';
import { readSnapshot } from './queries.ts';

export interface AlertGaugeRefresherOptions {
  store: Store;
  gauges: AlertGauges;
  config: AlertingConfig;
  /** Most models with series of their own (proxy.max_model_labels). */
  maxModels: number;
  log: Logger;
  now?: () => number;
}

export class AlertGaugeRefresher implements Component {
  readonly name = 'alerting';
  private readonly o: AlertGaugeRefresherOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  readonly shutdown: () => Promise<void>;

  constructor(o: AlertGaugeRefresherOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.shutdown = once(async () => {
      this.stopped = true;
      if (this.timer) clearInterval(this.timer);
      await this.running;
    });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.config.interval_ms);
    this.timer.unref();
  }

  async forceFlush(): Promise<void> {
    await this.refresh();
  }

  /** Recompute now; resolves when the gauges hold the store's current state. */
  refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) return this.running.then(() => this.refresh());
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    const stopTimer = this.o.gauges.refreshSeconds.startTimer();
    const now = this.now();
    try {
      const snapshot = await readSnapshot(this.o.store, now, this.o.config, this.o.maxModels);
      this.o.gauges.apply(snapshot, now);
      if (this.o.gauges.truncated > 0) this.o.log.warn('alert gauges truncated at max_series', { left_out: this.o.gauges.truncated });
    } catch (err) {
      this.o.gauges.refreshFailures.inc();
      this.o.log.warn('alert gauge refresh failed', { error: errorMessage(err) });
    } finally {
      stopTimer();
    }
  }
}
