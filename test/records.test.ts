import { describe, expect, it } from 'vitest';
import { compileValidator, validatorFor } from '../collector/records/validate.ts';
import { llmRequests } from '../collector/schema/tables.ts';

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

  it('normalises a good record: UTC time text, defaults for absent optional fields', () => {
    const r = v(good);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.row.ts).toBe('2026-11-01 10:00:00.250');
    expect(r.row.load_duration_ns).toBe(1_234_567_890_123);
    expect(r.row.error).toBe('');
    expect(r.row.ttfb_ms).toBeNull();
    expect(r.row.cached_tokens).toBe(0);
    expect(Object.keys(r.row)).toEqual(Object.keys(llmRequests.columns));
  });

  it('accepts epoch milliseconds and ClickHouse time text as UTC', () => {
    const a = v({ ...good, ts: Date.UTC(2026, 10, 1, 10, 0, 0, 250) });
    const b = v({ ...good, ts: '2026-11-01 10:00:00.250' });
    expect(a.ok && a.row.ts).toBe('2026-11-01 10:00:00.250');
    expect(b.ok && b.row.ts).toBe('2026-11-01 10:00:00.250');
  });

  it('names every bad field and why', () => {
    const r = v({ ...good, tenant: undefined, input_tokens: -1, output_tokens: 1.5, stream: 'yes', ts: 1_700_000_000, api: 'grpc' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      expect.stringMatching(/^ts: time out of range .*epoch milliseconds expected/),
      'tenant: required',
      expect.stringMatching(/^api: expected one of ollama, openai, otlp, other/),
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
    expect(ok.ok && ok.row.usd_per_hour).toBe('0.123456789');
    const bad = p({ ...base, usd_per_hour: 0.1 });
    expect(bad.ok).toBe(false);
    const tooPrecise = p({ ...base, usd_per_hour: '0.1234567891' });
    expect(tooPrecise.ok).toBe(false);
    const int = p({ ...base, usd_per_hour: 2 });
    expect(int.ok && int.row.usd_per_hour).toBe('2');
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
