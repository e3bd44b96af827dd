// An llm_requests row as the store returns it (64-bit integers come back as strings), for tests that
// read back what the collector stored.
export interface LlmRequestRow {
  ts: string;
  request_id: string;
  tenant: string;
  model: string;
  endpoint: string;
  api: string;
  backend: string;
  node: string;
  status: number;
  error: string;
  error_kind: string;
  stream: boolean;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  ttfb_ms: number | null;
  ttft_ms: number | null;
  duration_ms: number;
  queue_ms: number;
  proxy_overhead_ms: number;
  load_duration_ns: string;
  prompt_eval_duration_ns: string;
  eval_duration_ns: string;
  total_duration_ns: string;
  source: string;
}
