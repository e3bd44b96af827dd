// Tenant budgets: spend so far today and this month (UTC), recomputed on an interval from the cost
// engine, exposed as burn ratios on /metrics (the alert rules page at 50/80/100 %), and — where a
// budget says hard_stop — a verdict the proxy consults before forwarding a request.
import { Decimal } from 'decimal.js';
import { Gauge, type Registry } from 'prom-client';
import { errorMessage } from '../../core/errors.ts';
import type { BackgroundFailures } from '../../core/lifecycle/background.ts';
import { once, type Component } from '../../core/lifecycle/component.ts';
import type { Logger } from '../../core/log.ts';
import type { Store } from '../../core/store/store.ts';
import { chargeback } from './chargeback.ts';
import type { BudgetConfig } from './config.ts';

export const BUDGET_THRESHOLDS = [0.5, 0.8, 1] as const;
type Period = 'day' | 'month';

export interface BudgetStatus {
  tenant: string;
  period: Period;
  spent: string;
  limit: string;
  burn: number;
}

export class Budgets implements Component {
  readonly name = 'budgets';
  private readonly budgets: readonly BudgetConfig[];
  private readonly store: Store;
  private readonly log: Logger;
  private readonly failures: BackgroundFailures | undefined;
  private readonly refreshMs: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private statuses: BudgetStatus[] = [];
  private readonly reached = new Set<string>();
  private readonly spend: Gauge<'tenant' | 'period'>;
  private readonly limit: Gauge<'tenant' | 'period'>;
  private readonly burn: Gauge<'tenant' | 'period'>;
  private readonly threshold: Gauge<'tenant' | 'period' | 'threshold'>;
  private readonly blocked: Gauge<'tenant'>;

  constructor(o: {
    budgets: readonly BudgetConfig[];
    store: Store;
    registry: Registry;
    log: Logger;
    refreshMs: number;
    now?: () => Date;
    /** Where a refresh that failed is logged and counted (burn ratios and hard stops stay as they were). */
    failures?: BackgroundFailures;
  }) {
    this.budgets = o.budgets;
    this.store = o.store;
    this.log = o.log;
    this.failures = o.failures;
    this.refreshMs = o.refreshMs;
    this.now = o.now ?? (() => new Date());
    const registers = [o.registry];
    this.spend = new Gauge({
      name: 'llmeter_budget_spend_usd',
      help: 'Spend so far in the current day or month (UTC), from measured usage.',
      labelNames: ['tenant', 'period'],
      registers,
    });
    this.limit = new Gauge({ name: 'llmeter_budget_limit_usd', help: 'Configured budget for the day or month.', labelNames: ['tenant', 'period'], registers });
    this.burn = new Gauge({
      name: 'llmeter_budget_burn_ratio',
      help: 'Spend so far divided by the budget (1 = spent).',
      labelNames: ['tenant', 'period'],
      registers,
    });
    this.threshold = new Gauge({
      name: 'llmeter_budget_threshold_reached',
      help: '1 once the burn ratio reached the threshold (0.5, 0.8, 1) in the current period.',
      labelNames: ['tenant', 'period', 'threshold'],
      registers,
    });
    this.blocked = new Gauge({
      name: 'llmeter_budget_blocked',
      help: "1 while a hard-stop budget refuses the tenant's requests.",
      labelNames: ['tenant'],
      registers,
    });
  }

  async start(): Promise<void> {
    if (this.budgets.length === 0) return;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.refreshMs);
    this.timer.unref();
  }

  private running: Promise<unknown> | undefined;
  private stopped = false;

  /** One scheduled refresh; shutdown waits for it so it never runs against a closed store. */
  private async tick(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = this.refresh().catch((err: unknown) =>
      this.failures ? this.failures.report('budgets', err, 'budget refresh failed') : this.log.warn('budget refresh failed', { error: errorMessage(err) }),
    );
    await this.running;
    this.running = undefined;
  }

  /** Recomputes spend for the current day and month. */
  async refresh(): Promise<BudgetStatus[]> {
    const now = this.now();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const end = new Date(now.getTime() + 1);
    const [day, month] = await Promise.all([
      chargeback(this.store, { from: dayStart, to: end, idle: 'separate' }),
      chargeback(this.store, { from: monthStart, to: end, idle: 'separate' }),
    ]);
    const spentBy = (r: typeof day) => new Map(r.tenants.map((t) => [t.tenant, t.total]));
    const spent: Record<Period, Map<string, string>> = { day: spentBy(day), month: spentBy(month) };
    const out: BudgetStatus[] = [];
    for (const b of this.budgets) {
      for (const [period, limit] of [
        ['day', b.daily_usd],
        ['month', b.monthly_usd],
      ] as const) {
        if (!limit) continue;
        const s = spent[period].get(b.tenant) ?? '0.00';
        const burn = new Decimal(limit).isZero() ? 1 : new Decimal(s).div(limit).toNumber();
        out.push({ tenant: b.tenant, period, spent: s, limit, burn });
        const labels = { tenant: b.tenant, period };
        this.spend.set(labels, Number(s));
        this.limit.set(labels, Number(limit));
        this.burn.set(labels, burn);
        for (const th of BUDGET_THRESHOLDS) {
          const key = `${b.tenant}/${period}/${th}/${period === 'day' ? dayStart.toISOString() : monthStart.toISOString()}`;
          const hit = burn >= th;
          this.threshold.set({ ...labels, threshold: String(th) }, hit ? 1 : 0);
          if (hit && !this.reached.has(key)) {
            this.reached.add(key);
            this.log.warn('budget threshold reached', { tenant: b.tenant, period, threshold: th, spent: s, limit });
          }
        }
      }
      this.blocked.set({ tenant: b.tenant }, this.isBlockedIn(out, b) ? 1 : 0);
    }
    this.statuses = out;
    return out;
  }

  private isBlockedIn(statuses: readonly BudgetStatus[], b: BudgetConfig): boolean {
    return b.hard_stop && statuses.some((s) => s.tenant === b.tenant && s.burn >= 1);
  }

  /** Why a tenant's request must be refused, or undefined to let it through. */
  refusal(tenant: string): string | undefined {
    const b = this.budgets.find((x) => x.tenant === tenant);
    if (!b || !this.isBlockedIn(this.statuses, b)) return undefined;
    const s = this.statuses.find((x) => x.tenant === tenant && x.burn >= 1)!;
    return `budget exhausted: tenant ${tenant} spent $${s.spent} of its ${s.period === 'day' ? 'daily' : 'monthly'} budget of $${s.limit}`;
  }

  current(): readonly BudgetStatus[] {
    return this.statuses;
  }

  async forceFlush(): Promise<void> {}

  shutdown = once(async () => {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  });
}
