// The scrape feature (`scrape:`): the node inventory first (so exporter pod names resolve from the
// first scrape), then the scraper (none while disabled). GET /api/scrape/targets shows each target's
// state (admin-guarded like the other /api routes). It offers the newest page of each target to the
// autoscaling side.
import { adminKeyRing, requireAdmin } from '../../collector/core/http/admin-auth.ts';
import { sendJson } from '../../collector/core/http/server.ts';
import { defineFeature } from '../../collector/core/feature.ts';
import { buildScrape } from './build.ts';
import { scrapeConfigSchema } from './config.ts';
import { LiveScrape } from './live.ts';

export { scrapeConfigSchema, type ScrapeConfig } from './config.ts';

export interface ScrapeProvides {
  live: LiveScrape;
}

export const scrapeFeature = defineFeature({
  name: 'scrape',
  section: 'scrape',
  schema: scrapeConfigSchema,
  needs: [],
  create: (core, config, _needs: Record<string, never>) => {
    if (!config.enabled) return { components: [], provides: { live: new LiveScrape() } as ScrapeProvides };
    const f = buildScrape({ config, sink: core.sink, registry: core.registry, log: core.log, failures: core.failures });
    const ring = adminKeyRing(core.config.http);
    core.http.route('GET', '/api/scrape/targets', (req, res) => {
      requireAdmin(req, ring);
      sendJson(res, 200, { targets: f.scraper.statuses() });
    });
    return { components: f.inventory ? [f.inventory, f.scraper] : [f.scraper], provides: { live: f.live } as ScrapeProvides };
  },
});
