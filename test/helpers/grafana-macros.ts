// Expands a panel's SQL the way Grafana and grafana-clickhouse-datasource (v4) do before ClickHouse
// sees it. In the browser: `$__conditionalAll(condition, $var)` becomes `1=1` when the variable is at
// "All", else the condition; template variables are interpolated (multi-value and All as a quoted,
// comma-separated list; a textbox as its raw text). In the plugin's backend (pkg/macros): the time
// macros, with times in Unix seconds (or milliseconds for the _ms forms):
//   $__timeFilter(c)       c >= toDateTime(from) AND c <= toDateTime(to)
//   $__timeFilter_ms(c)    c >= fromUnixTimestamp64Milli(from_ms) AND c <= fromUnixTimestamp64Milli(to_ms)
//   $__dateFilter(c)       c >= toDate('YYYY-MM-DD') AND c <= toDate('YYYY-MM-DD')
//   $__fromTime/$__toTime  toDateTime(from|to)   ($__fromTime_ms/$__toTime_ms: fromUnixTimestamp64Milli)
//   $__timeInterval(c)     toStartOfInterval(toDateTime(c), INTERVAL <interval s> second)
//   $__timeInterval_ms(c)  toStartOfInterval(toDateTime64(c, 3), INTERVAL <interval ms> millisecond)
//   $__interval_s          the interval in seconds (at least 1)
// An unknown macro is an error here, as it is in the plugin.

export interface ExpandOptions {
  fromMs: number;
  toMs: number;
  intervalMs: number;
  /** Selected values per variable; `'all'` for the All option; a string for a textbox. */
  variables: Record<string, readonly string[] | 'all' | string>;
  /** Every option of each query variable, for All. */
  options: Record<string, readonly string[]>;
}

const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Finds `name(` … `)` with balanced parentheses and hands the raw argument text to `replace`. */
function replaceCalls(sql: string, name: string, replace: (args: string) => string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const at = sql.indexOf(`${name}(`, i);
    if (at < 0) return out + sql.slice(i);
    let depth = 0;
    let end = -1;
    for (let j = at + name.length; j < sql.length; j++) {
      if (sql[j] === '(') depth++;
      else if (sql[j] === ')' && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end < 0) throw new Error(`unbalanced ${name}( in ${sql}`);
    out += sql.slice(i, at) + replace(sql.slice(at + name.length + 1, end));
    i = end + 1;
  }
}

/** Splits at the last comma outside parentheses. */
function lastTopLevelComma(args: string): [string, string] {
  let depth = 0;
  for (let j = args.length - 1; j >= 0; j--) {
    const ch = args[j];
    if (ch === ')') depth++;
    else if (ch === '(') depth--;
    else if (ch === ',' && depth === 0) return [args.slice(0, j).trim(), args.slice(j + 1).trim()];
  }
  throw new Error(`$__conditionalAll needs two arguments: ${args}`);
}

function variableText(name: string, o: ExpandOptions): string {
  const v = o.variables[name];
  if (v === undefined) throw new Error(`unknown template variable $${name}`);
  if (typeof v === 'string' && v !== 'all') return v;
  const values = v === 'all' ? (o.options[name] ?? []) : v;
  return values.map(quote).join(',');
}

export function expandMacros(sql: string, o: ExpandOptions): string {
  // browser side
  let s = replaceCalls(sql, '$__conditionalAll', (args) => {
    const [condition, variable] = lastTopLevelComma(args);
    const name = variable.replace(/^\$\{?|\}$/g, '');
    return o.variables[name] === 'all' ? '1=1' : condition;
  });
  s = s.replace(/\$\{(\w+)\}|\$(?!__)(\w+)/g, (_m, a: string | undefined, b: string | undefined) => variableText((a ?? b)!, o));

  // plugin backend
  const from = Math.floor(o.fromMs / 1000);
  const to = Math.floor(o.toMs / 1000);
  const intervalS = Math.max(1, Math.floor(o.intervalMs / 1000));
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  s = replaceCalls(s, '$__timeFilter_ms', (c) => `${c.trim()} >= fromUnixTimestamp64Milli(${o.fromMs}) AND ${c.trim()} <= fromUnixTimestamp64Milli(${o.toMs})`);
  s = replaceCalls(s, '$__timeFilter', (c) => `${c.trim()} >= toDateTime(${from}) AND ${c.trim()} <= toDateTime(${to})`);
  s = replaceCalls(s, '$__dateFilter', (c) => `${c.trim()} >= toDate('${day(o.fromMs)}') AND ${c.trim()} <= toDate('${day(o.toMs)}')`);
  s = replaceCalls(s, '$__timeInterval_ms', (c) => `toStartOfInterval(toDateTime64(${c.trim()}, 3), INTERVAL ${Math.max(1, o.intervalMs)} millisecond)`);
  s = replaceCalls(s, '$__timeInterval', (c) => `toStartOfInterval(toDateTime(${c.trim()}), INTERVAL ${intervalS} second)`);
  s = s
    .replace(/\$__fromTime_ms\b/g, `fromUnixTimestamp64Milli(${o.fromMs})`)
    .replace(/\$__toTime_ms\b/g, `fromUnixTimestamp64Milli(${o.toMs})`)
    .replace(/\$__fromTime\b/g, `toDateTime(${from})`)
    .replace(/\$__toTime\b/g, `toDateTime(${to})`)
    .replace(/\$__interval_s\b/g, String(intervalS));
  const left = /\$__\w+/.exec(s);
  if (left) throw new Error(`macro ${left[0]} not expanded in: ${s}`);
  return s;
}
