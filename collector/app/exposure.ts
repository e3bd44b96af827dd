// Combinations of settings that leave the collector or the proxy open to whoever reaches them.
// `llmeter config check` prints them and `llmeter start` logs them; the ones that let anybody on
// the network write records for any tenant stop the start instead.
import { isLoopbackAddress } from '../core/http/guard.ts';
import { parseListen } from '../core/http/server.ts';
import type { Config } from './config-schema.ts';

export interface Exposure {
  /** Refused: the collector does not start with this. */
  errors: string[];
  warnings: string[];
}

export function exposureOf(config: Config): Exposure {
  const errors: string[] = [];
  const warnings: string[] = [];
  const httpLocal = isLoopbackAddress(parseListen(config.http.listen).host);
  const adminKeys = config.http.admin_keys.length > 0 || config.http.admin_key_file !== undefined;
  if (!httpLocal && !adminKeys) {
    warnings.push(
      `http.listen ${config.http.listen} takes requests from other machines and http.admin_keys is empty: /api/sql and /api/v1/ingest answer only clients on this machine, and /metrics is readable by anyone who reaches the port. Set http.admin_keys (llmeter hash-key --new) to use the API from elsewhere.`,
    );
  }
  if (config.http.allowed_hosts.includes('*'))
    warnings.push('http.allowed_hosts has "*": requests naming any host are served, so a web page can rebind its name to this machine and read the answers.');
  if (config.http.allowed_origins.includes('*')) warnings.push('http.allowed_origins has "*": a page on any site may call /api/*.');
  const otlp = config.receivers.otlp;
  if (otlp.enabled) {
    const anyKey =
      otlp.api_keys.length > 0 ||
      otlp.api_key_file !== undefined ||
      otlp.tenants.length > 0 ||
      config.proxy.tenants.some((t) => t.keys.length + t.key_files.length > 0);
    if (!anyKey) {
      const what = 'the OTLP receiver (receivers.otlp) asks for no key: anyone who reaches it writes requests for any tenant.';
      if (httpLocal) warnings.push(`${what} Set receivers.otlp.tenants (or the proxy's tenant keys) before listening beyond this machine.`);
      else
        errors.push(
          `${what} http.listen ${config.http.listen} is reachable from other machines: set receivers.otlp.tenants (a key per tenant) or proxy tenant keys, or listen on 127.0.0.1.`,
        );
    }
    if (otlp.api_keys.length > 0 || otlp.api_key_file)
      warnings.push(
        "receivers.otlp.api_keys are gateway keys: a request with one may name any tenant. Give applications their tenant's key (receivers.otlp.tenants) instead.",
      );
  }
  if (config.proxy.enabled) {
    const proxyLocal = isLoopbackAddress(parseListen(config.proxy.listen).host);
    if (!proxyLocal && config.proxy.anonymous_tenant)
      warnings.push(
        `proxy.listen ${config.proxy.listen} takes requests from other machines, and every request without a key is charged to proxy.anonymous_tenant "${config.proxy.anonymous_tenant}".`,
      );
    if (!proxyLocal && config.proxy.trusted_tenant_header)
      warnings.push(
        `proxy.trusted_tenant_header ${config.proxy.trusted_tenant_header} lets a client name its tenant: only a gateway that sets it may reach proxy.listen ${config.proxy.listen}.`,
      );
    if (config.proxy.allowed_origins.includes('*'))
      warnings.push('proxy.allowed_origins has "*": a page on any site may send requests through the proxy, charged to its tenant.');
  }
  return { errors, warnings };
}
