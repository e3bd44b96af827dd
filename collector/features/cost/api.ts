// GET /api/chargeback on the collector. A tenant's API key (the proxy's tenant keys) sees only its own
// tenant — asking for another is 403; an admin key sees all, the configured tenants with no traffic
// among them (at 0.00). Parameters are validated (400 with the reason).
import type { HttpConfig } from '../../core/config/schema.ts';
import type { TenantKeys } from '../../core/feature.ts';
import { adminKeyRing, isLocalClient } from '../../core/http/admin-auth.ts';
import { HttpError, sendJson, type HttpServer } from '../../core/http/server.ts';
import { bearerToken, KeyRing, parseDigest, readKeyFile } from '../../core/security/keys.ts';
import type { Store } from '../../core/store/store.ts';
import { ParamError, parseChargebackParams } from './params.ts';
import { renderChargeback } from './report.ts';

type Principal = { role: 'admin' } | { role: 'tenant'; tenant: string };

export function principalRing(http: HttpConfig, tenants: readonly TenantKeys[]): KeyRing<Principal> {
  const ring = new KeyRing<Principal>();
  for (const d of http.admin_keys) ring.add(parseDigest(d), { role: 'admin' });
  if (http.admin_key_file) ring.addKey(readKeyFile(http.admin_key_file), { role: 'admin' });
  for (const t of tenants) for (const d of t.digests) ring.add(d, { role: 'tenant', tenant: t.tenant });
  return ring;
}

export function mountChargebackApi(
  http: HttpServer,
  store: Store,
  httpConfig: HttpConfig,
  tenants: readonly TenantKeys[],
  configuredTenants: readonly string[] = [],
): void {
  const ring = principalRing(httpConfig, tenants);
  const adminRing = adminKeyRing(httpConfig);
  http.route('GET', '/api/chargeback', async (req, res, url) => {
    const token = bearerToken(req.headers.authorization);
    let who: Principal | undefined = ring.lookup(token);
    if (!who) {
      // With no key configured at all, a local operator is admin (as for /api/sql).
      if (ring.size === 0 && adminRing.size === 0 && isLocalClient(req) && !token) who = { role: 'admin' };
      else throw new HttpError(401, 'missing or unknown API key', { 'www-authenticate': 'Bearer' });
    }
    const q = url.searchParams;
    let parsed;
    try {
      parsed = parseChargebackParams({
        from: q.get('from') ?? undefined,
        to: q.get('to') ?? undefined,
        idle: q.get('idle') ?? undefined,
        scope: q.get('scope') ?? undefined,
        groupBy: q.get('group_by') ?? undefined,
        tenant: q.get('tenant') ?? undefined,
        format: q.get('format') ?? undefined,
        source: q.get('source') ?? undefined,
      });
    } catch (err) {
      if (err instanceof ParamError) return sendJson(res, 400, { error: err.message });
      throw err;
    }
    if (who.role === 'tenant') {
      const asked = parsed.options.tenants;
      if (asked && asked.some((t) => t !== who.tenant)) throw new HttpError(403, `this key may only see tenant ${JSON.stringify(who.tenant)}`);
      // A tenant sees its own lines and its own total; the fleet totals (other tenants' spend, the
      // bill) are not theirs to see.
      parsed.options.tenants = [who.tenant];
    }
    parsed.options.configuredTenants = configuredTenants;
    const out = await renderChargeback(store, parsed.options, parsed.format);
    if (who.role === 'tenant' && parsed.format === 'json') {
      const own = out.report.tenants[0];
      return sendJson(res, 200, {
        period: out.report.period,
        idle_policy: out.report.idle_policy,
        idle_scope: out.report.idle_scope,
        group_by: out.report.group_by,
        currency: out.report.currency,
        tenants: own ? [own] : [],
      });
    }
    if (who.role === 'tenant' && parsed.format !== 'json') throw new HttpError(403, 'tenant keys may fetch their own chargeback as JSON only');
    res.writeHead(200, { 'content-type': out.contentType });
    res.end(out.body);
  });
}
