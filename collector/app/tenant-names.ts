// The tenants a bill always lists, from the proxy's configuration: its configured tenants and its
// anonymous tenant (when it has one), so a tenant with no traffic shows at 0.00 rather than not at all.
import type { ProxyConfig } from '../../exporters/proxy/index.ts';

export function tenantNamesOf(proxy: ProxyConfig): string[] {
  return [...new Set([...proxy.tenants.map((t) => t.name), ...(proxy.anonymous_tenant ? [proxy.anonymous_tenant] : [])])];
}
