// What an installation changes in the generated provisioning: the fleet's monthly budget the Budget
// burn rule compares against, and where the runbooks its alerts link to are. They come from the
// `dashboards:` section of llmeter's configuration (`npm run dashboards -- --config llmeter.yaml`);
// the committed provisioning is generated with none, so it has no budget rule and no runbook links.
import { z } from 'zod';

export const dashboardsConfigSchema = z
  .strictObject({
    monthly_budget_usd: z
      .number()
      .positive()
      .optional()
      .describe(
        "The fleet's monthly budget in USD for the Grafana-managed Budget burn rule (`npm run dashboards`). Absent: the sum of cost.budgets[].monthly_usd; with neither, no Budget burn rule is generated.",
      ),
    runbook_base_url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        "Where the project's docs/ folder is served (a Git host's web view of the repository will do), e.g. https://git.example.com/llmeter/blob/main/docs/: the Grafana-managed alert rules get runbook_url annotations under it. Absent: no runbook_url.",
      ),
  })
  .prefault({});

export type DashboardsConfig = z.infer<typeof dashboardsConfigSchema>;

export interface ProvisioningOptions {
  /** The fleet's monthly budget; undefined: no Budget burn rule. */
  monthlyBudgetUsd?: number;
  /** Base URL of the docs/ folder; undefined: no runbook links. */
  runbookBaseUrl?: string;
}

/** The options of a configuration: its `dashboards:` section, the budget falling back to the tenants' monthly budgets. */
export function provisioningOptions(config: { dashboards: DashboardsConfig; cost: { budgets: readonly { monthly_usd?: string }[] } }): ProvisioningOptions {
  // Budgets are decimal text; summed in cents, so that 0.1 + 0.2 stays 0.3.
  const tenants = config.cost.budgets.reduce((cents, b) => cents + Math.round(Number(b.monthly_usd ?? 0) * 100), 0) / 100;
  const budget = config.dashboards.monthly_budget_usd ?? (tenants > 0 ? tenants : undefined);
  return {
    ...(budget !== undefined ? { monthlyBudgetUsd: budget } : {}),
    ...(config.dashboards.runbook_base_url ? { runbookBaseUrl: config.dashboards.runbook_base_url } : {}),
  };
}

/** The runbook of `page` (`alerting.md#section`) under the configured base; undefined without one. */
export function runbookUrl(o: ProvisioningOptions, page: string): string | undefined {
  if (!o.runbookBaseUrl) return undefined;
  return new URL(page, o.runbookBaseUrl.endsWith('/') ? o.runbookBaseUrl : `${o.runbookBaseUrl}/`).toString();
}
