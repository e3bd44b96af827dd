// The loop every metadata watcher runs: poll, wait, poll again; after an error back off (capped)
// and count it, so a metadata service that is down or refuses us shows on /metrics.
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage, LlmeterError } from '../../../collector/core/errors.ts';
import { backoffMs, once, sleep, type Component } from '../../../collector/core/lifecycle/component.ts';
import type { Logger } from '../../../collector/core/log.ts';

/** A metadata service's answer a watcher cannot use; its code is the `reason` label it counts under. */
export class WatcherError extends LlmeterError {
  declare readonly code: string;
  constructor(reason: string, message: string) {
    super(message, reason);
  }

  get reason(): string {
    return this.code;
  }
}

export class WatcherMetrics {
  readonly polls: Counter<'watcher'>;
  readonly errors: Counter<'watcher' | 'reason'>;
  readonly up: Gauge<'watcher'>;
  constructor(registry: Registry) {
    const registers = [registry];
    this.polls = new Counter({ name: 'llmeter_spot_watcher_polls_total', help: 'Metadata polls that got an answer.', labelNames: ['watcher'], registers });
    this.errors = new Counter({
      name: 'llmeter_spot_watcher_errors_total',
      help: 'Metadata polls that failed, by reason (token_refused, http_status, network, garbage).',
      labelNames: ['watcher', 'reason'],
      registers,
    });
    this.up = new Gauge({ name: 'llmeter_spot_watcher_up', help: '1 when the last poll of the watcher succeeded.', labelNames: ['watcher'], registers });
  }
}

export interface PollerOptions {
  name: string;
  intervalMs: number;
  maxBackoffMs: number;
  metrics: WatcherMetrics;
  log: Logger;
}

export abstract class Poller implements Component {
  readonly name: string;
  protected readonly abort = new AbortController();
  private readonly po: PollerOptions;
  private loop?: Promise<void>;

  constructor(o: PollerOptions) {
    this.name = o.name;
    this.po = o;
  }

  /** One poll; resolves when done (a hanging GET resolves when its wait ends). */
  abstract pollOnce(signal: AbortSignal): Promise<void>;

  async start(): Promise<void> {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let failures = 0;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        await this.pollOnce(signal);
        this.po.metrics.polls.inc({ watcher: this.name });
        this.po.metrics.up.set({ watcher: this.name }, 1);
        failures = 0;
        await sleep(this.po.intervalMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        const reason = err instanceof WatcherError ? err.reason : 'network';
        this.po.metrics.errors.inc({ watcher: this.name, reason });
        this.po.metrics.up.set({ watcher: this.name }, 0);
        const delay = backoffMs(failures++, this.po.intervalMs, this.po.maxBackoffMs);
        if (failures === 1 || failures % 20 === 0) this.po.log.warn('metadata poll failed', { watcher: this.name, reason, error: errorMessage(err), failures });
        await sleep(delay, signal);
      }
    }
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    this.abort.abort();
    await this.loop;
  });
}

/** fetch with a timeout tied to the watcher's lifetime. */
export async function metaFetch(url: string, init: RequestInit, timeoutMs: number, signal: AbortSignal): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
}
