// One handler for failures of work nobody awaits (a timer's tick, a fire-and-forget refresh): each is
// logged and counted in llmeter_background_failures_total{component}, so a broken part shows on
// /metrics and in the log instead of failing in silence.
import { Counter, type Registry } from 'prom-client';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';

export class BackgroundFailures {
  private readonly counter: Counter<'component'>;
  private readonly log: Logger;
  /** When each component last logged one: a failure that repeats every tick is logged once a minute. */
  private readonly lastLogged = new Map<string, number>();

  constructor(registry: Registry, log: Logger) {
    this.log = log;
    this.counter = new Counter({
      name: 'llmeter_background_failures_total',
      help: 'Failures of background work (timer ticks, refreshes) by component; each is logged (once a minute per component while it repeats).',
      labelNames: ['component'],
      registers: [registry],
    });
  }

  report(component: string, err: unknown, what = 'background work failed'): void {
    this.counter.inc({ component });
    const now = Date.now();
    if (now - (this.lastLogged.get(component) ?? 0) < 60_000) return;
    this.lastLogged.set(component, now);
    this.log.warn(what, { component, error: errorMessage(err) });
  }

  /** A rejection handler for a promise nobody else awaits. */
  handler(component: string, what?: string): (err: unknown) => void {
    return (err) => this.report(component, err, what);
  }
}
