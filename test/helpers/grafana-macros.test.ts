// The macro expansion the panel tests rely on produces what Grafana and the ClickHouse plugin send.
import { describe, expect, it } from 'vitest';
import { expandMacros, type ExpandOptions } from './grafana-macros.ts';

const FROM = Date.parse('2026-03-02T00:00:00Z');
const TO = Date.parse('2026-03-02T08:00:00.250Z');
const base: ExpandOptions = {
  fromMs: FROM,
  toMs: TO,
  intervalMs: 300_000,
  variables: { tenant: ['acme', "o'brien"], model: 'all', budget: '10000' },
  options: { model: ['a', 'b'] },
};

describe('Grafana / ClickHouse plugin macro expansion', () => {
  it('time filters, time bounds and intervals in Unix seconds (ms for the _ms forms)', () => {
    expect(expandMacros('WHERE $__timeFilter(ts)', base)).toBe(`WHERE ts >= toDateTime(${FROM / 1000}) AND ts <= toDateTime(${Math.floor(TO / 1000)})`);
    expect(expandMacros('WHERE $__timeFilter_ms(ts)', base)).toBe(`WHERE ts >= fromUnixTimestamp64Milli(${FROM}) AND ts <= fromUnixTimestamp64Milli(${TO})`);
    expect(expandMacros('$__dateFilter(d)', base)).toBe("d >= toDate('2026-03-02') AND d <= toDate('2026-03-02')");
    expect(expandMacros('SELECT $__timeInterval(ts) AS time, count() / $__interval_s', base)).toBe(
      'SELECT toStartOfInterval(toDateTime(ts), INTERVAL 300 second) AS time, count() / 300',
    );
    expect(expandMacros('$__timeInterval_ms(ts)', base)).toBe('toStartOfInterval(toDateTime64(ts, 3), INTERVAL 300000 millisecond)');
    expect(expandMacros('$__fromTime, $__toTime, $__toTime_ms', base)).toBe(
      `toDateTime(${FROM / 1000}), toDateTime(${Math.floor(TO / 1000)}), fromUnixTimestamp64Milli(${TO})`,
    );
  });

  it('variables: multi-value quoted and escaped, All as every option, textbox as text', () => {
    expect(expandMacros('tenant IN (${tenant})', base)).toBe("tenant IN ('acme','o\\'brien')");
    expect(expandMacros('model IN ($model)', base)).toBe("model IN ('a','b')");
    expect(expandMacros('SELECT $budget', base)).toBe('SELECT 10000');
  });

  it('$__conditionalAll: the condition unless the variable is at All, nested parentheses kept', () => {
    expect(expandMacros('$__conditionalAll(model IN (${model}), $model)', base)).toBe('1=1');
    expect(expandMacros('$__conditionalAll(node IN (SELECT node FROM nodes WHERE tenant IN (${tenant})), $tenant)', base)).toBe(
      "node IN (SELECT node FROM nodes WHERE tenant IN ('acme','o\\'brien'))",
    );
  });

  it('refuses unknown macros and variables, as the plugin does', () => {
    expect(() => expandMacros('$__timeGroup(ts)', base)).toThrow(/not expanded/);
    expect(() => expandMacros('$pool', base)).toThrow(/unknown template variable/);
  });
});
