// Configuration of the receivers that take telemetry from outside (the `receivers:` section): the
// Faro endpoint for browsers and the OTLP/HTTP traces endpoint for instrumented applications.
import { z } from 'zod';

const keyDigest = z.string().regex(/^sha256:[0-9a-fA-F]{64}$/, 'expected sha256:<64 hex digits> (make one with `llmeter hash-key`)');

const origin = z
  .string()
  .refine((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o), 'expected "*" or scheme://host[:port] with no path, e.g. https://chat.example.com');

const urlPath = z.string().regex(/^\/[A-Za-z0-9._~\-/]*$/, 'expected an absolute URL path, e.g. /faro/collect');

export const faroAppSchema = z.strictObject({
  name: z.string().min(1).max(128).describe('App name; rows carry it in `app`. Payloads without a key are matched to a keyless app by meta.app.name.'),
  tenant: z.string().min(1).max(128).describe("Tenant the app's rows are charged to."),
  api_keys: z.array(keyDigest).default([]).describe("Digests of the keys the app's SDK sends as x-api-key. None: the app accepts payloads without a key."),
  api_key_file: z.string().optional().describe('File holding one more key (hashed at start-up).'),
  allowed_origins: z.array(origin).optional().describe('Browser origins allowed to send for this app. Absent: the receiver-wide list.'),
  rate_limit: z
    .strictObject({
      payloads_per_second: z.number().positive().describe('Sustained payloads per second for this app.'),
      burst: z.number().int().positive().describe('Payloads this app may send at once.'),
    })
    .optional()
    .describe("This app's own rate limit. Absent: the receiver-wide one."),
});

export const faroConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Serve the Faro receiver on the collector HTTP endpoint.'),
    path: urlPath
      .default('/faro/collect')
      .describe('Path the SDK posts to (`url` in the SDK is http(s)://collector<path>). /faro/collect is always served too.'),
    apps: z.array(faroAppSchema).default([]).describe('Apps allowed to send, each with its keys and tenant.'),
    allowed_origins: z
      .array(origin)
      .default([])
      .describe('Browser origins allowed to send (CORS). "*" allows any. Requests without an Origin header (servers, curl) are not subject to it.'),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024)
      .describe('Largest payload accepted, before and after gunzip (413 past it).'),
    max_items: z.number().int().positive().default(5_000).describe('Most rows one payload may produce (413 past it).'),
    rate_limit: z
      .strictObject({
        payloads_per_second: z.number().positive().default(50).describe('Sustained payloads per second per app (429 with Retry-After past it).'),
        burst: z.number().int().positive().default(200).describe('Payloads an app may send at once before the rate applies.'),
      })
      .prefault({}),
    cors_max_age_s: z.number().int().min(0).default(600).describe('How long browsers may cache a preflight answer.'),
    idempotency: z
      .strictObject({
        max_keys: z
          .number()
          .int()
          .min(0)
          .default(20_000)
          .describe(
            'Idempotency-Key values remembered per app, oldest forgotten first; a payload with a remembered key is answered 202 and not stored again. 0 turns this off.',
          ),
        ttl_s: z
          .number()
          .int()
          .positive()
          .default(600)
          .describe('How long a key is remembered after its payload was stored (the SDK retries within seconds to a minute).'),
      })
      .prefault({}),
  })
  .prefault({});

export const otlpConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Serve the OTLP/HTTP traces receiver (JSON and protobuf) on the collector HTTP endpoint.'),
    path: urlPath.default('/v1/traces').describe('Path of the traces endpoint.'),
    max_body_bytes: z
      .number()
      .int()
      .positive()
      .default(4 * 1024 * 1024)
      .describe('Largest request accepted, before and after gunzip (413 past it).'),
    api_keys: z
      .array(keyDigest)
      .default([])
      .describe(
        "Digests of gateway keys (x-api-key or Authorization: Bearer) whose requests may name any tenant: for a trusted collector or gateway in front of many tenants. Applications use their tenant's key instead (`tenants`, or the proxy's tenant keys). With no key of any kind, no key is asked for.",
      ),
    api_key_file: z.string().optional().describe('File holding one more gateway key (hashed at start-up).'),
    tenants: z
      .array(
        z.strictObject({
          tenant: z.string().min(1).max(128).describe('The tenant whose spans this key sends.'),
          keys: z.array(keyDigest).default([]).describe("Digests of the tenant's keys."),
          key_files: z.array(z.string()).default([]).describe("Files holding more of the tenant's keys."),
        }),
      )
      .default([])
      .describe(
        "Tenant keys: a request with one is charged to its tenant, and a span naming another tenant is refused. The proxy's tenant keys (proxy.tenants) are accepted the same way.",
      ),
    tenant_attribute: z.string().min(1).default('tenant.id').describe('Resource (or span) attribute naming the tenant.'),
    tenant_header: z.string().min(1).default('x-llmeter-tenant').describe('Request header naming the tenant when no attribute does.'),
    default_tenant: z.string().default('').describe('Tenant for GenAI spans that name none. Empty: such spans are rejected (dead-lettered).'),
  })
  .prefault({});

export const receiversConfigSchema = z
  .strictObject({
    faro: faroConfigSchema,
    otlp: otlpConfigSchema,
  })
  .prefault({});

export type ReceiversConfig = z.infer<typeof receiversConfigSchema>;
export type FaroConfig = ReceiversConfig['faro'];
export type FaroAppConfig = z.infer<typeof faroAppSchema>;
export type OtlpConfig = ReceiversConfig['otlp'];
