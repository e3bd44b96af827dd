// Configuration of the metering proxy (the `proxy:` section).
import { z } from 'zod';

const listen = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:11435');
const digest = z.string().regex(/^sha256:[0-9a-fA-F]{64}$/, 'expected sha256:<64 hex digits> (make one with `llmeter hash-key`)');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/, 'letters, digits and . _ : @ / - (at most 128)');

export const limitsSchema = z
  .strictObject({
    max_concurrent: z.number().int().min(0).default(0).describe('Requests of one tenant in flight at once (0 = no limit); beyond it: 429.'),
    requests_per_minute: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Requests of one tenant per minute, as a token bucket (0 = no limit); beyond it: 429 with Retry-After.'),
  })
  .prefault({});

export const tenantSchema = z.strictObject({
  name: name.describe('Tenant the requests are charged to.'),
  keys: z.array(digest).default([]).describe("Digests of the tenant's API keys (sent as `Authorization: Bearer <key>`)."),
  key_files: z.array(z.string()).default([]).describe('Files each holding one plain key, hashed at start-up.'),
  limits: limitsSchema.optional().describe('Limits for this tenant; absent: proxy.default_limits.'),
});

export const upstreamSchema = z.strictObject({
  name: name.describe('Name of the model server; the `backend` of every record.'),
  url: z.url().describe('Base URL, e.g. http://127.0.0.1:11434 (Ollama) or http://10.0.0.5:8000 (vLLM).'),
  node: z.string().max(256).default('').describe("Node it runs on, for cost joins (default: the upstream URL's host; this host's name for a loopback URL)."),
  node_header: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'a header name: letters, digits and -')
    .optional()
    .describe(
      "Response header naming the node that answered, for a pool of servers behind one address (a sidecar beside each server sets it from the Downward API's spec.nodeName). A well-formed value is the record's node; without one, `node` is. It is not passed on to the client.",
    ),
  kind: z.enum(['ollama', 'vllm', 'openai']).default('ollama').describe('Server kind: ollama servers are polled on /api/ps for model residency.'),
  models: z
    .array(z.string().min(1))
    .default([])
    .describe('Models routed here (exact names or globs with *). Empty: any model not claimed by another upstream.'),
  paths: z.array(z.string().startsWith('/')).default([]).describe('Path prefixes routed here when the request names no model that another upstream claims.'),
  api_key_file: z.string().optional().describe('File holding the key this upstream expects (vLLM --api-key, a hosted OpenAI-compatible API); sent as Bearer.'),
  max_concurrent: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe("Requests in flight to this upstream (0 = no limit); beyond it requests wait in the proxy's queue."),
  max_queue: z.number().int().min(0).default(1024).describe('Requests that may wait for this upstream; beyond it: 503 queue full.'),
  queue_timeout_ms: z.number().int().positive().default(60_000).describe('Longest wait in that queue before 503.'),
  connections: z.number().int().positive().default(256).describe('Keep-alive connections held open to this upstream at most.'),
});

/** Scale from zero: how the proxy holds requests while an upstream's pool wakes (activation.ts). */
export const activationConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe('Hold requests for an upstream that does not answer (a pool scaled to zero) until it does, instead of failing them at once.'),
    upstreams: z.array(z.string().min(1)).default([]).describe('Upstreams (by name) that may scale to zero; empty: all.'),
    timeout_ms: z
      .number()
      .int()
      .positive()
      .default(180_000)
      .describe('Longest hold; then 503 with Retry-After. Make it longer than node start-up plus model load.'),
    max_held: z.number().int().min(0).default(256).describe('Requests held per upstream at once; beyond it: 503 at once.'),
    probe_interval_ms: z.number().int().positive().default(500).describe('How often a held upstream is probed.'),
    probe_timeout_ms: z.number().int().positive().default(2_000).describe("Longest wait for one probe's answer."),
    ready_ttl_ms: z.number().int().min(0).default(5_000).describe('After an upstream answered, how long requests pass without probing again.'),
    retry_after_s: z.number().int().positive().default(30).describe('Retry-After sent with the 503 when a hold times out or is full.'),
  })
  .prefault({});

export type ActivationConfig = z.infer<typeof activationConfigSchema>;

export const proxyConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Run the metering proxy under `llmeter start`.'),
    listen: listen.default('127.0.0.1:11435').describe("Address clients use instead of the model server's."),
    upstreams: z.array(upstreamSchema).default([]).describe('Model servers behind the proxy; routing: docs/proxy.md.'),
    tenants: z.array(tenantSchema).default([]).describe('Tenants and their API keys.'),
    anonymous_tenant: z
      .string()
      .max(128)
      .default('')
      .describe('Tenant for requests without a key (and for any key while no tenant is configured). Empty: such requests get 401.'),
    trusted_tenant_header: z
      .string()
      .max(64)
      .default('')
      .describe('Header naming the tenant, set by an authenticating gateway in front (e.g. x-tenant). Only enable behind such a gateway.'),
    default_limits: limitsSchema.describe('Limits for tenants without their own.'),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(32 * 1024 * 1024)
      .describe('Largest request body (images travel inline); beyond it: 413.'),
    inject_stream_usage: z
      .boolean()
      .default(true)
      .describe('Add stream_options.include_usage to OpenAI-style streams that lack it (and hide the extra usage chunk from the client).'),
    headers_timeout_ms: z.number().int().positive().default(300_000).describe("Longest wait for the upstream's response headers (model loads can be slow)."),
    body_timeout_ms: z.number().int().positive().default(300_000).describe("Longest silence between two chunks of the upstream's response."),
    ps_poll_ms: z.number().int().min(0).default(15_000).describe("How often each Ollama upstream's /api/ps is polled into model_states (0 = never)."),
    max_model_labels: z.number().int().positive().default(200).describe('Distinct model names kept as metric labels; further names are counted as "other".'),
    drain_timeout_ms: z.number().int().positive().default(30_000).describe('On shutdown, how long in-flight requests may finish before they are cut.'),
    allowed_origins: z
      .array(z.string().refine((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o), 'expected "*" or scheme://host[:port] with no path'))
      .default([])
      .describe(
        "Browser origins allowed to call the proxy directly (a web UI that talks to the model server from the browser). A request from any other origin is refused, so a page the user visits cannot spend a tenant's budget. Front ends that call from their server (Open WebUI) send no origin.",
      ),
    allowed_hosts: z
      .array(z.string().regex(/^(\*|(\*\.)?[A-Za-z0-9.-]+)$/, 'expected a host name, *.domain or *'))
      .default([])
      .describe(
        'While the proxy listens on loopback: host names besides addresses and localhost that requests may name (DNS-rebinding guard). On other addresses any name is served, as the model servers do.',
      ),
    activation: activationConfigSchema.describe("Scale from zero: hold requests while an upstream's pool wakes (docs/autoscaling.md)."),
  })
  .prefault({});

export type ProxyConfig = z.infer<typeof proxyConfigSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type TenantConfig = z.infer<typeof tenantSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
