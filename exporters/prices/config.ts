// Configuration of price sources and interruption watchers (the `prices:` section).
import { z } from 'zod';
import { CAPACITY_TYPES } from '../../collector/core/schema/tables.ts';
import { interruptionsConfigSchema } from './interruptions/config.ts';

const HOUR = 3_600_000;
const decimalString = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v))
  .refine((v) => /^\d{1,9}(\.\d{1,12})?$/.test(v), 'expected a non-negative decimal such as "2.5" (quote fractions: YAML floats lose digits)');

/** Settings every source shares. */
function common(defaultEndpoint: string, intervalMs: number) {
  return {
    enabled: z.boolean().default(false).describe('Sync this source on a schedule under `llmeter start`.'),
    endpoint: z.url().default(defaultEndpoint).describe('API endpoint (point it at a mirror or a test server).'),
    interval_ms: z.number().int().positive().default(intervalMs).describe('How often the source is synced.'),
  };
}

const secret = {
  api_key: z.string().default('').describe('API key (prefer api_key_file).'),
  api_key_file: z.string().default('').describe('File holding the API key (read at start-up).'),
};

const awsCredentials = z
  .strictObject({
    access_key_id: z.string().default(''),
    secret_access_key: z.string().default('').describe('Prefer secret_access_key_file.'),
    secret_access_key_file: z.string().default(''),
    session_token: z.string().default(''),
  })
  .prefault({})
  .describe('Static credentials; all empty: the AWS SDK default chain (environment, profile, instance role).');

export const bookEntrySchema = z.strictObject({
  instance_type: z.string().min(1).describe('Instance type (or host class for on-prem) the price applies to.'),
  provider: z.string().default('book').describe('Kept as `book` so the entry wins over any feed; set a provider only to record a feed-like row.'),
  region: z.string().default('').describe('Empty: every region.'),
  zone: z.string().default('').describe('Empty: every zone of the region.'),
  capacity_type: z.enum(CAPACITY_TYPES).default('on_demand'),
  os: z.string().default('linux'),
  price: decimalString.describe('Price per `unit`, as a decimal string.'),
  unit: z.string().default('hour').describe('hour, second, minute, day, month (730 h), year (8760 h), "1 Hour"…'),
  currency: z.string().default('USD').describe('Only USD is priced; other currencies need usd_rate.'),
  usd_rate: decimalString.default('1').describe('USD per unit of `currency`.'),
  effective_from: z.union([z.string(), z.number()]).default('2000-01-01T00:00:00Z').describe('When the price starts to hold.'),
  gpu_model: z.string().default(''),
  gpu_count: z.number().int().min(0).max(65535).default(0),
});

export type BookEntry = z.infer<typeof bookEntrySchema>;

export const gcpMachineSchema = z.strictObject({
  instance_type: z.string().min(1).describe('Machine type, e.g. a2-highgpu-1g.'),
  gpu_sku: z.string().default('').describe('GPU SKU description before " running in" (e.g. "Nvidia Tesla A100 GPU"); empty: no GPU.'),
  gpu_count: z.number().int().min(0).default(0),
  gpu_model: z.string().default(''),
  core_sku: z.string().min(1).describe('Core SKU description before " running in" (e.g. "A2 Instance Core").'),
  vcpus: z.number().int().positive(),
  ram_sku: z.string().min(1).describe('RAM SKU description before " running in" (e.g. "A2 Instance Ram").'),
  memory_gib: decimalString,
});

export type GcpMachine = z.infer<typeof gcpMachineSchema>;

export const retrySchema = z
  .strictObject({
    max_attempts: z.number().int().positive().default(4).describe('Attempts per sync before it is reported failed (the next scheduled sync tries again).'),
    initial_ms: z.number().int().positive().default(1_000),
    max_ms: z.number().int().positive().default(60_000),
  })
  .prefault({});

export const pricesConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Run scheduled price syncs and the interruption watchers under `llmeter start`.'),
    timeout_ms: z.number().int().positive().default(30_000).describe('Per-request timeout of every source.'),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024)
      .describe('Largest answer accepted from a source.'),
    max_pages: z.number().int().positive().default(1_000).describe('Pages followed per sync before it is reported failed.'),
    first_sync_delay_ms: z.number().int().min(0).default(5_000).describe('Delay of the first sync after start-up.'),
    retry: retrySchema,
    gpus: z
      .record(z.string(), z.strictObject({ model: z.string(), count: z.number().int().min(0).max(65535) }))
      .default({})
      .describe('GPU model and count by instance type, added to or overriding the built-in tables.'),
    book: z.array(bookEntrySchema).default([]).describe('Static price book (on-prem, contracts); wins over every feed where it applies.'),
    sources: z
      .strictObject({
        aws_spot: z
          .strictObject({
            ...common('https://ec2.us-east-1.amazonaws.com', HOUR),
            endpoint: z.string().default('').describe('Endpoint URL; empty: the AWS endpoint of each region.'),
            regions: z.array(z.string()).default(['us-east-1']).describe('Regions queried (one EC2 client each).'),
            instance_types: z.array(z.string()).default([]).describe('Instance types; empty: the GPU types of the built-in table.'),
            product_descriptions: z.array(z.string()).default(['Linux/UNIX', 'Linux/UNIX (Amazon VPC)']),
            lookback_ms: z
              .number()
              .int()
              .positive()
              .default(24 * HOUR)
              .describe('History fetched on a first sync (later syncs start at the last stored change).'),
            page_size: z.number().int().min(5).max(1000).default(1000),
            credentials: awsCredentials,
          })
          .prefault({}),
        aws_on_demand: z
          .strictObject({
            ...common('https://api.pricing.us-east-1.amazonaws.com', 24 * HOUR),
            endpoint: z.string().default('').describe('Endpoint URL; empty: the AWS endpoint of each region.'),
            mode: z
              .enum(['table', 'api'])
              .default('table')
              .describe('table: the maintained us-east-1 table shipped with llmeter; api: the Price List API (GetProducts).'),
            region: z.string().default('us-east-1').describe('Price List API region (us-east-1, eu-central-1 or ap-south-1).'),
            regions: z.array(z.string()).default(['us-east-1']).describe('Regions whose prices are kept (regionCode).'),
            instance_types: z.array(z.string()).default([]).describe('Instance types; empty: the GPU types of the built-in table.'),
            credentials: awsCredentials,
          })
          .prefault({}),
        azure: z
          .strictObject({
            ...common('https://prices.azure.com/api/retail/prices', 24 * HOUR),
            api_version: z.string().default('2023-01-01-preview'),
            regions: z.array(z.string()).default([]).describe('armRegionName values; empty: all.'),
            instance_types: z.array(z.string()).default([]).describe('armSkuName values (Standard_NC24ads_A100_v4…); empty: every VM SKU (large).'),
            include_dev_test: z.boolean().default(false).describe('Keep DevTestConsumption rows (Dev/Test subscription prices).'),
          })
          .prefault({}),
        gcp: z
          .strictObject({
            ...common('https://cloudbilling.googleapis.com', 24 * HOUR),
            ...secret,
            service_id: z.string().default('6F81-5844-456A').describe('Compute Engine service id in the Cloud Billing Catalog.'),
            regions: z.array(z.string()).default([]).describe('Regions kept; empty: every region a SKU lists.'),
            machines: z.array(gcpMachineSchema).default([]).describe('Machine shapes added to (or replacing) the built-in GPU machine table.'),
          })
          .prefault({}),
        runpod: z
          .strictObject({
            ...common('https://api.runpod.io/graphql', HOUR),
            ...secret,
            gpu_ids: z.array(z.string()).default([]).describe('GPU type ids; empty: all.'),
          })
          .prefault({}),
        vast: z
          .strictObject({
            ...common('https://console.vast.ai/api/v0/bundles/', HOUR),
            ...secret,
            query: z
              .record(z.string(), z.unknown())
              .default({ limit: 1000, type: 'on-demand', verified: { eq: true }, rentable: { eq: true }, rented: { eq: false } })
              .describe('Search body sent to the bundles API (filters); the cheapest offer per GPU model, count and country is kept.'),
          })
          .prefault({}),
        lambda: z.strictObject({ ...common('https://cloud.lambda.ai/api/v1/instance-types', HOUR), ...secret }).prefault({}),
        book: z
          .strictObject({
            enabled: z.boolean().default(true).describe('Write the price book on start-up (when prices.enabled) and on `prices sync book`.'),
          })
          .prefault({}),
      })
      .prefault({}),
    interruptions: interruptionsConfigSchema,
  })
  .prefault({});

export type PricesConfig = z.infer<typeof pricesConfigSchema>;
export type PriceSources = PricesConfig['sources'];
