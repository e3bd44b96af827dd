// The cost feature (`cost:`): tenant budgets (their burn on /metrics, and the hard stop the proxy asks
// about) and GET /api/chargeback. The report itself (chargeback.ts) is also run by the CLI.
import { defineFeature, type TenantKeys } from '../../core/feature.ts';
import type { Component } from '../../core/lifecycle/component.ts';
import { mountChargebackApi } from './api.ts';
import { Budgets } from './budgets.ts';
import { costConfigSchema } from './config.ts';

export { costConfigSchema, type CostConfig } from './config.ts';

export interface CostNeeds {
  tenantKeys: readonly TenantKeys[];
  /** The tenants a bill always lists (the proxy's tenants and its anonymous tenant), 0.00 when idle; default: the keyed tenants. */
  tenantNames?: readonly string[];
}

export interface CostProvides {
  /** Why a tenant's requests are refused (a spent budget with a hard stop), or undefined. */
  budgetRefusal: (tenant: string) => string | undefined;
}

export const costFeature = defineFeature({
  name: 'cost',
  section: 'cost',
  schema: costConfigSchema,
  needs: ['tenantKeys', 'tenantNames'],
  create: (core, config, needs: CostNeeds) => {
    mountChargebackApi(core.http, core.store, core.config.http, needs.tenantKeys, needs.tenantNames ?? needs.tenantKeys.map((t) => t.tenant));
    const budgets = new Budgets({
      budgets: config.budgets,
      store: core.store,
      registry: core.registry,
      log: core.log.child('budgets'),
      refreshMs: config.budget_refresh_ms,
      failures: core.failures,
    });
    const components: Component[] = config.budgets.length > 0 ? [budgets] : [];
    const provides: CostProvides = { budgetRefusal: (t) => budgets.refusal(t) };
    return { components, provides };
  },
});
