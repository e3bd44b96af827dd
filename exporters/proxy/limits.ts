// Per-tenant admission: requests in flight at once, and requests per minute as a token bucket
// (a full minute's worth may burst, then one request per 60/rpm seconds).
import type { Tenant } from './tenants.ts';

interface TenantState {
  inflight: number;
  tokens: number;
  refilledAt: number;
}

export type Admission = { ok: true; release: () => void } | { ok: false; reason: string; retryAfterS: number };

/** The answer for tenants without limits, shared: nothing to count, nothing to release. */
const UNLIMITED: Admission = { ok: true, release: noop };

export class TenantLimiter {
  private readonly states = new Map<string, TenantState>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  admit(tenant: Tenant): Admission {
    const { max_concurrent: maxConc, requests_per_minute: rpm } = tenant.limits;
    if (maxConc === 0 && rpm === 0) return UNLIMITED;
    let s = this.states.get(tenant.name);
    const t = this.now();
    if (!s) {
      if (this.states.size >= 10_000) this.prune();
      s = { inflight: 0, tokens: rpm, refilledAt: t };
      this.states.set(tenant.name, s);
    }
    if (maxConc > 0 && s.inflight >= maxConc) {
      return { ok: false, reason: `tenant ${tenant.name} has ${s.inflight} requests in flight (limit ${maxConc})`, retryAfterS: 1 };
    }
    if (rpm > 0) {
      const perMs = rpm / 60_000;
      s.tokens = Math.min(rpm, s.tokens + (t - s.refilledAt) * perMs);
      s.refilledAt = t;
      if (s.tokens < 1) {
        return {
          ok: false,
          reason: `tenant ${tenant.name} exceeded ${rpm} requests per minute`,
          retryAfterS: Math.max(1, Math.ceil((1 - s.tokens) / perMs / 1000)),
        };
      }
      s.tokens -= 1;
    }
    s.inflight++;
    const state = s;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        state.inflight--;
      },
    };
  }

  /** Drops tenants with nothing in flight (their bucket refills fully on next sight: lenient). */
  private prune(): void {
    for (const [k, s] of this.states) if (s.inflight === 0) this.states.delete(k);
  }
}

function noop(): void {}
