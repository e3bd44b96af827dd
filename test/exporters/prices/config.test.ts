// The `prices:` configuration section: defaults, strictness, and the price book's decimal rules.
import { describe, expect, it } from 'vitest';
import { pricesConfigSchema } from '../../../exporters/prices/config.ts';
import { dec, hoursInUnit, money, perHour } from '../../../exporters/prices/money.ts';

describe('prices config', () => {
  it('has defaults for every source and watcher, all off', () => {
    const c = pricesConfigSchema.parse({});
    expect(c.enabled).toBe(false);
    expect(c.sources.aws_spot).toMatchObject({
      enabled: false,
      endpoint: '',
      regions: ['us-east-1'],
      product_descriptions: ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'],
    });
    expect(c.sources.azure.endpoint).toBe('https://prices.azure.com/api/retail/prices');
    expect(c.sources.aws_on_demand.mode).toBe('table');
    expect(c.interruptions.aws_imds).toMatchObject({ enabled: false, endpoint: 'http://169.254.169.254', interval_ms: 5000, imdsv1_fallback: false });
  });

  it('refuses misspelt keys and float prices in the book', () => {
    expect(pricesConfigSchema.safeParse({ sources: { aws_spot: { regoins: [] } } }).success).toBe(false);
    const float = pricesConfigSchema.safeParse({ book: [{ instance_type: 'x', price: 0.1 }] });
    expect(float.success).toBe(false);
    expect(pricesConfigSchema.parse({ book: [{ instance_type: 'x', price: '0.1' }] }).book[0]).toMatchObject({
      price: '0.1',
      unit: 'hour',
      provider: 'book',
      capacity_type: 'on_demand',
    });
  });
});

describe('decimal prices', () => {
  it('normalises units exactly', () => {
    expect(money(perHour(dec('0.00076'), 'per second'))).toBe('2.736');
    expect(money(perHour(dec('25007'), '1 Year'))).toBe('2.854680365');
    expect(money(perHour(dec('0.1380000000'), 'Hrs'))).toBe('0.138');
    expect(money(perHour(dec('730'), '1/Month'))).toBe('1');
    expect(hoursInUnit('GB-Mo')).toBeUndefined();
    expect(() => perHour(dec('1'), 'GiBy.mo')).toThrow(/not a span of time/);
  });

  it('never takes a float path: 0.1 + 0.2 stays 0.3', () => {
    expect(money(dec(0.1).plus(dec(0.2)))).toBe('0.3');
    expect(() => dec('1e')).toThrow();
    expect(() => money(dec('1000000000'))).toThrow(/out of range/);
  });
});
