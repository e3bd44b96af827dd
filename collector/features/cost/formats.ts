// Renders a chargeback report as CSV (one line per tenant and group, then the totals), JSON, or a
// self-contained HTML page for finance: tables and inline SVG charts, no scripts, no external files.
import type { ChargebackReport } from './chargeback.ts';

export type ReportFormat = 'csv' | 'json' | 'html';

const csvCell = (v: unknown): string => {
  const s = Array.isArray(v) ? v.join(' ') : String(v ?? '');
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(r: ChargebackReport): string {
  const dims = r.group_by;
  const head = [
    'line',
    'tenant',
    ...dims,
    'requests',
    'errors',
    'input_tokens',
    'output_tokens',
    'cached_tokens',
    'gpu_seconds',
    'usage_cost_usd',
    'idle_share_usd',
    'total_usd',
    'usd_per_million_tokens',
    'basis',
  ];
  const rows: unknown[][] = [head];
  for (const t of r.tenants) {
    rows.push([
      'tenant',
      t.tenant,
      ...dims.map(() => ''),
      t.requests,
      t.errors,
      t.input_tokens,
      t.output_tokens,
      t.cached_tokens,
      t.gpu_seconds,
      t.usage_cost,
      t.idle_share,
      t.total,
      t.usd_per_million_tokens,
      t.bases,
    ]);
    if (dims.length > 0) {
      for (const g of t.groups) {
        rows.push([
          'group',
          t.tenant,
          ...dims.map((d) => g.dims[d] ?? ''),
          g.requests,
          g.errors,
          g.input_tokens,
          g.output_tokens,
          g.cached_tokens,
          g.gpu_seconds,
          g.usage_cost,
          g.idle_share,
          g.total,
          '',
          g.bases,
        ]);
      }
    }
  }
  const blank = dims.map(() => '');
  const totalLine = (label: string, amount: string) => ['total', label, ...blank, '', '', '', '', '', '', '', '', amount, '', ''];
  rows.push(totalLine('tenants_total', r.totals.tenants_total));
  rows.push(totalLine('unshared_idle', r.totals.unshared_idle));
  rows.push(totalLine('fleet_cost', r.totals.fleet_cost));
  rows.push(totalLine('reconciliation', r.totals.reconciliation));
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

export function toJson(r: ChargebackReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const PALETTE = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477', '#66aa00', '#b82e2e', '#316395'];

/** A horizontal bar chart in SVG: one bar per label, amounts in USD. */
export function barChart(title: string, data: { label: string; value: number }[], id: string): string {
  const rows = data.slice(0, 30);
  const max = Math.max(0.01, ...rows.map((d) => d.value));
  const rowH = 22;
  const labelW = 160;
  const barW = 420;
  const h = rows.length * rowH + 30;
  const bars = rows
    .map((d, i) => {
      const w = Math.max(0, (d.value / max) * barW);
      const y = 24 + i * rowH;
      return `<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(d.label)}</text><rect class="bar" x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(d.label)}: $${d.value.toFixed(2)}</title></rect><text x="${labelW + w + 6}" y="${y + 14}">$${d.value.toFixed(2)}</text>`;
    })
    .join('');
  return `<figure id="${id}"><svg role="img" aria-label="${esc(title)}" width="${labelW + barW + 90}" height="${h}" xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" class="title">${esc(title)}</text>${rows.length ? bars : `<text x="0" y="40">no data</text>`}</svg></figure>`;
}

export interface HtmlExtras {
  byDay: { label: string; value: number }[];
  byModel: { label: string; value: number }[];
  generatedAt: Date;
}

export function toHtml(r: ChargebackReport, x: HtmlExtras): string {
  const tenantRows = r.tenants
    .map(
      (t) =>
        `<tr><td>${esc(t.tenant)}</td><td>${t.requests.toLocaleString('en')}</td><td>${(t.input_tokens + t.output_tokens).toLocaleString('en')}</td><td>${t.cached_tokens.toLocaleString('en')}</td><td>${(t.gpu_seconds / 3600).toFixed(2)}</td><td>$${esc(t.usage_cost)}</td><td>$${esc(t.idle_share)}</td><td class="total">$${esc(t.total)}</td><td>${t.usd_per_million_tokens ? `$${esc(t.usd_per_million_tokens)}` : '—'}</td><td>${esc(t.bases.join(', '))}</td></tr>`,
    )
    .join('\n');
  const idleNote = {
    separate: 'Idle capacity is shown as its own line and not charged to tenants.',
    'share-weighted': 'Idle capacity is shared between tenants in proportion to their use, within each ' + r.idle_scope + '.',
    'share-even': 'Idle capacity is shared equally between the tenants active on each ' + r.idle_scope + '.',
  }[r.idle_policy];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chargeback ${esc(r.period.from.slice(0, 10))} – ${esc(r.period.to.slice(0, 10))}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:32px;color:#222;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} .muted{color:#666} table{border-collapse:collapse;width:100%;margin:16px 0}
th,td{padding:6px 10px;border-bottom:1px solid #e3e3e3;text-align:right} th:first-child,td:first-child{text-align:left}
th{background:#f6f7f9;font-weight:600} td.total{font-weight:600} tfoot td{font-weight:600;border-top:2px solid #999}
.cards{display:flex;gap:16px;margin:16px 0}.card{border:1px solid #e3e3e3;border-radius:8px;padding:12px 16px;min-width:160px}
.card b{display:block;font-size:20px} svg text{font-size:12px;fill:#333} svg .title{font-weight:600;font-size:13px}
figure{margin:12px 0} .charts{display:flex;flex-wrap:wrap;gap:24px}
</style></head><body>
<h1>GPU and inference chargeback</h1>
<div class="muted">Period ${esc(r.period.from)} to ${esc(r.period.to)} · prices in ${esc(r.currency)} · generated ${esc(x.generatedAt.toISOString())}</div>
<div class="cards">
<div class="card">Fleet cost<b id="fleet-cost">$${esc(r.totals.fleet_cost)}</b></div>
<div class="card">Charged to tenants<b id="tenants-total">$${esc(r.totals.tenants_total)}</b></div>
<div class="card">Unshared idle<b id="unshared-idle">$${esc(r.totals.unshared_idle)}</b></div>
<div class="card">Reconciliation<b id="reconciliation">$${esc(r.totals.reconciliation)}</b></div>
</div>
<p>${esc(idleNote)} Of all idle ($${esc(r.totals.idle_total)}), $${esc(r.totals.idle_with_model_resident)} was time a model sat loaded in GPU memory with no request.
${r.totals.on_demand_fallback_minutes ? `<br><b>Note:</b> ${r.totals.on_demand_fallback_minutes} node-minutes were priced at on-demand because no spot price was known.` : ''}
${r.totals.unpriced_minutes ? `<br><b>Note:</b> ${r.totals.unpriced_minutes} node-minutes had no price at all and are counted at $0.` : ''}
${r.totals.unattributed_requests ? `<br><b>Note:</b> ${r.totals.unattributed_requests} requests ran on nodes with no inventory or up-time and could not be priced.` : ''}</p>
<div class="charts">
${barChart(
  'Cost per tenant',
  r.tenants.map((t) => ({ label: t.tenant, value: Number(t.total) })),
  'chart-tenants',
)}
${barChart('Cost per day (charged to tenants)', x.byDay, 'chart-days')}
${barChart('Cost per model (charged to tenants)', x.byModel, 'chart-models')}
</div>
<table id="tenants"><thead><tr><th>Tenant</th><th>Requests</th><th>Tokens</th><th>Cached tokens</th><th>GPU-hours</th><th>Usage</th><th>Idle share</th><th>Total</th><th>$ / 1M tokens</th><th>Measured by</th></tr></thead>
<tbody>
${tenantRows}
</tbody>
<tfoot><tr><td>All tenants</td><td colspan="6"></td><td>$${esc(r.totals.tenants_total)}</td><td colspan="2"></td></tr>
<tr><td>Unshared idle</td><td colspan="6"></td><td>$${esc(r.totals.unshared_idle)}</td><td colspan="2"></td></tr>
<tr><td>Fleet cost (the bill)</td><td colspan="6"></td><td>$${esc(r.totals.fleet_cost)}</td><td colspan="2"></td></tr></tfoot>
</table>
<p class="muted">GPU-seconds are measured from each request's prompt-processing and generation time on its GPU ("measured"); where a server does not report them, from the request's wall-clock time ("wall_clock") or, last, by share of tokens ("tokens"). Concurrent requests are scaled so no GPU-second is charged twice. ${esc(String(r.totals.node_count))} node${r.totals.node_count === 1 ? '' : 's'}, ${r.totals.device_hours.toFixed(1)} device-hours.</p>
</body></html>
`;
}
