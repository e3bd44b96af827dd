// The `alerting` section: how often the alert-facing gauges are recomputed from the store and over
// which windows. The alert rules themselves live in alerts/ and run in Prometheus.
import { z } from 'zod';

export const alertingConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Publish the alert-facing gauges (llmeter_gpu_temperature_celsius, …) on /metrics.'),
    interval_ms: z.number().int().min(50).default(15_000).describe('How often the gauges are recomputed from the store.'),
    gpu_stale_ms: z
      .number()
      .int()
      .positive()
      .default(120_000)
      .describe('A GPU whose newest sample is older than this disappears from the GPU gauges (its alerts resolve; the scrape-down alert takes over).'),
    request_window_ms: z.number().int().positive().default(300_000).describe('Window of llm_requests behind the latency, error-rate and queue-full gauges.'),
    dead_letter_window_ms: z.number().int().positive().default(900_000).describe('Window of dead_letters counted by llmeter_store_dead_letters_window.'),
    xid_window_ms: z.number().int().positive().default(3_600_000).describe('Window of XID events counted by llmeter_gpu_xid_events.'),
    notice_grace_ms: z
      .number()
      .int()
      .positive()
      .default(600_000)
      .describe('A capacity notice stays published until its action time plus this (or its arrival plus this when it names no action time).'),
    node_state_lookback_ms: z
      .number()
      .int()
      .positive()
      .default(7 * 86_400_000)
      .describe('How far back node_up/node_down events are read for llmeter_node_down.'),
    max_series: z.number().int().positive().default(10_000).describe('Most series one gauge publishes (rows beyond are counted, not published).'),
  })
  .prefault({});

export type AlertingConfig = z.infer<typeof alertingConfigSchema>;
