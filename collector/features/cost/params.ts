// Parsing and validating chargeback parameters, shared by the CLI and the HTTP API, so both refuse
// the same bad input with the same message.
import { LlmeterError } from '../../core/errors.ts';
import { GROUP_DIMS, type GroupDim, type IdlePolicy, type IdleScope } from './chargeback-sql.ts';
import type { ChargebackOptions } from './chargeback.ts';
import type { ReportFormat } from './formats.ts';

/** A chargeback parameter that is missing or malformed (the CLI's usage error, the API's 400). */
export class ParamError extends LlmeterError {
  constructor(message: string) {
    super(message, 'invalid_param');
  }
}

const IDLE: readonly IdlePolicy[] = ['separate', 'share-weighted', 'share-even'];
const SCOPES: readonly IdleScope[] = ['node', 'pool'];
const FORMATS: readonly ReportFormat[] = ['csv', 'json', 'html'];

export function parseTime(name: string, v: string | undefined): Date {
  if (!v) throw new ParamError(`${name}: required (ISO-8601 date or time, e.g. 2026-11-01 or 2026-11-01T00:00:00Z)`);
  // A bare date means midnight UTC, not local time.
  const d = new Date(/^\d{4}-\d\d-\d\d$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(d.getTime())) throw new ParamError(`${name}: not a date or time: ${JSON.stringify(v)}`);
  // The span records may carry (columns.ts): anything outside it holds no data and is out of the
  // store's DateTime range.
  if (d.getTime() < EARLIEST || d.getTime() > LATEST) throw new ParamError(`${name}: out of range: ${JSON.stringify(v)} (2000-01-01 to 2100-01-01)`);
  return d;
}

const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2100, 0, 1);

export interface RawParams {
  from?: string;
  to?: string;
  idle?: string;
  scope?: string;
  groupBy?: string;
  tenant?: string;
  format?: string;
  source?: string;
}

export interface ParsedParams {
  options: ChargebackOptions;
  format: ReportFormat;
}

const MAX_DAYS = 400;

export function parseChargebackParams(p: RawParams): ParsedParams {
  const from = parseTime('from', p.from);
  const to = parseTime('to', p.to);
  if (to <= from) throw new ParamError('to: must be after from');
  if (to.getTime() - from.getTime() > MAX_DAYS * 86_400_000) throw new ParamError(`to: a report covers at most ${MAX_DAYS} days`);
  const idle = (p.idle ?? 'separate') as IdlePolicy;
  if (!IDLE.includes(idle)) throw new ParamError(`idle: expected one of ${IDLE.join(', ')}, got ${JSON.stringify(p.idle)}`);
  const scope = (p.scope ?? 'node') as IdleScope;
  if (!SCOPES.includes(scope)) throw new ParamError(`scope: expected one of ${SCOPES.join(', ')}, got ${JSON.stringify(p.scope)}`);
  const groupBy = (p.groupBy ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as GroupDim[];
  for (const g of groupBy) if (!GROUP_DIMS.includes(g)) throw new ParamError(`group-by: expected some of ${GROUP_DIMS.join(', ')}, got ${JSON.stringify(g)}`);
  const format = (p.format ?? 'json') as ReportFormat;
  if (!FORMATS.includes(format)) throw new ParamError(`format: expected one of ${FORMATS.join(', ')}, got ${JSON.stringify(p.format)}`);
  const source = (p.source ?? 'rollup') as 'rollup' | 'raw';
  if (source !== 'rollup' && source !== 'raw') throw new ParamError(`source: expected rollup or raw`);
  const tenants = p.tenant
    ? p.tenant
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
  if (tenants?.some((t) => t.length > 256)) throw new ParamError('tenant: too long');
  return { options: { from, to, idle, scope, groupBy: [...new Set(groupBy)], tenants, source }, format };
}
