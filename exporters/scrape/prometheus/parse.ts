// A fast, forgiving parser for the Prometheus text exposition format (0.0.4), tolerant of the
// OpenMetrics additions seen on real pages: exemplars, timestamps, `# EOF`, quoted metric names.
// A line it cannot read is skipped and counted, never thrown: one bad line must not cost the page.
//
// Speed comes from scanning char codes instead of regular expressions, and from a per-target cache
// of parsed label sets keyed by their raw text: the same series repeat on every scrape, so after the
// first scrape a label set costs one substring and one Map lookup.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped' | 'info' | 'stateset' | 'gaugehistogram' | 'unknown';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
  /** Explicit timestamp as written on the line (milliseconds in 0.0.4), absent when none. */
  readonly timestamp?: number;
}

export interface ParseError {
  /** 1-based line number. */
  readonly line: number;
  readonly reason: string;
  /** The start of the offending line. */
  readonly text: string;
}

export interface ParsedPage {
  readonly samples: Sample[];
  /** Family name → declared type (`# TYPE`). */
  readonly types: Map<string, MetricType>;
  /** Family name → help text, unescaped (`# HELP`). */
  readonly help: Map<string, string>;
  /** Lines that are neither comments, blank, nor readable samples (counted, skipped). */
  readonly invalidLines: number;
  /** The first few invalid lines, for the log and the target's last error. */
  readonly errors: ParseError[];
}

export interface ParseOptions {
  /** Reuse parsed label sets across pages of the same target. */
  cache?: LabelCache;
  /** How many invalid lines to describe in `errors` (all are counted). Default 10. */
  maxErrors?: number;
}

const EMPTY_LABELS: Labels = Object.freeze({});

/**
 * Parsed label sets by their raw text between the braces; bounded, cleared when full. A target serves
 * its series in the same order on every scrape, so the sets are also kept in the order the last page
 * had them: comparing the raw text with the one expected next is cheaper than hashing it for the Map,
 * which is only asked when the order differs.
 */
export class LabelCache {
  private map = new Map<string, Labels>();
  private readonly max: number;
  private orderRaw: string[] = [];
  private orderLabels: Labels[] = [];
  private next = 0;
  constructor(max = 200_000) {
    this.max = max;
  }
  /** The parser calls this at the start of each page. */
  startPage(): void {
    this.next = 0;
  }
  get(raw: string): Labels | undefined {
    const i = this.next;
    if (i < this.orderRaw.length && this.orderRaw[i] === raw) {
      this.next = i + 1;
      return this.orderLabels[i];
    }
    const hit = this.map.get(raw);
    if (hit !== undefined) this.remember(raw, hit);
    return hit;
  }
  set(raw: string, labels: Labels): void {
    if (this.map.size >= this.max) this.map = new Map();
    this.map.set(raw, labels);
    this.remember(raw, labels);
  }
  private remember(raw: string, labels: Labels): void {
    const i = this.next;
    if (i >= this.max) return;
    this.orderRaw[i] = raw;
    this.orderLabels[i] = labels;
    this.next = i + 1;
  }
  get size(): number {
    return this.map.size;
  }
}

const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped', 'info', 'stateset', 'gaugehistogram', 'unknown']);

// Char codes.
const CR = 13,
  SP = 32,
  TAB = 9,
  HASH = 35,
  LBRACE = 123,
  RBRACE = 125,
  QUOTE = 34,
  BSLASH = 92,
  COMMA = 44,
  EQ = 61;

function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58;
}
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 58;
}

class LineError {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

/** Parses a float the way Go's strconv.ParseFloat does for exposition values (NaN, ±Inf too). */
export function parseValue(s: string): number {
  if (s.length === 0) return Number.NaN;
  const c = s.charCodeAt(0);
  // Fast path: plain decimal integers, the most common value on DCGM pages.
  if (s.length < 16 && c >= 48 && c <= 57) {
    let n = 0;
    let i = 0;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === s.length) return n;
  }
  const n = Number(s);
  if (!Number.isNaN(n)) return n;
  const lower = s.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === '+inf' || lower === 'inf' || lower === '+infinity' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  return Number.NaN;
}

function isValidNumber(s: string): boolean {
  if (s.length === 0) return false;
  if (!Number.isNaN(Number(s))) return true;
  const lower = s.toLowerCase();
  return lower === 'nan' || lower === '+inf' || lower === 'inf' || lower === '-inf' || lower === '+infinity' || lower === 'infinity' || lower === '-infinity';
}

function unescapeLabel(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== BSLASH || i + 1 >= raw.length) {
      out += raw[i];
      continue;
    }
    const n = raw[++i];
    out += n === 'n' ? '\n' : n === '\\' ? '\\' : n === '"' ? '"' : '\\' + n;
  }
  return out;
}

function unescapeHelp(raw: string): string {
  if (raw.indexOf('\\') < 0) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== BSLASH || i + 1 >= raw.length) {
      out += raw[i];
      continue;
    }
    const n = raw[++i];
    out += n === 'n' ? '\n' : n === '\\' ? '\\' : '\\' + n;
  }
  return out;
}

// Index just past the closing quote of the last readQuoted call (saves a tuple per label).
let quotedEnd = 0;
// Whether the page being parsed contains any backslash: without one, no value needs unescaping and
// the closing quote is simply the next quote.
let pageHasBackslash = true;

/** Reads a quoted string starting at `i` (on the opening quote); sets `quotedEnd`. */
function readQuoted(text: string, i: number, end: number): string {
  if (!pageHasBackslash) {
    const q = text.indexOf('"', i + 1);
    if (q < 0 || q >= end) throw new LineError('unterminated label value');
    quotedEnd = q + 1;
    return text.slice(i + 1, q);
  }
  let j = i + 1;
  let escaped = false;
  while (j < end) {
    const c = text.charCodeAt(j);
    if (c === BSLASH) {
      escaped = true;
      j += 2;
      continue;
    }
    if (c === QUOTE) break;
    j++;
  }
  if (j >= end) throw new LineError('unterminated label value');
  const raw = text.slice(i + 1, j);
  quotedEnd = j + 1;
  return escaped ? unescapeLabel(raw) : raw;
}

interface LabelParse {
  labels: Labels;
  /** A metric name given inside the braces (`{"my.metric", a="b"}`), if any. */
  name?: string;
  /** Index just past the closing brace. */
  next: number;
}

// Label names seen at each position of the previous label set (see parseLabelSet).
const keyHints: string[] = [];

function parseLabelSet(text: string, open: number, end: number): LabelParse {
  const labels: Record<string, string> = {};
  let name: string | undefined;
  let i = open + 1;
  let slot = 0;
  for (;;) {
    while (i < end && (text.charCodeAt(i) === SP || text.charCodeAt(i) === TAB)) i++;
    if (i >= end) throw new LineError('unterminated label set');
    let c = text.charCodeAt(i);
    if (c === RBRACE) return { labels, name, next: i + 1 };
    let key: string;
    if (c === QUOTE) {
      const q = readQuoted(text, i, end);
      i = quotedEnd;
      while (i < end && text.charCodeAt(i) === SP) i++;
      c = text.charCodeAt(i);
      if (c === COMMA || c === RBRACE) {
        if (name !== undefined) throw new LineError('two metric names in one label set');
        name = q;
        if (c === COMMA) i++;
        continue;
      }
      key = q;
    } else {
      // Lines of a page repeat the same label names in the same order: reuse the name read at this
      // position on the previous line when the text matches, which spares slicing a new string and
      // V8 interning it as a property key on every label.
      const hint = keyHints[slot];
      if (hint !== undefined && text.startsWith(hint, i) && !isNameChar(text.charCodeAt(i + hint.length))) {
        key = hint;
        i += hint.length;
      } else {
        if (!isNameStart(c)) throw new LineError(`bad label name at column ${i - open}`);
        const s = i;
        while (i < end && isNameChar(text.charCodeAt(i))) i++;
        key = text.slice(s, i);
        if (slot < 64) keyHints[slot] = key;
      }
      slot++;
    }
    while (i < end && text.charCodeAt(i) === SP) i++;
    if (text.charCodeAt(i) !== EQ) throw new LineError(`expected = after label ${key}`);
    i++;
    while (i < end && text.charCodeAt(i) === SP) i++;
    if (text.charCodeAt(i) !== QUOTE) throw new LineError(`expected a quoted value for label ${key}`);
    labels[key] = readQuoted(text, i, end);
    i = quotedEnd;
    while (i < end && text.charCodeAt(i) === SP) i++;
    c = text.charCodeAt(i);
    if (c === COMMA) {
      i++;
      continue;
    }
    if (c === RBRACE) return { labels, name, next: i + 1 };
    throw new LineError(`expected , or } after label ${key}`);
  }
}

function handleComment(text: string, start: number, end: number, types: Map<string, MetricType>, help: Map<string, string>): void {
  // "# HELP name text" / "# TYPE name type"; anything else is a plain comment.
  let i = start + 1;
  while (i < end && text.charCodeAt(i) === SP) i++;
  const kwEnd = text.indexOf(' ', i);
  if (kwEnd < 0 || kwEnd >= end) return;
  const kw = text.slice(i, kwEnd);
  if (kw !== 'HELP' && kw !== 'TYPE') return;
  let n = kwEnd + 1;
  while (n < end && text.charCodeAt(n) === SP) n++;
  let nameEnd = n;
  while (nameEnd < end && text.charCodeAt(nameEnd) !== SP && text.charCodeAt(nameEnd) !== TAB) nameEnd++;
  const name = text.slice(n, nameEnd);
  if (!name) return;
  const rest = nameEnd < end ? text.slice(nameEnd + 1, end) : '';
  if (kw === 'HELP') help.set(name, unescapeHelp(rest.trim()));
  else {
    const t = rest.trim().toLowerCase();
    if (TYPES.has(t)) types.set(name, t as MetricType);
  }
}

/** Parses one exposition page. Never throws on malformed content. */
export function parsePrometheusText(text: string, opts: ParseOptions = {}): ParsedPage {
  const cache = opts.cache;
  const maxErrors = opts.maxErrors ?? 10;
  const samples: Sample[] = [];
  const types = new Map<string, MetricType>();
  const help = new Map<string, string>();
  const errors: ParseError[] = [];
  let invalid = 0;
  let lineNo = 0;
  pageHasBackslash = text.indexOf('\\') >= 0;
  cache?.startPage();
  const len = text.length;
  let pos = 0;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    lineNo++;
    let start = pos;
    let end = nl;
    pos = nl + 1;
    if (end > start && text.charCodeAt(end - 1) === CR) end--;
    while (start < end && (text.charCodeAt(start) === SP || text.charCodeAt(start) === TAB)) start++;
    if (start >= end) continue;
    const first = text.charCodeAt(start);
    if (first === HASH) {
      handleComment(text, start, end, types, help);
      continue;
    }
    try {
      samples.push(parseSampleLine(text, start, end, cache));
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      invalid++;
      if (errors.length < maxErrors) errors.push({ line: lineNo, reason: err.reason, text: text.slice(start, Math.min(end, start + 120)) });
    }
  }
  return { samples, types, help, invalidLines: invalid, errors };
}

function parseSampleLine(text: string, start: number, end: number, cache: LabelCache | undefined): Sample {
  let i = start;
  let name = '';
  const c0 = text.charCodeAt(i);
  if (isNameStart(c0)) {
    while (i < end && isNameChar(text.charCodeAt(i))) i++;
    name = text.slice(start, i);
  } else if (c0 !== LBRACE) {
    throw new LineError('not a sample: no metric name');
  }
  let labels: Labels = EMPTY_LABELS;
  let b = i;
  while (b < end && text.charCodeAt(b) === SP) b++;
  if (b < end && text.charCodeAt(b) === LBRACE) {
    i = b;
    // The raw text up to the first "}" is the cache key; a "}" inside a quoted value makes the raw
    // key shorter than the set, which the full parse below handles (and such sets are not cached).
    let raw: string | undefined;
    let close = -1;
    if (cache && name) {
      close = text.indexOf('}', i);
      if (close < 0 || close >= end) throw new LineError('unterminated label set');
      raw = text.slice(i + 1, close);
    }
    const hit = raw === undefined ? undefined : cache!.get(raw);
    if (hit !== undefined) {
      labels = hit;
      i = close + 1;
    } else {
      const p = parseLabelSet(text, i, end);
      if (p.name !== undefined) {
        if (name) throw new LineError('metric name given twice');
        name = p.name;
      }
      labels = p.labels;
      if (raw !== undefined && p.next === close + 1 && p.name === undefined) cache!.set(raw, Object.freeze(labels));
      i = p.next;
    }
  }
  if (!name) throw new LineError('not a sample: no metric name');
  // Value.
  if (i >= end || (text.charCodeAt(i) !== SP && text.charCodeAt(i) !== TAB)) throw new LineError(`no value after ${name}`);
  while (i < end && (text.charCodeAt(i) === SP || text.charCodeAt(i) === TAB)) i++;
  let vEnd = i;
  while (vEnd < end && text.charCodeAt(vEnd) !== SP && text.charCodeAt(vEnd) !== TAB) vEnd++;
  const vs = text.slice(i, vEnd);
  const value = parseValue(vs);
  if (Number.isNaN(value) && !isValidNumber(vs)) throw new LineError(`bad value ${JSON.stringify(vs.slice(0, 32))}`);
  // Optional timestamp, then an optional exemplar ("# {...} v [ts]") which is ignored.
  i = vEnd;
  while (i < end && (text.charCodeAt(i) === SP || text.charCodeAt(i) === TAB)) i++;
  if (i >= end) return { name, labels, value };
  if (text.charCodeAt(i) === HASH) return { name, labels, value };
  let tEnd = i;
  while (tEnd < end && text.charCodeAt(tEnd) !== SP && text.charCodeAt(tEnd) !== TAB) tEnd++;
  const ts = Number(text.slice(i, tEnd));
  if (!Number.isFinite(ts)) throw new LineError(`bad timestamp after ${name}`);
  i = tEnd;
  while (i < end && (text.charCodeAt(i) === SP || text.charCodeAt(i) === TAB)) i++;
  if (i < end && text.charCodeAt(i) !== HASH) throw new LineError(`unexpected text after the timestamp of ${name}`);
  return { name, labels, value, timestamp: ts };
}

/** The family a sample belongs to: strips _bucket/_sum/_count/_total/_created where the page's TYPEs say so. */
export function familyOf(name: string, types: ReadonlyMap<string, MetricType>): string {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_count', '_sum', '_total', '_created', '_gcount', '_gsum', '_info']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.has(base)) return base;
    }
  }
  return name;
}
