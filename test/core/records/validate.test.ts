import { describe, expect, it } from 'vitest';
import { compileValidator, rowToObject, validatorFor, type Validation } from '../../../collector/core/records/validate.ts';
import { llmRequests, pricePoints, type TableDef } from '../../../collector/core/schema/tables.ts';
import { chTime } from '../../../collector/core/schema/columns.ts';

function obj(table: TableDef, v: Validation) {
  if (!v.ok) throw new Error(v.errors.join('; '));
  return rowToObject(table, v.row);
}

const good = {
  ts: '2026-11-01T10:00:00.250Z',
  request_id: 'r1',
  tenant: 'acme',
  model: 'llama3.2:3b',
  stream: true,
  input_tokens: 26,
  output_tokens: 298,
  ttft_ms: 120.5,
  duration_ms: 4021.25,
  load_duration_ns: 1_234_567_890_123,
};

describe('record validation at the collector edge', () => {
  const v = validatorFor('llm_request');

  it('normalises a good record: time as epoch milliseconds, defaults for absent optional fields', () => {
    const r = v(good);
    expect(r.ok).toBe(true);
    const row = obj(llmRequests, r);
    expect(row.ts).toBe(Date.UTC(2026, 10, 1, 10, 0, 0, 250));
    expect(row.load_duration_ns).toBe(1_234_567_890_123);
    expect(row.error).toBe('');
    expect(row.ttfb_ms).toBeNull();
    expect(row.cached_tokens).toBe(0);
    expect(r.ok && r.row).toHaveLength(Object.keys(llmRequests.columns).length);
  });

  it('accepts epoch milliseconds and ClickHouse time text as UTC', () => {
    const a = v({ ...good, ts: Date.UTC(2026, 10, 1, 10, 0, 0, 250) });
    const b = v({ ...good, ts: '2026-11-01 10:00:00.250' });
    expect(obj(llmRequests, a).ts).toBe(Date.UTC(2026, 10, 1, 10, 0, 0, 250));
    expect(obj(llmRequests, b).ts).toBe(Date.UTC(2026, 10, 1, 10, 0, 0, 250));
    // Sub-millisecond input is cut to the millisecond DateTime64(3) keeps.
    expect(obj(llmRequests, v({ ...good, ts: Date.UTC(2026, 10, 1, 10, 0, 0, 250) + 0.7 })).ts).toBe(Date.UTC(2026, 10, 1, 10, 0, 0, 250));
    // chTime (the text form queries use) caches second prefixes; they must not leak between seconds.
    expect(chTime(Date.UTC(2026, 10, 1, 10, 0, 1, 5))).toBe('2026-11-01 10:00:01.005');
    expect(chTime(Date.UTC(2026, 10, 1, 10, 0, 0, 999))).toBe('2026-11-01 10:00:00.999');
  });

  it('names every bad field and why', () => {
    const r = v({ ...good, tenant: undefined, input_tokens: -1, output_tokens: 1.5, stream: 'yes', ts: 1_700_000_000, api: 'grpc' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      expect.stringMatching(/^ts: time out of range .*epoch milliseconds expected/),
      'tenant: required',
      expect.stringMatching(/^api: expected one of ollama, openai, anthropic, otlp, other/),
      expect.stringMatching(/^stream: expected true or false, got string/),
      'input_tokens: out of range 0..4294967295: -1',
      'output_tokens: expected a non-negative integer, got 1.5',
    ]);
  });

  it('rejects non-objects', () => {
    for (const x of [null, 3, 'x', [good]]) {
      const r = v(x);
      expect(r.ok).toBe(false);
    }
  });

  it('keeps money exact as decimal strings and refuses floats', () => {
    const p = validatorFor('price_point');
    const base = { effective_from: '2026-11-01T00:00:00Z', provider: 'aws', instance_type: 'g5.xlarge', capacity_type: 'spot' };
    const ok = p({ ...base, usd_per_hour: '0.123456789' });
    expect(obj(pricePoints, ok).usd_per_hour).toBe('0.123456789');
    const bad = p({ ...base, usd_per_hour: 0.1 });
    expect(bad.ok).toBe(false);
    const tooPrecise = p({ ...base, usd_per_hour: '0.1234567891' });
    expect(tooPrecise.ok).toBe(false);
    const int = p({ ...base, usd_per_hour: 2 });
    expect(obj(pricePoints, int).usd_per_hour).toBe('2');
  });

  it('bounds strings and label maps', () => {
    const g = compileValidator(llmRequests);
    expect(g({ ...good, request_id: 'x'.repeat(129) }).ok).toBe(false);
    const n = validatorFor('node');
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(n({ ts: Date.now(), node: 'n1', labels: many }).ok).toBe(false);
    expect(n({ ts: Date.now(), node: 'n1', labels: { a: 1 } }).ok).toBe(false);
    expect(n({ ts: Date.now(), node: 'n1', labels: { a: 'b' } }).ok).toBe(true);
  });
});
