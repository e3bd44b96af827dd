// vLLM's metrics, V0 and V1: their types (pages filtered through grep lose the TYPE lines) and the
// deprecated or renamed names, mapped to the current name so one series spans vLLM upgrades.

export type VllmType = 'gauge' | 'counter' | 'histogram';

/** Metric family → type. Counters are listed with their exposed `_total` name. */
export const VLLM_METRICS: Readonly<Record<string, VllmType>> = {
  // Scheduler state
  'vllm:num_requests_running': 'gauge',
  'vllm:num_requests_waiting': 'gauge',
  'vllm:num_requests_swapped': 'gauge',
  'vllm:kv_cache_usage_perc': 'gauge',
  'vllm:gpu_cache_usage_perc': 'gauge',
  'vllm:cpu_cache_usage_perc': 'gauge',
  'vllm:gpu_prefix_cache_hit_rate': 'gauge',
  'vllm:cpu_prefix_cache_hit_rate': 'gauge',
  'vllm:avg_prompt_throughput_toks_per_s': 'gauge',
  'vllm:avg_generation_throughput_toks_per_s': 'gauge',
  'vllm:cache_config_info': 'gauge',
  'vllm:lora_requests_info': 'gauge',
  'vllm:engine_sleep_state': 'gauge',
  'vllm:spec_decode_draft_acceptance_rate': 'gauge',
  'vllm:spec_decode_efficiency': 'gauge',
  // Counters
  'vllm:prompt_tokens_total': 'counter',
  'vllm:generation_tokens_total': 'counter',
  'vllm:request_success_total': 'counter',
  'vllm:num_preemptions_total': 'counter',
  'vllm:prefix_cache_queries_total': 'counter',
  'vllm:prefix_cache_hits_total': 'counter',
  'vllm:gpu_prefix_cache_queries_total': 'counter',
  'vllm:gpu_prefix_cache_hits_total': 'counter',
  'vllm:external_prefix_cache_queries_total': 'counter',
  'vllm:external_prefix_cache_hits_total': 'counter',
  'vllm:mm_cache_queries_total': 'counter',
  'vllm:mm_cache_hits_total': 'counter',
  'vllm:corrupted_requests_total': 'counter',
  'vllm:prompt_tokens_cached_total': 'counter',
  'vllm:prompt_tokens_recomputed_total': 'counter',
  'vllm:spec_decode_num_drafts_total': 'counter',
  'vllm:spec_decode_num_draft_tokens_total': 'counter',
  'vllm:spec_decode_num_accepted_tokens_total': 'counter',
  'vllm:spec_decode_num_accepted_tokens_per_pos_total': 'counter',
  'vllm:spec_decode_num_emitted_tokens_total': 'counter',
  // Histograms
  'vllm:time_to_first_token_seconds': 'histogram',
  'vllm:inter_token_latency_seconds': 'histogram',
  'vllm:time_per_output_token_seconds': 'histogram',
  'vllm:request_time_per_output_token_seconds': 'histogram',
  'vllm:e2e_request_latency_seconds': 'histogram',
  'vllm:request_queue_time_seconds': 'histogram',
  'vllm:request_inference_time_seconds': 'histogram',
  'vllm:request_prefill_time_seconds': 'histogram',
  'vllm:request_decode_time_seconds': 'histogram',
  'vllm:request_prompt_tokens': 'histogram',
  'vllm:request_generation_tokens': 'histogram',
  'vllm:request_max_num_generation_tokens': 'histogram',
  'vllm:request_params_n': 'histogram',
  'vllm:request_params_max_tokens': 'histogram',
  'vllm:iteration_tokens_total': 'histogram',
  'vllm:model_forward_time_milliseconds': 'histogram',
  'vllm:model_execute_time_milliseconds': 'histogram',
  'vllm:kv_cache_residency_seconds': 'histogram',
};

/**
 * Deprecated name → current name. `vllm:gpu_prefix_cache_*` counted blocks where the current
 * `vllm:prefix_cache_*` counts tokens: rows mapped from them carry `unit=blocks` in their labels.
 */
export const VLLM_RENAMES: Readonly<Record<string, string>> = {
  'vllm:gpu_cache_usage_perc': 'vllm:kv_cache_usage_perc',
  'vllm:gpu_prefix_cache_queries_total': 'vllm:prefix_cache_queries_total',
  'vllm:gpu_prefix_cache_hits_total': 'vllm:prefix_cache_hits_total',
  'vllm:time_per_output_token_seconds': 'vllm:inter_token_latency_seconds',
};

/** Labels that become columns rather than entries of the labels map. */
export const COLUMN_LABELS = new Set(['model_name', 'engine']);
