// Builds the configured price sources by name (the names `llmeter prices sync` takes).
import { GpuCatalog } from '../catalog.ts';
import type { PricesConfig } from '../config.ts';
import type { PriceSource } from '../source.ts';
import { AwsOnDemandSource } from './aws-on-demand.ts';
import { AwsSpotSource } from './aws-spot.ts';
import { AzureSource } from './azure.ts';
import { BookSource } from './book.ts';
import { GcpSource } from './gcp.ts';
import { apiKeyOf, LambdaSource, RunPodSource, VastSource } from './marketplaces.ts';

export const SOURCE_NAMES = ['aws-spot', 'aws-on-demand', 'azure', 'gcp', 'runpod', 'vast', 'lambda', 'book'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

export function isSourceName(s: string): s is SourceName {
  return (SOURCE_NAMES as readonly string[]).includes(s);
}

/** Interval and enablement of a source, for the scheduler. */
export function sourceSchedule(cfg: PricesConfig, name: SourceName): { enabled: boolean; intervalMs: number } {
  const s = cfg.sources;
  switch (name) {
    case 'aws-spot':
      return { enabled: s.aws_spot.enabled, intervalMs: s.aws_spot.interval_ms };
    case 'aws-on-demand':
      return { enabled: s.aws_on_demand.enabled, intervalMs: s.aws_on_demand.interval_ms };
    case 'azure':
      return { enabled: s.azure.enabled, intervalMs: s.azure.interval_ms };
    case 'gcp':
      return { enabled: s.gcp.enabled, intervalMs: s.gcp.interval_ms };
    case 'runpod':
      return { enabled: s.runpod.enabled, intervalMs: s.runpod.interval_ms };
    case 'vast':
      return { enabled: s.vast.enabled, intervalMs: s.vast.interval_ms };
    case 'lambda':
      return { enabled: s.lambda.enabled, intervalMs: s.lambda.interval_ms };
    case 'book':
      return { enabled: s.book.enabled && cfg.book.length > 0, intervalMs: 24 * 3_600_000 };
  }
}

export function lookbackOf(cfg: PricesConfig, name: SourceName): number {
  return name === 'aws-spot' ? cfg.sources.aws_spot.lookback_ms : 24 * 3_600_000;
}

/** One source built from the configuration; `endpoint` overrides the configured one. */
export function buildSource(cfg: PricesConfig, name: SourceName, endpoint?: string): PriceSource {
  const catalog = new GpuCatalog(cfg.gpus);
  const http = { timeoutMs: cfg.timeout_ms, maxBodyBytes: cfg.max_body_bytes };
  const s = cfg.sources;
  switch (name) {
    case 'aws-spot':
      return new AwsSpotSource({
        endpoint: endpoint ?? s.aws_spot.endpoint,
        credentials: s.aws_spot.credentials,
        timeoutMs: cfg.timeout_ms,
        regions: s.aws_spot.regions,
        instanceTypes: s.aws_spot.instance_types,
        productDescriptions: s.aws_spot.product_descriptions,
        pageSize: s.aws_spot.page_size,
        maxPages: cfg.max_pages,
        catalog,
      });
    case 'aws-on-demand':
      return new AwsOnDemandSource({
        endpoint: endpoint ?? s.aws_on_demand.endpoint,
        credentials: s.aws_on_demand.credentials,
        timeoutMs: cfg.timeout_ms,
        mode: endpoint ? 'api' : s.aws_on_demand.mode,
        apiRegion: s.aws_on_demand.region,
        regions: s.aws_on_demand.regions,
        instanceTypes: s.aws_on_demand.instance_types,
        maxPages: cfg.max_pages,
        catalog,
      });
    case 'azure':
      return new AzureSource({
        endpoint: endpoint ?? s.azure.endpoint,
        apiVersion: s.azure.api_version,
        regions: s.azure.regions,
        instanceTypes: s.azure.instance_types,
        includeDevTest: s.azure.include_dev_test,
        maxPages: cfg.max_pages,
        http,
        catalog,
      });
    case 'gcp':
      return new GcpSource({
        endpoint: endpoint ?? s.gcp.endpoint,
        serviceId: s.gcp.service_id,
        apiKey: apiKeyOf(s.gcp),
        regions: s.gcp.regions,
        machines: s.gcp.machines,
        maxPages: cfg.max_pages,
        http,
      });
    case 'runpod':
      return new RunPodSource({ endpoint: endpoint ?? s.runpod.endpoint, apiKey: apiKeyOf(s.runpod), http, gpuIds: s.runpod.gpu_ids });
    case 'vast':
      return new VastSource({ endpoint: endpoint ?? s.vast.endpoint, apiKey: apiKeyOf(s.vast), http, query: s.vast.query });
    case 'lambda':
      return new LambdaSource({ endpoint: endpoint ?? s.lambda.endpoint, apiKey: apiKeyOf(s.lambda), http });
    case 'book':
      return new BookSource(cfg.book);
  }
}
