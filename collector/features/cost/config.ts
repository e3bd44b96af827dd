// The `cost:` section: tenant budgets and the price tables what-if reports compare against.
import { z } from 'zod';

const usd = z.string().regex(/^\d{1,9}(\.\d{1,9})?$/, 'expected a decimal amount in USD, e.g. "250" or "0.15"');

export const budgetSchema = z.strictObject({
  tenant: z.string().min(1).max(256).describe('Tenant the budget applies to.'),
  monthly_usd: usd.optional().describe('Budget per calendar month (UTC).'),
  daily_usd: usd.optional().describe('Budget per day (UTC).'),
  hard_stop: z.boolean().default(false).describe("Refuse the tenant's requests at the proxy (429) once a budget is spent. Off by default."),
});

export const apiPriceSchema = z.strictObject({
  name: z.string().min(1).describe('The external API, e.g. "gpt-4o-mini" or "claude-haiku".'),
  input_per_million_usd: usd.describe('Price of one million input tokens.'),
  output_per_million_usd: usd.describe('Price of one million output tokens.'),
  cached_input_per_million_usd: usd.optional().describe('Price of one million cached input tokens (defaults to the input price).'),
});

export const costConfigSchema = z
  .strictObject({
    budgets: z.array(budgetSchema).default([]).describe('Per-tenant budgets; burn is exposed on /metrics as llmeter_budget_*.'),
    budget_refresh_ms: z.number().int().min(1000).default(60_000).describe('How often spend so far is recomputed for budgets.'),
    whatif: z
      .strictObject({
        api_prices: z.array(apiPriceSchema).default([]).describe('Per-token prices of hosted APIs the same traffic could have used.'),
        serverless_usd_per_gpu_second: usd.optional().describe('Serverless GPU price per GPU-second (e.g. a per-second GPU cloud).'),
        dedicated_usd_per_gpu_hour: usd.optional().describe('Price of one dedicated GPU per hour, rented for the whole period.'),
        dedicated_gpus: z.number().int().positive().default(1).describe('Dedicated GPUs the comparison rents.'),
      })
      .prefault({}),
  })
  .prefault({});

export type CostConfig = z.infer<typeof costConfigSchema>;
export type BudgetConfig = z.infer<typeof budgetSchema>;
