// The collector configuration `llmeter demo` runs with: the real proxy in front of the simulated model
// servers, the real dcgm scrapers on the simulated nodes' pages and the real vLLM scraper on the
// vLLM-like server's /metrics page, a static inventory of those nodes, a price book for the on-demand
// node, budgets for the three tenants, and short intervals so a minute of traffic shows up everywhere.
import { configSchema, type Config } from '../config-schema.ts';
import { keyDigestHex } from '../../core/security/keys.ts';
import { SIM_PROVIDER, SIM_REGION, SIM_ZONE } from './catalog.ts';
import type { SimFleet } from './fleet.ts';

export interface DemoConfigOptions {
  dataDir: string;
  /** A ClickHouse server instead of the embedded store (so Grafana can read what the demo wrote). */
  clickhouseUrl?: string;
  /** Collector HTTP endpoint; port 0 picks a free one. */
  httpListen?: string;
  proxyListen?: string;
  logLevel?: Config['log_level'];
  /** Scrape, alerting and /api/ps poll interval. */
  intervalMs?: number;
}

export function demoConfig(fleet: SimFleet, o: DemoConfigOptions): Config {
  const every = o.intervalMs ?? 2_000;
  return configSchema.parse({
    log_level: o.logLevel ?? 'warn',
    store: { data_dir: o.dataDir, ...(o.clickhouseUrl ? { url: o.clickhouseUrl } : {}) },
    pipeline: { batch_ms: 500 },
    http: { listen: o.httpListen ?? '127.0.0.1:0', admin_keys: [`sha256:${keyDigestHex(fleet.adminKey)}`] },
    proxy: {
      enabled: true,
      listen: o.proxyListen ?? '127.0.0.1:0',
      upstreams: fleet.upstreams.map((u) => ({
        name: u.name,
        url: u.url,
        node: u.node,
        kind: u.kind,
        models: u.models,
        ...(u.kind === 'ollama' ? { max_concurrent: 12, max_queue: 32 } : { max_concurrent: 5, max_queue: 4 }),
        queue_timeout_ms: 30_000,
      })),
      tenants: fleet.tenants.map((t) => ({ name: t.name, keys: [`sha256:${keyDigestHex(t.key)}`] })),
      ps_poll_ms: every,
    },
    scrape: {
      enabled: true,
      interval_ms: every,
      jitter_ratio: 0,
      targets: [
        ...fleet.nodes.map((n) => ({ name: `dcgm-${n.node}`, kind: 'dcgm', url: n.dcgmUrl, node: n.node })),
        // The vLLM-like servers' /metrics pages, named as the proxy names the upstream (model_server_metrics.server = llm_requests.backend).
        ...fleet.upstreams.filter((u) => u.metricsUrl).map((u) => ({ name: u.name, kind: 'vllm', url: u.metricsUrl, node: u.node })),
      ],
      inventory: {
        source: 'static',
        refresh_ms: 30_000,
        nodes: fleet.nodes.map((n) => ({
          node: n.node,
          instance_type: n.instanceType,
          provider: SIM_PROVIDER,
          region: SIM_REGION,
          zone: SIM_ZONE,
          capacity_type: n.capacityType,
          gpu_model: n.gpuModel,
          gpu_count: 1,
          pool: n.pool,
          tier: 'premium',
          labels: { simulated: 'true' },
        })),
      },
    },
    prices: {
      enabled: true,
      first_sync_delay_ms: 0,
      // The on-demand node is priced by the book (a contract price); the spot node by the moving feed.
      book: fleet.nodes
        .filter((n) => n.capacityType === 'on_demand')
        .map((n) => ({
          instance_type: n.instanceType,
          price: n.onDemandUsd,
          effective_from: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString(),
          gpu_model: n.gpuModel,
          gpu_count: 1,
        })),
    },
    cost: {
      budget_refresh_ms: Math.max(1_000, every),
      budgets: [
        { tenant: 'acme-chat', monthly_usd: '250' },
        { tenant: 'globex-batch', daily_usd: '1' },
        { tenant: 'initech-agents', daily_usd: '0.05' },
      ],
    },
    alerting: { interval_ms: every, request_window_ms: 120_000 },
  });
}
