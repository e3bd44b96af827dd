// Builds this feature's running components from the configuration (none while it is disabled):
// the node inventory first (so exporter pod names resolve from the first scrape), then the scraper.
// GET /api/scrape/targets shows each target's state (admin-guarded like the other /api routes).
import type { Component } from '../../collector/lifecycle/component.ts';
import type { RuntimeContext } from '../../collector/runtime.ts';
import { adminKeyRing, requireAdmin } from '../../collector/http/admin-auth.ts';
import { sendJson } from '../../collector/http/server.ts';
import { buildScrape } from './build.ts';

export function scrapeComponents(ctx: RuntimeContext): Component[] {
  if (!ctx.config.scrape.enabled) return [];
  const f = buildScrape({ config: ctx.config.scrape, sink: ctx.sink, registry: ctx.registry, log: ctx.log });
  const ring = adminKeyRing(ctx.config.http);
  ctx.http.route('GET', '/api/scrape/targets', (req, res) => {
    requireAdmin(req, ring);
    sendJson(res, 200, { targets: f.scraper.statuses() });
  });
  return f.inventory ? [f.inventory, f.scraper] : [f.scraper];
}
