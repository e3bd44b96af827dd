// The scrape feature (`scrape:`): the node inventory first (so exporter pod names resolve from the
// first scrape), then the scraper (none while disabled). GET /api/scrape/targets shows each target's
// state (admin-guarded like the other /api routes). It offers the newest page of each target to the
// autoscaling side.
import { adminKeyRing, requireAdmin } from '../../collector/core/http/admin-auth.ts';
import { sendJson } from '../../collector/core/http/server.ts';
import { defineFeature } from '../../collector/core/feature.ts';
import { buildScrape } from './build.ts';
import { scrapeConfigSchema, type ScrapeConfig } from './config.ts';
import { isThisHost } from '../../collector/core/node-name.ts';
import { inventorySource } from './inventory/inventory.ts';
import { LocalHostInventory } from './inventory/local-host.ts';
import { LiveScrape } from './live.ts';

export { scrapeConfigSchema, type ScrapeConfig } from './config.ts';

/** Whether this host gets a node record of its own (scrape.inventory.local_host). */
export function localHostWanted(c: ScrapeConfig, intakeOnThisHost: boolean): boolean {
  const l = c.inventory.local_host.enabled;
  if (l !== 'auto') return l === 'on';
  const inventory = c.enabled && c.inventory.enabled;
  if (inventory && (inventorySource(c.inventory) === 'kubernetes' || c.inventory.nodes.some((n) => n.local || isThisHost(n.node)))) return false;
  return intakeOnThisHost || (inventory && c.inventory.nodes.length === 0);
}

export interface ScrapeProvides {
  live: LiveScrape;
}

export interface ScrapeNeeds {
  /** Something llmeter meters runs on this host (the proxy has an upstream here). */
  intakeOnThisHost: boolean;
}

export const scrapeFeature = defineFeature({
  name: 'scrape',
  section: 'scrape',
  schema: scrapeConfigSchema,
  needs: ['proxy'],
  create: (core, config, needs: ScrapeNeeds) => {
    const local = localHostWanted(config, needs.intakeOnThisHost)
      ? [new LocalHostInventory({ config: config.inventory.local_host, refreshMs: config.inventory.refresh_ms, sink: core.sink, failures: core.failures })]
      : [];
    if (!config.enabled) return { components: local, provides: { live: new LiveScrape() } as ScrapeProvides };
    const f = buildScrape({ config, sink: core.sink, registry: core.registry, log: core.log, failures: core.failures });
    const ring = adminKeyRing(core.config.http);
    core.http.route('GET', '/api/scrape/targets', (req, res) => {
      requireAdmin(req, ring);
      sendJson(res, 200, { targets: f.scraper.statuses() });
    });
    return { components: [...local, ...(f.inventory ? [f.inventory] : []), f.scraper], provides: { live: f.live } as ScrapeProvides };
  },
});
