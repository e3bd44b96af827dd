// Produces a chargeback in the asked format; the HTML page also gets per-day and per-model totals.
import type { Store } from '../../core/store/store.ts';
import { chargeback, type ChargebackOptions, type ChargebackReport } from './chargeback.ts';
import { toCsv, toHtml, toJson, type ReportFormat } from './formats.ts';

export interface Rendered {
  report: ChargebackReport;
  body: string;
  contentType: string;
}

function totalsBy(r: ChargebackReport, dim: string): { label: string; value: number }[] {
  const m = new Map<string, number>();
  for (const t of r.tenants) for (const g of t.groups) m.set(g.dims[dim]!, (m.get(g.dims[dim]!) ?? 0) + Number(g.total_exact));
  return [...m].map(([label, value]) => ({ label, value })).sort((a, b) => a.label.localeCompare(b.label));
}

export async function renderChargeback(store: Store, o: ChargebackOptions, format: ReportFormat): Promise<Rendered> {
  const report = await chargeback(store, o);
  if (format === 'csv') return { report, body: toCsv(report), contentType: 'text/csv; charset=utf-8' };
  if (format === 'json') return { report, body: toJson(report), contentType: 'application/json; charset=utf-8' };
  const [byDay, byModel] = await Promise.all([chargeback(store, { ...o, groupBy: ['day'] }), chargeback(store, { ...o, groupBy: ['model'] })]);
  return {
    report,
    body: toHtml(report, { byDay: totalsBy(byDay, 'day'), byModel: totalsBy(byModel, 'model'), generatedAt: new Date() }),
    contentType: 'text/html; charset=utf-8',
  };
}
