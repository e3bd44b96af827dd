// The receivers' small parts on their own: config defaults, the rate limiter, OTLP time and id
// conversions, and the GenAI span test.
import { describe, expect, it } from 'vitest';
import { receiversConfigSchema } from '../../../collector/features/receivers/config.ts';
import { isGenAiSpan, tenantOf } from '../../../collector/features/receivers/otlp/genai.ts';
import { idHex, nanosToMs, type Span } from '../../../collector/features/receivers/otlp/spans.ts';
import { RateLimiter } from '../../../collector/features/receivers/rate-limit.ts';

const span = (attributes: Span['attributes'], resource: Span['attributes'] = {}): Span => ({
  traceId: 'a'.repeat(32),
  spanId: 'b'.repeat(16),
  parentSpanId: '',
  name: 's',
  kind: 1,
  startMs: 0,
  endMs: 1,
  attributes,
  statusCode: 0,
  statusMessage: '',
  resource,
  scope: '',
});

describe('receivers config', () => {
  it('is off by default and refuses misspelt keys and bad digests', () => {
    const c = receiversConfigSchema.parse({});
    expect(c.faro.enabled).toBe(false);
    expect(c.otlp.enabled).toBe(false);
    expect(c.faro.path).toBe('/faro/collect');
    expect(() => receiversConfigSchema.parse({ faro: { enabeld: true } })).toThrow(/enabeld/);
    expect(() => receiversConfigSchema.parse({ faro: { apps: [{ name: 'a', tenant: 't', api_keys: ['plain-key'] }] } })).toThrow(/sha256/);
    expect(() => receiversConfigSchema.parse({ faro: { allowed_origins: ['https://a.example/path'] } })).toThrow(/no path/);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then refills at the rate, with a whole-second Retry-After', () => {
    let now = 0;
    const r = new RateLimiter(2, 3, () => now);
    expect([1, 2, 3, 4].map(() => r.take('a').allowed)).toEqual([true, true, true, false]);
    expect(r.take('a').retryAfterS).toBe(1);
    expect(r.take('b').allowed).toBe(true);
    now = 500;
    expect(r.take('a').allowed).toBe(true);
    expect(r.take('a').allowed).toBe(false);
  });
});

describe('OTLP conversions', () => {
  it('turns nanoseconds into milliseconds without losing precision', () => {
    expect(nanosToMs('1769940001500500000')).toBe(1769940001500.5);
    expect(nanosToMs(1769940001500500000n)).toBe(1769940001500.5);
    // 1769940012250000000 as a protobuf Long.
    const n = 1769940012250000000n;
    expect(nanosToMs({ low: Number(n & 0xffffffffn) | 0, high: Number(n >> 32n) })).toBe(1769940012250);
    expect(nanosToMs(undefined)).toBe(0);
  });

  it('reads hex and base64 ids', () => {
    expect(idHex('5B8EFFF798038103D269B633813FC60C')).toBe('5b8efff798038103d269b633813fc60c');
    expect(idHex(Buffer.from('5b8efff798038103d269b633813fc60c', 'hex').toString('base64'))).toBe('5b8efff798038103d269b633813fc60c');
    expect(idHex('')).toBe('');
  });

  it('knows a GenAI span, and takes the tenant from the resource before the header', () => {
    expect(isGenAiSpan(span({ 'gen_ai.system': 'openai' }))).toBe(true);
    expect(isGenAiSpan(span({ 'http.request.method': 'GET' }))).toBe(false);
    const src = { attribute: 'tenant.id', header: 'from-header', fallback: 'fallback' };
    expect(tenantOf(span({}, { 'tenant.id': 'acme' }), src)).toBe('acme');
    expect(tenantOf(span({ 'tenant.id': 'span-level' }), src)).toBe('span-level');
    expect(tenantOf(span({}), src)).toBe('from-header');
    expect(tenantOf(span({}), { ...src, header: undefined })).toBe('fallback');
  });
});
