// Configuration of the interruption watchers (the `prices.interruptions:` section): which metadata
// services to poll on this node, and where EventBridge-style events arrive from.
import { z } from 'zod';

const pollMs = (d: number) => z.number().int().positive().default(d);

export const awsImdsWatcherSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Poll the EC2 instance metadata service (IMDSv2) on this node.'),
    endpoint: z.url().default('http://169.254.169.254').describe('IMDS base URL.'),
    interval_ms: pollMs(5_000).describe('Poll interval (AWS recommends 5 s; the notice comes about 2 minutes ahead).'),
    token_ttl_s: z.number().int().min(1).max(21_600).default(21_600).describe('Session token lifetime requested on PUT /latest/api/token.'),
    imdsv1_fallback: z
      .boolean()
      .default(false)
      .describe('When the token PUT is refused, read without a token (IMDSv1). Off: the refusal is reported and retried.'),
    scheduled_events: z.boolean().default(true).describe('Also record scheduled maintenance events.'),
  })
  .prefault({});

export const gcpMetadataWatcherSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Watch the GCE metadata server `instance/preempted` flag on this node.'),
    endpoint: z.url().default('http://metadata.google.internal').describe('Metadata server base URL.'),
    wait_timeout_s: z.number().int().min(1).max(3600).default(60).describe('Hanging GET timeout (timeout_sec) of each wait_for_change request.'),
    interval_ms: pollMs(1_000).describe('Pause between hanging GETs (and after an error, the base of the backoff).'),
  })
  .prefault({});

export const azureScheduledEventsWatcherSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Poll Azure Scheduled Events on this node.'),
    endpoint: z.url().default('http://169.254.169.254').describe('Instance metadata base URL.'),
    api_version: z.string().default('2020-07-01'),
    interval_ms: pollMs(1_000).describe('Poll interval (Preempt gives at least 30 s notice).'),
    vm_name: z.string().default('').describe('Only events whose Resources list this VM; empty: every event in the document.'),
  })
  .prefault({});

export const eventBridgeSchema = z
  .strictObject({
    file: z.string().default('').describe('NDJSON file of EventBridge events (or SQS/SNS envelopes) to follow; empty: off.'),
    poll_ms: pollMs(2_000).describe('How often the file is checked for new lines.'),
    http: z.boolean().default(true).describe('Accept events on POST /api/v1/spot/events (admin key or loopback).'),
  })
  .prefault({});

export const interruptionsConfigSchema = z
  .strictObject({
    node: z.string().default('').describe('Node name recorded with notices from this machine (empty: the host name).'),
    instance_id: z.string().default('').describe('Instance id when the metadata service does not give one.'),
    dedupe_window: z.number().int().positive().default(10_000).describe('Notice ids remembered in memory to publish each notice once.'),
    drain_suppress_ms: z
      .number()
      .int()
      .min(0)
      .default(900_000)
      .describe('A notice of the same kind for the same instance from another channel within this time is stored but not published again.'),
    aws_imds: awsImdsWatcherSchema,
    gcp_metadata: gcpMetadataWatcherSchema,
    azure_scheduled_events: azureScheduledEventsWatcherSchema,
    eventbridge: eventBridgeSchema,
  })
  .prefault({});

export type InterruptionsConfig = z.infer<typeof interruptionsConfigSchema>;
