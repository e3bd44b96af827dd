// Configuration of the metric scrapers (the `scrape:` section): dcgm-exporter and vLLM targets, and
// the node inventory that names the nodes those metrics come from.
import { z } from 'zod';
import { CAPACITY_TYPES } from '../../collector/core/schema/tables.ts';

export const scrapeTargetSchema = z.strictObject({
  name: z.string().min(1).max(200).describe('Target name; stored as `server` for vLLM rows and used in metric labels.'),
  kind: z.enum(['dcgm', 'vllm']).describe('What the page is: a dcgm-exporter page or a vLLM /metrics page.'),
  url: z.url().describe('Full URL of the metrics page, e.g. http://10.0.0.5:9400/metrics.'),
  node: z.string().optional().describe("Node the target runs on. Wins over the page's Hostname label and the inventory."),
  interval_ms: z.number().int().positive().optional().describe('Scrape interval for this target (default: scrape.interval_ms).'),
  timeout_ms: z.number().int().positive().optional().describe('Scrape timeout for this target (default: scrape.timeout_ms).'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers.'),
  bearer_token_file: z.string().optional().describe('File holding a bearer token sent as Authorization (read at start-up).'),
});

export type ScrapeTarget = z.infer<typeof scrapeTargetSchema>;

export const staticNodeSchema = z.strictObject({
  node: z.string().min(1).describe('Node name as the metrics name it (Kubernetes node or host name).'),
  aliases: z.array(z.string()).default([]).describe('Other names the node appears under (e.g. the dcgm-exporter pod name).'),
  instance_type: z.string().default(''),
  instance_id: z.string().default(''),
  provider: z.string().default('').describe('aws, gcp, azure, oci, on_prem…'),
  region: z.string().default(''),
  zone: z.string().default(''),
  capacity_type: z.enum(CAPACITY_TYPES).default('on_demand'),
  gpu_model: z.string().default('').describe('Empty: taken from what dcgm-exporter reports for the node.'),
  gpu_count: z.number().int().min(0).max(65535).optional().describe('Absent: the number of GPUs dcgm-exporter reports for the node.'),
  pool: z.string().default(''),
  tier: z.string().default('').describe('Empty: premium when the node has GPUs, else standard.'),
  labels: z.record(z.string(), z.string()).default({}),
  local: z
    .boolean()
    .default(false)
    .describe(
      "The machine llmeter runs on (when its host name differs, as in a container): it is up while llmeter runs. A node of the host's own name is this machine anyway; any other entry only lists a node, and its up-time comes from evidence (scrapes, requests, resident models).",
    ),
});

export type StaticNode = z.infer<typeof staticNodeSchema>;

export const localHostSchema = z
  .strictObject({
    enabled: z
      .enum(['auto', 'on', 'off'])
      .default('auto')
      .describe(
        'Write a node record for the machine llmeter runs on. auto: when the proxy has an upstream on this host, or the scrapers run with no other inventory; not when a static entry (of its name, or local: true) or the Kubernetes inventory covers it.',
      ),
    node: z.string().default('').describe("Its node name (default: this host's name)."),
    instance_type: z
      .string()
      .default('')
      .describe('What it is priced by: a price book entry of this name (default: its node name), or its cloud instance type.'),
    provider: z.string().default('on_prem'),
    region: z.string().default(''),
    zone: z.string().default(''),
    capacity_type: z.enum(CAPACITY_TYPES).default('on_prem'),
    pool: z.string().default(''),
    tier: z.string().default('').describe('Empty: premium when nvidia-smi lists GPUs, else standard.'),
  })
  .prefault({});

export type LocalHostConfig = z.infer<typeof localHostSchema>;

export const inventoryConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Write `node` records (when scrape.enabled).'),
    source: z.enum(['auto', 'kubernetes', 'static']).default('auto').describe('auto: Kubernetes when kubernetes.enabled, else the static list.'),
    refresh_ms: z.number().int().positive().default(300_000).describe('How often the inventory is read and node records are written.'),
    nodes: z.array(staticNodeSchema).default([]).describe('Static inventory (hosts outside Kubernetes).'),
    local_host: localHostSchema,
    kubernetes: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Read node labels from the Kubernetes API.'),
        in_cluster: z.boolean().default(false).describe("Use the pod's service account (KUBERNETES_SERVICE_HOST and the mounted token)."),
        kubeconfig: z.string().optional().describe('Path of a kubeconfig file (when not in_cluster and api_url is unset).'),
        api_url: z.url().optional().describe('API server URL used with token_file (when neither in_cluster nor kubeconfig); http:// for kubectl proxy.'),
        token_file: z.string().optional().describe('Bearer token file for api_url.'),
        ca_file: z.string().optional().describe('CA bundle for api_url.'),
        label_selector: z.string().default('').describe('Only nodes matching this selector.'),
        tier_label: z.string().default('llmeter.io/tier').describe('Node label holding the tier; absent: premium for GPU nodes, else standard.'),
        resolve_exporter_pods: z.boolean().default(true).describe('Map a dcgm-exporter pod name seen as Hostname to the node the pod runs on.'),
      })
      .prefault({}),
  })
  .prefault({});

export type InventoryConfig = z.infer<typeof inventoryConfigSchema>;

export const scrapeConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Run the scrapers and the node inventory.'),
    interval_ms: z.number().int().positive().default(15_000).describe('Default scrape interval.'),
    timeout_ms: z.number().int().positive().default(10_000).describe('Default scrape timeout (connect + headers + body).'),
    jitter_ratio: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe("Each target's first scrape is delayed by a random share of the interval up to this ratio, spreading load."),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(16 * 1024 * 1024)
      .describe('Largest page accepted; a larger one fails the scrape.'),
    max_series_per_target: z
      .number()
      .int()
      .positive()
      .default(100_000)
      .describe('Counter/XID state kept per target; series beyond are counted and not tracked.'),
    stale_after_ms: z
      .number()
      .int()
      .positive()
      .default(300_000)
      .describe('A series (or target) unseen for this long is forgotten; when it returns it starts afresh.'),
    counter_initial: z
      .enum(['auto', 'keep', 'drop'])
      .default('auto')
      .describe('First sight of a counter: keep its value as the first delta, drop it, or auto (keep when its _created time is after the scraper started).'),
    node_aliases: z.record(z.string(), z.string()).default({}).describe('Host name → node, e.g. a dcgm-exporter pod name to the node it runs on.'),
    vllm_prefixes: z.array(z.string()).default(['vllm:']).describe('Metric name prefixes stored from vLLM pages.'),
    targets: z.array(scrapeTargetSchema).default([]).describe('Pages to scrape.'),
    inventory: inventoryConfigSchema,
  })
  .prefault({})
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.targets.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `duplicate target name ${JSON.stringify(t.name)}` });
      seen.add(t.name);
    });
  });

export type ScrapeConfig = z.infer<typeof scrapeConfigSchema>;
