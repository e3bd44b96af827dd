// Configuration of autoscaling signals and the KEDA external scaler (the `autoscale:` section).
import { z } from 'zod';

const listen = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:9090');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits and . _ - (at most 63)');

export const tierPricingSchema = z.strictObject({
  instance_type: z
    .string()
    .min(1)
    .describe("Instance type the tier's nodes are (or would be, at zero replicas), as the price sources name it (g5.xlarge, Standard_NC24ads_A100_v4…)."),
  provider: z.string().default('').describe('aws, gcp, azure…; empty: any provider (price-book entries always count).'),
  region: z.string().default('').describe('Region of the prices (us-east-1…); book entries for every region count too.'),
  zone: z.string().default('').describe("Zone of the spot price (us-east-1a…); empty: the lowest price among the region's zones."),
  os: z.string().default('linux'),
});

export const tierSchema = z.strictObject({
  name: name.describe('Tier name, as KEDA trigger metadata `tier` names it (e.g. standard, premium).'),
  upstreams: z.array(z.string().min(1)).min(1).describe("Proxy upstreams (proxy.upstreams[].name) that make up this tier's pool."),
  idle_seconds: z
    .number()
    .int()
    .min(0)
    .default(300)
    .describe(
      'Seconds without a request (and nothing in flight, queued or held) before the tier reports inactive, letting KEDA scale it to minReplicaCount (0 for scale to zero).',
    ),
  target_per_replica: z
    .number()
    .positive()
    .default(4)
    .describe('Default HPA target for the `load` metric: requests in flight + queued + held per replica. Trigger metadata `target` overrides it.'),
  pricing: tierPricingSchema
    .optional()
    .describe(
      "What the tier's capacity is priced as, for the spot_price, on_demand_price and spot_discount signals (absent: those signals are refused for the tier).",
    ),
});

export const autoscaleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Serve autoscaling signals on /metrics and, when scaler.enabled, on the KEDA external scaler gRPC server.'),
    tiers: z.array(tierSchema).default([]).describe('Pools KEDA scales, each a set of proxy upstreams. Upstreams in no tier are not reported.'),
    evaluate_ms: z
      .number()
      .int()
      .positive()
      .default(1_000)
      .describe('How often signals are recomputed (idle timeouts, request rate, end of drains); changes in load are pushed at once regardless.'),
    rate_window_s: z
      .number()
      .int()
      .positive()
      .default(60)
      .describe('Window of the request_rate and tokens_per_second signals (per second over this many seconds).'),
    drain_hold_ms: z
      .number()
      .int()
      .positive()
      .default(600_000)
      .describe('How long a node stays draining after an interruption notice without a time of its own (AWS gives two minutes, GCP 30 s).'),
    stale_after_ms: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Scraped readings (kv_cache_usage, gpu_utilization) older than this are not served. Absent: twice the scrape target's interval."),
    price_stale_after_ms: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        "Prices whose source has not synced successfully for this long are not served. Absent: twice the source's sync interval (price-book entries never go stale).",
      ),
    scaler: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Run the KEDA external scaler gRPC server.'),
        listen: listen.default('0.0.0.0:9090').describe('Address of the gRPC server (plaintext; put it on a NetworkPolicy-guarded port).'),
        max_streams: z
          .number()
          .int()
          .positive()
          .default(1_000)
          .describe('StreamIsActive subscriptions held at once; further ones fail with RESOURCE_EXHAUSTED.'),
      })
      .prefault({})
      .describe('KEDA external scaler (`external` / `external-push` triggers).'),
  })
  .prefault({});

export type AutoscaleConfig = z.infer<typeof autoscaleConfigSchema>;
export type TierConfig = z.infer<typeof tierSchema>;
export type TierPricing = z.infer<typeof tierPricingSchema>;
