// `llmeter demo` end to end with a short run: the simulated fleet, the real collector (proxy, dcgm and
// vLLM scrapers, inventory, prices, pipeline, chDB store, cost engine), then what it stored and printed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { runDemo, type DemoResult } from '../../../collector/app/cli/demo-command.ts';
import { tempDir } from '../../helpers/store.ts';

describe('llmeter demo', () => {
  let result: DemoResult;
  const dir = tempDir('llmeter-demo-test-');

  it('runs end to end and stores every signal', { timeout: 90_000 }, async () => {
    result = await runDemo({
      durationS: 7,
      seed: 11,
      listen: '127.0.0.1:0',
      dataDir: path.join(dir, 'data'),
      out: path.join(dir, 'report.html'),
      write: () => {},
    });
    const { rows, traffic } = result;
    expect(traffic.sent).toBeGreaterThan(10);
    // Every request through the proxy is one llm_requests row, answered or refused.
    expect(rows.llm_requests).toBe(traffic.sent);
    // Two simulated nodes scraped every 2 s for at least 7 s, 14 DCGM fields each.
    expect(rows.gpu_metrics).toBeGreaterThanOrEqual(2 * 3 * 10);
    expect(rows.nodes).toBeGreaterThanOrEqual(2);
    expect(rows.model_states).toBeGreaterThan(0);
    // The vLLM-like server's /metrics page, scraped by the real vLLM scraper: gauges from the first
    // scrape on, counter and histogram deltas from the second.
    expect(rows.model_server_metrics).toBeGreaterThan(0);
    // At least one scrape with its counters and histogram buckets (over a hundred series) beyond the first.
    expect(rows.model_server_metrics).toBeGreaterThan(100);
    // The book price is not a price_point of the feed; the feed wrote on-demand for both types, the
    // starting spot price and at least one move.
    expect(rows.price_points).toBeGreaterThanOrEqual(4);
    expect(rows.dead_letters).toBe(0);
    expect(result.spotPrices.length).toBeGreaterThanOrEqual(2);
  });

  it('prints a chargeback that reconciles to the cent and matches the report', () => {
    const { printed, report } = result;
    expect(printed).toContain('SIMULATED');
    const lines = printed.split('\n');
    const tenantLine = (name: string) =>
      lines
        .find((l) => l.trimStart().startsWith(name + ' '))!
        .trim()
        .split(/\s{2,}/);
    let sum = new Decimal(0);
    for (const t of ['acme-chat', 'globex-batch', 'initech-agents']) {
      const cells = tenantLine(t);
      const r = report.tenants.find((x) => x.tenant === t)!;
      expect(r, t).toBeDefined();
      expect(Number(cells[1])).toBe(r.requests);
      expect(Number(cells[1])).toBe(result.traffic.byTenant[t]);
      expect(cells.at(-1)).toBe(r.total);
      sum = sum.plus(cells.at(-1)!);
    }
    const idle = lines
      .find((l) => l.includes('(idle, unshared)'))!
      .trim()
      .split(/\s{2,}/)
      .at(-1)!;
    const fleet = lines
      .find((l) => l.trimStart().startsWith('fleet cost'))!
      .trim()
      .split(/\s{2,}/)
      .at(-1)!;
    expect(sum.plus(idle).toFixed(2)).toBe(new Decimal(fleet).toFixed(2));
    expect(fleet).toBe(report.totals.fleet_cost);
    expect(new Decimal(fleet).greaterThan(0)).toBe(true);
    expect(report.totals.reconciliation).toBe('0.00');
    expect(report.totals.unpriced_minutes).toBe(0);
    expect(report.totals.unattributed_requests).toBe(0);
    expect(printed).toMatch(/= 0\.00\n/);
  });

  it('writes the HTML report, labelled as simulated', () => {
    const html = readFileSync(result.out, 'utf8');
    expect(html).toContain('SIMULATED DATA');
    for (const t of ['acme-chat', 'globex-batch', 'initech-agents']) expect(html).toContain(t);
    expect(html).toContain(result.report.totals.fleet_cost);
  });
});
