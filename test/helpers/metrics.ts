// Reading one metric the way a test asserts on it: from a prom-client registry (the collector's, a
// component's), or from the text a /metrics endpoint serves. Either way the value is the sum of the
// series whose labels include the ones asked for, so `{}` adds up every series of the metric.
import type { Registry } from 'prom-client';

export type Labels = Record<string, string>;

/** The value of `name` in `registry` over the series that carry `labels`; undefined when none does. */
export async function metricValue(registry: Registry, name: string, labels: Labels = {}): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)?.get();
  const series = (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x));
  return series.length === 0 ? undefined : series.reduce((sum, v) => sum + v.value, 0);
}

/** As metricValue(), reading a metric with no such series (a counter never incremented) as 0. */
export async function metric(registry: Registry, name: string, labels: Labels = {}): Promise<number> {
  return (await metricValue(registry, name, labels)) ?? 0;
}

/** The value of `name` in Prometheus text exposition over the series that carry `labels`; undefined when none does. */
export function textMetricValue(text: string, name: string, labels: Labels = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** textMetricValue() of what `url` (a /metrics endpoint) serves now. */
export async function servedMetricValue(url: string, name: string, labels: Labels = {}): Promise<number | undefined> {
  return textMetricValue(await (await fetch(url)).text(), name, labels);
}
