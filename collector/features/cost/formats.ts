// Renders a chargeback report as CSV (one line per tenant and group, then the totals), JSON, or a
// self-contained HTML page for finance: tables and inline SVG charts, no scripts, no external files.
// Every format carries the whole report: what could not be priced (each node, with how to price it),
// the requests that could not be attributed, the node section, and amounts to six decimals beside
// the cents.
import type { ChargebackNode, ChargebackReport } from './chargeback.ts';
import { NO_PRICE_MESSAGE } from './gaps.ts';

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
    // Added after the first columns, so readers of the older layout keep working.
    ...EXTRA_COLUMNS,
  ];
  const rows: unknown[][] = [head];
  const blank = dims.map(() => '');
  // A line of another kind than a tenant's: its subject in the second column, its values by name.
  const other = (
    kind: string,
    subject: string,
    v: Partial<Record<(typeof EXTRA_COLUMNS)[number] | 'requests' | 'usage' | 'idle' | 'total', unknown>>,
    dimValues = blank,
  ) => [
    kind,
    subject,
    ...dimValues,
    v.requests ?? '',
    '',
    '',
    '',
    '',
    '',
    v.usage ?? '',
    v.idle ?? '',
    v.total ?? '',
    '',
    '',
    ...EXTRA_COLUMNS.map((c) => v[c] ?? ''),
  ];
  // What could not be priced comes first, where nobody scrolls past it.
  if (r.warnings[0] === NO_PRICE_MESSAGE) rows.push(other('no_price', '', { message: NO_PRICE_MESSAGE }));
  for (const g of r.price_gaps) {
    rows.push(
      other(g.kind, g.node, {
        node_pool: g.pool,
        [g.kind === 'unpriced' ? 'unpriced_minutes' : 'fallback_minutes']: g.minutes,
        instance_type: g.instance_type,
        provider: g.provider,
        region: g.region,
        capacity_type: g.capacity_type,
        message: g.message,
      }),
    );
  }
  for (const u of r.unattributed) rows.push(other('unattributed', u.node, { requests: u.requests, message: u.message }));
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
      t.total_exact,
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
          g.total_exact,
        ]);
      }
    }
  }
  for (const n of r.nodes) rows.push(nodeLine(n, dims, other));
  const totalLine = (label: string, amount: string, exact = '') => other('total', label, { total: amount, total_exact_usd: exact });
  rows.push(totalLine('tenants_total', r.totals.tenants_total, r.totals.tenants_total_exact));
  rows.push(totalLine('unshared_idle', r.totals.unshared_idle, r.totals.unshared_idle_exact));
  rows.push(totalLine('fleet_cost', r.totals.fleet_cost, r.totals.fleet_cost_exact));
  // Reconciliation is about the cents (each exact amount is rounded to six decimals on its own).
  rows.push(totalLine('reconciliation', r.totals.reconciliation));
  return rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

/** Columns after `basis`: the exact total, the node section's figures, and what gap lines say. */
const EXTRA_COLUMNS = [
  'total_exact_usd',
  'node_pool',
  'device_hours',
  'idle_resident_usd',
  'fallback_minutes',
  'unpriced_minutes',
  'instance_type',
  'provider',
  'region',
  'capacity_type',
  'message',
] as const;

/** A node line: its cost in total_usd, the part tenants used in usage_cost_usd and its idle in idle_share_usd. */
function nodeLine(
  n: ChargebackNode,
  dims: readonly string[],
  other: (kind: string, subject: string, v: Record<string, unknown>, dimValues?: string[]) => unknown[],
) {
  const dimValues = dims.map((d) => (d === 'node' ? n.node : d === 'pool' ? n.pool : ''));
  return other(
    'node',
    n.node,
    {
      usage: n.used,
      idle: n.idle,
      total: n.cost,
      total_exact_usd: n.cost_exact,
      node_pool: n.pool,
      device_hours: n.device_hours,
      idle_resident_usd: n.idle_with_model_resident,
      fallback_minutes: n.on_demand_fallback_minutes,
      unpriced_minutes: n.unpriced_minutes,
      instance_type: n.instance_type,
      provider: n.provider,
      region: n.region,
      capacity_type: n.capacity_type,
    },
    dimValues,
  );
}

export function toJson(r: ChargebackReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const PALETTE = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477', '#66aa00', '#b82e2e', '#316395'];

/** A chart's amount: cents, or four significant digits under a dollar so small amounts do not all read $0.00. */
const chartUsd = (v: number) => (v > 0 && v < 1 ? v.toPrecision(4) : v.toFixed(2));

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The period as people read it. A report's end is exclusive: whole days name their last day
 * ([1 Nov, 1 Dec) is "1 Nov – 30 Nov 2026"); a period that starts or ends inside a day gives its
 * times and says that the end is exclusive.
 */
export function periodLabel(fromIso: string, toIso: string): string {
  const from = new Date(fromIso);
  const to = new Date(toIso);
  const midnight = (d: Date) => d.getTime() % 86_400_000 === 0;
  if (midnight(from) && midnight(to) && to > from) {
    const last = new Date(to.getTime() - 86_400_000);
    const day = (d: Date) => `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
    if (last.getTime() === from.getTime()) return `${day(from)} ${from.getUTCFullYear()}`;
    if (last.getUTCFullYear() === from.getUTCFullYear()) return `${day(from)} – ${day(last)} ${last.getUTCFullYear()}`;
    return `${day(from)} ${from.getUTCFullYear()} – ${day(last)} ${last.getUTCFullYear()}`;
  }
  const time = (d: Date) =>
    d
      .toISOString()
      .slice(0, d.getTime() % 60_000 === 0 ? 16 : 19)
      .replace('T', ' ');
  return `${time(from)} to ${time(to)} UTC (end exclusive)`;
}

/** A horizontal bar chart in SVG: one bar per label, amounts in USD. */
export function barChart(title: string, data: { label: string; value: number }[], id: string): string {
  const rows = data.slice(0, 30);
  const max = Math.max(1e-6, ...rows.map((d) => d.value));
  const rowH = 22;
  const labelW = 160;
  const barW = 420;
  const h = rows.length * rowH + 30;
  const bars = rows
    .map((d, i) => {
      const w = Math.max(0, (d.value / max) * barW);
      const y = 24 + i * rowH;
      return `<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(d.label)}</text><rect class="bar" x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(d.label)}: $${chartUsd(d.value)}</title></rect><text x="${labelW + w + 6}" y="${y + 14}">$${chartUsd(d.value)}</text>`;
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
        `<tr><td>${esc(t.tenant)}</td><td>${t.requests.toLocaleString('en')}</td><td>${(t.input_tokens + t.output_tokens).toLocaleString('en')}</td><td>${t.cached_tokens.toLocaleString('en')}</td><td>${(t.gpu_seconds / 3600).toFixed(2)}</td><td>$${esc(t.usage_cost)}</td><td>$${esc(t.idle_share)}</td><td class="total">$${esc(t.total)}</td><td class="exact">$${esc(t.total_exact)}</td><td>${t.usd_per_million_tokens ? `$${esc(t.usd_per_million_tokens)}` : '—'}</td><td>${esc(t.bases.join(', '))}${t.unattributed_requests ? ` (${t.unattributed_requests.toLocaleString('en')} not priced)` : ''}</td></tr>`,
    )
    .join('\n');
  const nodeRows = r.nodes
    .map(
      (n) =>
        `<tr><td>${esc(n.node)}</td><td>${esc(n.pool)}</td><td>${esc(n.instance_type || '—')}</td><td>${n.device_hours.toFixed(2)}</td><td class="total">$${esc(n.cost)}</td><td class="exact">$${esc(n.cost_exact)}</td><td>$${esc(n.used)}</td><td>$${esc(n.idle)}</td><td>$${esc(n.idle_with_model_resident)}</td><td>${n.on_demand_fallback_minutes}</td><td>${n.unpriced_minutes}</td></tr>`,
    )
    .join('\n');
  const idleNote = {
    separate: 'Idle capacity is shown as its own line and not charged to tenants.',
    'share-weighted': 'Idle capacity is shared between tenants in proportion to their use, within each ' + r.idle_scope + '.',
    'share-even': 'Idle capacity is shared equally between the tenants active on each ' + r.idle_scope + '.',
  }[r.idle_policy];
  const card = (label: string, id: string, amount: string, exact: string) =>
    `<div class="card">${label}<b id="${id}">$${esc(amount)}</b><small class="exact" id="${id}-exact">$${esc(exact)}</small></div>`;
  const gaps = r.price_gaps
    .map((g) => `<li class="gap ${esc(g.kind)}">${esc(g.message)}<pre>${esc(g.book_entry)}</pre></li>`)
    .concat(
      r.unattributed.map((u) => `<li class="gap unattributed">${esc(u.message)}${u.tenants.length ? ` (tenants: ${esc(u.tenants.join(', '))})` : ''}</li>`),
    )
    .join('\n');
  const label = periodLabel(r.period.from, r.period.to);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chargeback ${esc(label)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:32px;color:#222;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 4px} .muted{color:#666} table{border-collapse:collapse;width:100%;margin:16px 0}
th,td{padding:6px 10px;border-bottom:1px solid #e3e3e3;text-align:right} th:first-child,td:first-child{text-align:left}
th{background:#f6f7f9;font-weight:600} td.total{font-weight:600} td.exact,small.exact{color:#666} tfoot td{font-weight:600;border-top:2px solid #999}
.cards{display:flex;gap:16px;margin:16px 0}.card{border:1px solid #e3e3e3;border-radius:8px;padding:12px 16px;min-width:160px}
.card b{display:block;font-size:20px} .card small{display:block} svg text{font-size:12px;fill:#333} svg .title{font-weight:600;font-size:13px}
figure{margin:12px 0} .charts{display:flex;flex-wrap:wrap;gap:24px}
#warnings{border:2px solid #c62828;background:#fff4f4;border-radius:8px;padding:8px 16px;margin:16px 0} #warnings pre{margin:4px 0;background:#fff;padding:4px 8px}
</style></head><body>
<h1>GPU and inference chargeback: ${esc(label)}</h1>
<div class="muted">Period ${esc(r.period.from)} to ${esc(r.period.to)} (end exclusive) · prices in ${esc(r.currency)} · generated ${esc(x.generatedAt.toISOString())}</div>
${
  r.warnings.length
    ? `<section id="warnings"><h2>This bill is incomplete</h2>
${r.warnings[0] === NO_PRICE_MESSAGE ? `<p><b>${esc(NO_PRICE_MESSAGE)}</b></p>` : ''}
<ul>
${gaps}
</ul></section>`
    : ''
}
<div class="cards">
${card('Fleet cost', 'fleet-cost', r.totals.fleet_cost, r.totals.fleet_cost_exact)}
${card('Charged to tenants', 'tenants-total', r.totals.tenants_total, r.totals.tenants_total_exact)}
${card('Unshared idle', 'unshared-idle', r.totals.unshared_idle, r.totals.unshared_idle_exact)}
<div class="card">Reconciliation<b id="reconciliation">$${esc(r.totals.reconciliation)}</b></div>
</div>
<p>${esc(idleNote)} Of all idle ($${esc(r.totals.idle_total)}), $${esc(r.totals.idle_with_model_resident)} was time a model sat loaded in GPU memory with no request.
${r.totals.on_demand_fallback_minutes ? `<br><b>Note:</b> ${r.totals.on_demand_fallback_minutes} node-minutes were priced at on-demand because no spot price was known.` : ''}
${r.totals.unpriced_minutes ? `<br><b>Note:</b> ${r.totals.unpriced_minutes} node-minutes had no price at all and are counted at $0.` : ''}
${r.totals.unattributed_requests ? `<br><b>Note:</b> ${r.totals.unattributed_requests} requests ran on nodes with no inventory or up-time and could not be priced.` : ''}</p>
<div class="charts">
${barChart(
  'Cost per tenant',
  r.tenants.map((t) => ({ label: t.tenant, value: Number(t.total_exact) })),
  'chart-tenants',
)}
${barChart('Cost per day (charged to tenants)', x.byDay, 'chart-days')}
${barChart('Cost per model (charged to tenants)', x.byModel, 'chart-models')}
</div>
<table id="tenants"><thead><tr><th>Tenant</th><th>Requests</th><th>Tokens</th><th>Cached tokens</th><th>GPU-hours</th><th>Usage</th><th>Idle share</th><th>Total</th><th>Exact</th><th>$ / 1M tokens</th><th>Measured by</th></tr></thead>
<tbody>
${tenantRows}
</tbody>
<tfoot><tr><td>All tenants</td><td colspan="6"></td><td>$${esc(r.totals.tenants_total)}</td><td class="exact">$${esc(r.totals.tenants_total_exact)}</td><td colspan="2"></td></tr>
<tr><td>Unshared idle</td><td colspan="6"></td><td>$${esc(r.totals.unshared_idle)}</td><td class="exact">$${esc(r.totals.unshared_idle_exact)}</td><td colspan="2"></td></tr>
<tr><td>Fleet cost (the bill)</td><td colspan="6"></td><td>$${esc(r.totals.fleet_cost)}</td><td class="exact">$${esc(r.totals.fleet_cost_exact)}</td><td colspan="2"></td></tr></tfoot>
</table>
<p class="muted">Totals are rounded to the cent so that they add up to the bill; "Exact" gives each to six decimals, rounded on its own.</p>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>Node</th><th>Pool</th><th>Instance type</th><th>Device-hours</th><th>Cost</th><th>Exact</th><th>Used</th><th>Idle</th><th>Idle, model resident</th><th>On-demand fallback min</th><th>Unpriced min</th></tr></thead>
<tbody>
${nodeRows}
</tbody></table>
<p class="muted">GPU-seconds are measured from each request's prompt-processing and generation time on its GPU ("measured"); where a server does not report them, from the request's wall-clock time ("wall_clock") or, last, by share of tokens ("tokens"). Concurrent requests are scaled so no GPU-second is charged twice. ${esc(String(r.totals.node_count))} node${r.totals.node_count === 1 ? '' : 's'}, ${r.totals.device_hours.toFixed(1)} device-hours.</p>
</body></html>
`;
}
