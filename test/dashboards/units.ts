// What a Grafana unit promises about the numbers a panel returns, as bounds the generated fleet's
// values must fall in. Tight enough to catch the usual slips: a percentage where Grafana expects a
// ratio (percentunit), milliseconds shown as seconds, MHz shown as Hz, Fahrenheit.

export const UNIT_BOUNDS: Readonly<Record<string, readonly [number, number]>> = {
  percentunit: [0, 1],
  celsius: [0, 120],
  watt: [0, 5_000],
  hertz: [1e8, 1e10],
  bytes: [0, 1e13],
  s: [0, 600],
  h: [0, 1_000],
  dtdurations: [0, 30 * 86_400],
  reqps: [0, 1e5],
  rowsps: [0, 1e9],
  'suffix: tok/s': [0, 1e6],
  currencyUSD: [0, 1e6],
  short: [0, 1e12],
  none: [0, 1e12],
};

/** Units of columns that hold times, not numbers. */
export const TIME_UNITS = new Set(['dateTimeAsIso']);
