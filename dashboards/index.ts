// Every dashboard llmeter ships, by the file name its provisioning JSON gets.
import { cost } from './cost.ts';
import { gpuFleet } from './gpu-fleet.ts';
import type { Dashboard } from './lib/grafana.ts';
import { llmServing } from './llm-serving.ts';
import { pipelineHealth } from './pipeline-health.ts';
import { spotMarket } from './spot-market.ts';

export const DASHBOARDS: Readonly<Record<string, Dashboard>> = {
  'gpu-fleet.json': gpuFleet,
  'llm-serving.json': llmServing,
  'cost.json': cost,
  'spot-market.json': spotMarket,
  'pipeline-health.json': pipelineHealth,
};
