// Units: what a dcgm-exporter page says a value is in, and the one unit each field is stored in.
// A HELP text that names one unit wins ("(in MHz)", "(in mJ)", "Ratio of…"), then a unit suffix in
// the metric name (`_hertz`, `_joules`…), then the field table's default. That order follows
// exporters that changed a field's unit without changing its name; a HELP text that names two
// units is settled by the field's known unit (see sourceUnitOf).

/** Units as stored in gpu_metrics.unit. */
export type StoredUnit =
  'hz' | 'celsius' | 'watts' | 'joules' | 'ratio' | 'bytes' | 'bytes_per_second' | 'seconds' | 'count' | 'xid' | 'state' | 'bitmask' | 'bool' | '';

/** Units a page may report a value in. */
export type SourceUnit =
  | 'MHz'
  | 'kHz'
  | 'Hz'
  | 'C'
  | 'W'
  | 'mW'
  | 'mJ'
  | 'J'
  | '%'
  | 'ratio'
  | 'MiB'
  | 'KiB'
  | 'B'
  | 'KB/s'
  | 'B/s'
  | 'MB/s'
  | 'us'
  | 'ns'
  | 'ms'
  | 's'
  | 'count'
  | 'xid'
  | 'state'
  | 'bitmask'
  | 'bool'
  | 'none';

/** Multiplier from a source unit to its stored unit, and the stored unit. */
export const CONVERSIONS: Readonly<Record<SourceUnit, readonly [StoredUnit, number]>> = {
  MHz: ['hz', 1e6],
  kHz: ['hz', 1e3],
  Hz: ['hz', 1],
  C: ['celsius', 1],
  W: ['watts', 1],
  mW: ['watts', 1e-3],
  mJ: ['joules', 1e-3],
  J: ['joules', 1],
  '%': ['ratio', 0.01],
  ratio: ['ratio', 1],
  MiB: ['bytes', 1024 * 1024],
  KiB: ['bytes', 1024],
  B: ['bytes', 1],
  // NVML's PCIe throughput is in KB (1024 bytes) per second.
  'KB/s': ['bytes_per_second', 1024],
  'MB/s': ['bytes_per_second', 1024 * 1024],
  'B/s': ['bytes_per_second', 1],
  us: ['seconds', 1e-6],
  ns: ['seconds', 1e-9],
  ms: ['seconds', 1e-3],
  s: ['seconds', 1],
  count: ['count', 1],
  xid: ['xid', 1],
  state: ['state', 1],
  bitmask: ['bitmask', 1],
  bool: ['bool', 1],
  none: ['', 1],
};

// "(in MHz)", "(in %)", "in bytes per second"… as written in dcgm-exporter's CSVs over the versions.
const HELP_PATTERNS: readonly [RegExp, SourceUnit][] = [
  [/\bratio\b|\bfraction\b|\(0-1\)|\[0,\s*1\]/i, 'ratio'],
  [/\(in MHz\)/i, 'MHz'],
  [/\(in kHz\)/i, 'kHz'],
  [/\(in Hz\)/i, 'Hz'],
  [/\(in mJ\)/, 'mJ'],
  [/\(in J\)/, 'J'],
  [/\(in mW\)/, 'mW'],
  [/\(in W\)/, 'W'],
  [/\(in C\)|degrees C\b/, 'C'],
  [/\(in %\)|in percent|percent 0-100/i, '%'],
  [/\(in MiB\)|\(in MB\)/, 'MiB'],
  [/\(in KiB\)/, 'KiB'],
  [/\(in KB\)/, 'KB/s'],
  [/\(in B\)|\(in bytes\)/i, 'B'],
  [/bytes per second|\(in B\/s\)/i, 'B/s'],
  [/\(in us\)|microseconds/i, 'us'],
  [/\(in ns\)|nanoseconds/i, 'ns'],
  [/\(in ms\)|milliseconds/i, 'ms'],
  [/\(in s\)|\(in seconds\)/i, 's'],
];

/** Every unit a HELP text names, in the order of the patterns above. */
export function unitsFromHelp(help: string | undefined): SourceUnit[] {
  if (!help) return [];
  const out: SourceUnit[] = [];
  for (const [re, unit] of HELP_PATTERNS) if (re.test(help)) out.push(unit);
  return out;
}

/**
 * The unit a page's values are in. A HELP text that names one unit decides: exporters changed
 * some fields' units (violation times from µs to ns) and said so there. A HELP text that names two
 * cannot decide: "Ratio of time the decoder is active (in %)" heads 0-100 values on 4.x, while 1.x
 * wrote "Ratio of … (in %)" over 0-1 values for the DCP fields. Then the field's known unit (from a
 * unit suffix in the name, else the field table) is taken when the text names it too, and a field
 * with no known unit is stored as read, without one — never scaled by a guess. No HELP text: the
 * known unit.
 */
export function sourceUnitOf(help: string | undefined, known: SourceUnit): SourceUnit {
  const named = unitsFromHelp(help);
  if (named.length === 1) return named[0]!;
  if (named.length === 0) return known;
  return named.includes(known) ? known : 'none';
}

/** Unit suffixes of renamed metrics (`…_hertz`), longest first. */
export const NAME_SUFFIX_UNITS: readonly [string, SourceUnit][] = [
  ['_bytes_per_second', 'B/s'],
  ['_megahertz', 'MHz'],
  ['_hertz', 'Hz'],
  ['_millijoules', 'mJ'],
  ['_joules', 'J'],
  ['_milliwatts', 'mW'],
  ['_watts', 'W'],
  ['_celsius', 'C'],
  ['_percent', '%'],
  ['_ratio', 'ratio'],
  ['_mebibytes', 'MiB'],
  ['_bytes', 'B'],
  ['_microseconds', 'us'],
  ['_nanoseconds', 'ns'],
  ['_seconds', 's'],
];

/**
 * DCGM reports "no value" as sentinels near the top of each type's range (DCGM_INT32_BLANK
 * 0x7ffffff0…, DCGM_INT64_BLANK 0x7ffffffffffffff0…, DCGM_FP64_BLANK 2^47…), never as a reading.
 */
export function isBlankSentinel(v: number): boolean {
  if (v >= 9.2233720368547e18) return true;
  if (v >= 2147483632 && v <= 2147483647 && Number.isInteger(v)) return true;
  if (v >= 140737488355328 && v <= 140737488355335) return true;
  return false;
}
