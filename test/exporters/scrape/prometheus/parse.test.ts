import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { familyOf, LabelCache, parsePrometheusText, parseValue } from '../../../../exporters/scrape/prometheus/parse.ts';
import { FIXTURES } from '../../../helpers/paths.ts';

describe('Prometheus text parser', () => {
  it('reads HELP and TYPE, labels, values and timestamps', () => {
    const p = parsePrometheusText(
      [
        '# HELP http_requests_total The total number of HTTP requests.',
        '# TYPE http_requests_total counter',
        'http_requests_total{method="post",code="200"} 1027 1395066363000',
        'http_requests_total{method="post",code="400"}    3 1395066363000',
        'metric_without_timestamp_and_labels 12.47',
        '# A normal comment',
        '',
        'something_weird{problem="division by zero"} +Inf -3982045',
        'neg{a="b"} -Inf',
        'nan_value NaN',
      ].join('\n'),
    );
    expect(p.invalidLines).toBe(0);
    expect(p.types.get('http_requests_total')).toBe('counter');
    expect(p.help.get('http_requests_total')).toBe('The total number of HTTP requests.');
    expect(p.samples).toHaveLength(6);
    expect(p.samples[0]).toEqual({ name: 'http_requests_total', labels: { method: 'post', code: '200' }, value: 1027, timestamp: 1395066363000 });
    expect(p.samples[1]!.value).toBe(3);
    expect(p.samples[2]).toEqual({ name: 'metric_without_timestamp_and_labels', labels: {}, value: 12.47 });
    expect(p.samples[3]!.value).toBe(Number.POSITIVE_INFINITY);
    expect(p.samples[3]!.timestamp).toBe(-3982045);
    expect(p.samples[4]!.value).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(p.samples[5]!.value)).toBe(true);
  });

  it('unescapes label values and HELP text', () => {
    const p = parsePrometheusText(
      [
        '# HELP msdos_file_access_time_seconds Access time with \\\\ and a \\n newline.',
        'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
        'brace{v="a}b",w="x"} 1',
      ].join('\n'),
    );
    expect(p.invalidLines).toBe(0);
    expect(p.help.get('msdos_file_access_time_seconds')).toBe('Access time with \\ and a \n newline.');
    expect(p.samples[0]!.labels).toEqual({ path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    expect(p.samples[0]!.value).toBe(1458255915);
    expect(p.samples[1]!.labels).toEqual({ v: 'a}b', w: 'x' });
  });

  it('tolerates exemplars, OpenMetrics EOF, CRLF, spaces and trailing commas in label sets, quoted names', () => {
    const p = parsePrometheusText(
      [
        'foo_bucket{le="0.01"} 0 # {trace_id="KOO5S4vxi0o"} 0.67',
        'foo_bucket{le="+Inf"} 17 1520879607.789 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789',
        'spaced{gpu="0", UUID="GPU-1" ,} 139\r',
        '{"my.dotted.metric", env="prod"} 5',
        '# EOF',
      ].join('\n'),
    );
    expect(p.invalidLines).toBe(0);
    expect(p.samples.map((s) => s.value)).toEqual([0, 17, 139, 5]);
    expect(p.samples[1]!.timestamp).toBe(1520879607.789);
    expect(p.samples[2]!.labels).toEqual({ gpu: '0', UUID: 'GPU-1' });
    expect(p.samples[3]).toEqual({ name: 'my.dotted.metric', labels: { env: 'prod' }, value: 5 });
  });

  it('skips and counts lines that are not samples, keeping every good sample around them', () => {
    const p = parsePrometheusText(
      [
        'good_one 1',
        '...',
        'bad_value{a="b"} twelve',
        'unterminated{a="b} 3',
        'no_value{a="b"}',
        'good_two{a="b"} 2',
        '{a="b"} 9',
        'trailing{a="b"} 1 123 extra',
        'good_three 3',
      ].join('\n'),
      { maxErrors: 3 },
    );
    expect(p.samples.map((s) => s.name)).toEqual(['good_one', 'good_two', 'good_three']);
    expect(p.invalidLines).toBe(6);
    expect(p.errors).toHaveLength(3);
    expect(p.errors[0]).toMatchObject({ line: 2, text: '...' });
    expect(p.errors[1]!.reason).toContain('bad value');
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const p = parsePrometheusText(s);
        expect(p.samples.length + p.invalidLines).toBeLessThanOrEqual(s.split('\n').length);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips any label value through escaping, with and without the label cache', () => {
    const cache = new LabelCache();
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.double({ noNaN: true }), (v, x) => {
        const esc = v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
        const line = `m{k="${esc}",z="1"} ${x}\n`;
        for (const opts of [{}, { cache }, { cache }]) {
          const p = parsePrometheusText(line, opts);
          expect(p.invalidLines).toBe(0);
          expect(p.samples[0]!.labels).toEqual({ k: v, z: '1' });
          expect(p.samples[0]!.value).toBe(Number(String(x)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('shares parsed label sets between pages through the cache', () => {
    const cache = new LabelCache();
    const a = parsePrometheusText('x{gpu="0"} 1\n', { cache });
    const b = parsePrometheusText('x{gpu="0"} 2\ny{gpu="0"} 3\n', { cache });
    expect(b.samples[0]!.labels).toBe(a.samples[0]!.labels);
    expect(b.samples[1]!.labels).toBe(a.samples[0]!.labels);
    expect(Object.isFrozen(a.samples[0]!.labels)).toBe(true);
  });

  it('gives each series its own labels through the cache when pages reorder, add or drop series', () => {
    // The cache follows the previous page's order; a page that differs must still read right.
    const cache = new LabelCache(8);
    fc.assert(
      fc.property(fc.array(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), { maxLength: 12 }), (gpus) => {
        const page = gpus.map((g, i) => `m{gpu="${g}",UUID="GPU-${g}"} ${i}\n`).join('');
        const p = parsePrometheusText(page, { cache });
        expect(p.samples.map((s) => s.labels)).toEqual(gpus.map((g) => ({ gpu: g, UUID: `GPU-${g}` })));
      }),
      { numRuns: 500 },
    );
  });

  it('parses values like Go does', () => {
    expect(parseValue('300.000000')).toBe(300);
    expect(parseValue('1.048576e+06')).toBe(1048576);
    expect(parseValue('9223372036854775794')).toBe(Number('9223372036854775794'));
    expect(parseValue('-0')).toBe(-0);
    expect(parseValue('+Inf')).toBe(Infinity);
    expect(parseValue('inf')).toBe(Infinity);
  });

  it('finds the family of histogram and counter samples', () => {
    const types = new Map([
      ['h', 'histogram' as const],
      ['c', 'counter' as const],
    ]);
    expect(familyOf('h_bucket', types)).toBe('h');
    expect(familyOf('h_sum', types)).toBe('h');
    expect(familyOf('c_total', types)).toBe('c');
    expect(familyOf('other_total', types)).toBe('other_total');
  });

  it('reads every shared fixture page, counting exactly the literal "..." lines as invalid', () => {
    for (const dir of ['dcgm', 'vllm']) {
      for (const f of readdirSync(path.join(FIXTURES, dir)).filter((x) => x.endsWith('.prom'))) {
        const text = readFileSync(path.join(FIXTURES, dir, f), 'utf8');
        const p = parsePrometheusText(text);
        const lines = text.split('\n').map((l) => l.trim());
        const dots = lines.filter((l) => l === '...').length;
        const sampleLines = lines.filter((l) => l && !l.startsWith('#') && l !== '...').length;
        expect(p.invalidLines, f).toBe(dots);
        expect(p.samples.length, f).toBe(sampleLines);
      }
    }
  });
});
