// Who a request is charged to: an API key from `Authorization: Bearer …` looked up among hashed
// keys in constant time, a header set by a trusted gateway, or the anonymous tenant if configured.
import path from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken, KeyRing, parseDigest, readKeyFile, sha256 } from '../../collector/core/security/keys.ts';
import type { LimitsConfig, ProxyConfig } from './config.ts';

export interface Tenant {
  name: string;
  limits: LimitsConfig;
}

export type Resolution = { ok: true; tenant: Tenant; viaKey: boolean } | { ok: false; reason: string };

const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

export class TenantResolver {
  private readonly ring = new KeyRing<Tenant>();
  private readonly anonymous: Tenant | undefined;
  private readonly header: string;
  private readonly defaults: LimitsConfig;
  /** Tenants named by the trusted header, created on first sight with the default limits. */
  private readonly byHeader = new Map<string, Tenant>();
  private readonly known = new Map<string, Tenant>();

  constructor(cfg: ProxyConfig, cwd = process.cwd()) {
    this.defaults = cfg.default_limits;
    for (const t of cfg.tenants) {
      const tenant: Tenant = { name: t.name, limits: t.limits ?? cfg.default_limits };
      this.known.set(t.name, tenant);
      for (const d of t.keys) this.ring.add(parseDigest(d), tenant);
      for (const f of t.key_files) this.ring.add(sha256(readKeyFile(path.resolve(cwd, f))), tenant);
    }
    this.anonymous = cfg.anonymous_tenant ? (this.known.get(cfg.anonymous_tenant) ?? { name: cfg.anonymous_tenant, limits: cfg.default_limits }) : undefined;
    this.header = cfg.trusted_tenant_header.toLowerCase();
  }

  /** Name of the header the proxy must not pass on (it is the gateway's word, not the upstream's). */
  get trustedHeader(): string {
    return this.header;
  }

  resolve(headers: IncomingHttpHeaders): Resolution {
    if (this.header) {
      const h = headers[this.header];
      const v = Array.isArray(h) ? h[0] : h;
      if (v !== undefined && v !== '') {
        if (!TENANT_RE.test(v)) return { ok: false, reason: `invalid tenant in ${this.header}` };
        return { ok: true, tenant: this.fromHeader(v), viaKey: false };
      }
    }
    const key = bearerToken(headers.authorization) ?? headerValue(headers['x-api-key']);
    if (key !== undefined) {
      // With no keys configured, any key (OpenAI clients always send one) is the anonymous tenant's.
      if (this.ring.size === 0 && this.anonymous) return { ok: true, tenant: this.anonymous, viaKey: false };
      const t = this.ring.lookup(key);
      if (t) return { ok: true, tenant: t, viaKey: true };
      return { ok: false, reason: 'invalid API key' };
    }
    if (this.anonymous) return { ok: true, tenant: this.anonymous, viaKey: false };
    return { ok: false, reason: 'missing API key (Authorization: Bearer <key>)' };
  }

  private fromHeader(name: string): Tenant {
    let t = this.known.get(name) ?? this.byHeader.get(name);
    if (!t) {
      // Bounded: a gateway sending endless distinct names must not grow this map without end.
      if (this.byHeader.size >= 10_000) this.byHeader.clear();
      t = { name, limits: this.defaults };
      this.byHeader.set(name, t);
    }
    return t;
  }
}

function headerValue(h: string | string[] | undefined): string | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  return v ? v.trim() : undefined;
}
