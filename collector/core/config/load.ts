// Reads the configuration file, applies environment overrides and validates the result once, at
// start-up. Nothing deeper in the code reads process.env: it gets the parsed Config.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { errorMessage, LlmeterError } from '../errors.ts';
import type { CoreConfig } from './schema.ts';

export const DEFAULT_CONFIG_FILES = ['llmeter.yaml', 'llmeter.yml'];

export class ConfigError extends LlmeterError {
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid configuration (${source}):\n  - ${issues.join('\n  - ')}`, 'invalid_config');
    this.issues = issues;
  }
}

type Env = Record<string, string | undefined>;

/** Environment variables and the config key each one sets. */
export const ENV_OVERRIDES: readonly { env: string; key: string; doc: string }[] = [
  { env: 'CLICKHOUSE_URL', key: 'store.url', doc: 'Use a ClickHouse server instead of embedded chDB.' },
  { env: 'CLICKHOUSE_USER', key: 'store.user', doc: 'ClickHouse user.' },
  { env: 'CLICKHOUSE_PASSWORD', key: 'store.password', doc: 'ClickHouse password.' },
  { env: 'CLICKHOUSE_PASSWORD_FILE', key: 'store.password_file', doc: 'File holding the ClickHouse password.' },
  { env: 'CLICKHOUSE_DATABASE', key: 'store.database', doc: 'Database name.' },
  { env: 'CLICKHOUSE_CLUSTER', key: 'store.cluster', doc: 'Cluster name (replicated + distributed tables).' },
  { env: 'LLMETER_DATA_DIR', key: 'store.data_dir', doc: 'Embedded data directory.' },
  { env: 'LLMETER_HTTP_LISTEN', key: 'http.listen', doc: 'Collector HTTP address.' },
  { env: 'LLMETER_CLICKHOUSE_HTTP_LISTEN', key: 'clickhouse_http.listen', doc: 'Address of the read-only ClickHouse HTTP interface.' },
  { env: 'LLMETER_ADMIN_KEY_FILE', key: 'http.admin_key_file', doc: 'File holding an admin key.' },
  { env: 'LLMETER_TRANSPORT', key: 'transport.kind', doc: 'embedded or kafka.' },
  { env: 'LLMETER_LOG_LEVEL', key: 'log_level', doc: 'debug, info, warn, error.' },
];

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

/**
 * Where a setting that did not come from the file came from, as a person would name it: the
 * environment variable or the flag, with the value given (`LLMETER_HTTP_LISTEN=nowhere`).
 */
export interface SettingOrigin {
  /** `environment variable CLICKHOUSE_URL`, `--listen`, … */
  source: string;
  /** The setting as given, for the message: `CLICKHOUSE_URL=http://…`, `--listen nowhere`. */
  given: string;
}

/** The origin of the setting an issue's path falls under (the longest key that is a prefix of it). */
export function originOf(origins: Readonly<Record<string, SettingOrigin>>, where: string): SettingOrigin | undefined {
  let best: string | undefined;
  for (const k of Object.keys(origins)) if ((where === k || where.startsWith(k + '.')) && (best === undefined || k.length > best.length)) best = k;
  return best === undefined ? undefined : origins[best];
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], origins: Readonly<Record<string, SettingOrigin>> = {}): string[] {
  return issues.map((i) => {
    const where = i.path.length ? i.path.map(String).join('.') : '(top level)';
    const origin = originOf(origins, where);
    const named = origin ? `${where} (${origin.given})` : where;
    if (i.code === 'unrecognized_keys') return `${named}: unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return `${named}: ${i.message}`;
  });
}

/** What an error is blamed on: the file (or the defaults) and each variable or flag with a bad value. */
function blame(file: string | undefined, issues: readonly z.core.$ZodIssue[], origins: Readonly<Record<string, SettingOrigin>>): string {
  const sources: string[] = [];
  let fromFile = false;
  for (const i of issues) {
    const origin = originOf(origins, i.path.map(String).join('.'));
    if (!origin) fromFile = true;
    else if (!sources.includes(origin.source)) sources.push(origin.source);
  }
  return [...(fromFile ? [file ?? 'defaults'] : []), ...sources].join(', ');
}

export interface LoadOptions {
  file?: string;
  env?: Env;
  /** Settings that win over both file and environment (CLI flags). */
  overrides?: Record<string, unknown>;
  /** The flag that set each override (`http.listen` → `--listen`), for error messages; default "the command line". */
  flags?: Record<string, string>;
  cwd?: string;
}

export interface LoadedConfig<C extends CoreConfig = CoreConfig> {
  config: C;
  /** The file read, or undefined when none exists and defaults apply. */
  file?: string;
  /** Settings the environment or a flag set (by key), so an error about one can name where it came from. */
  origins: Readonly<Record<string, SettingOrigin>>;
}

export function parseConfigText(text: string, source: string): unknown {
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    const msg = err instanceof YAMLParseError ? `${err.message}` : String(err);
    throw new ConfigError(source, [`not valid YAML: ${msg}`]);
  }
}

/**
 * Reads, merges and validates a configuration against `schema`: the composition root's, which puts
 * the core's sections together with the features'.
 */
export function loadConfigWith<C extends CoreConfig>(schema: z.ZodType<C>, opts: LoadOptions = {}): LoadedConfig<C> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  let file = opts.file ?? env.LLMETER_CONFIG;
  if (file && !existsSync(path.resolve(cwd, file))) throw new ConfigError(file, ['file not found']);
  if (!file) file = DEFAULT_CONFIG_FILES.find((f) => existsSync(path.resolve(cwd, f)));
  let raw: unknown = {};
  if (file) raw = parseConfigText(readFileSync(path.resolve(cwd, file), 'utf8'), file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file ?? 'defaults', ['(top level): expected a mapping of sections']);
  const merged = structuredClone(raw) as Record<string, unknown>;
  const origins: Record<string, SettingOrigin> = {};
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v === undefined || v === '') continue;
    setPath(merged, o.key, v);
    // A secret's value is not repeated in a message.
    origins[o.key] = { source: `environment variable ${o.env}`, given: o.key === 'store.password' ? o.env : `${o.env}=${v}` };
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v === undefined) continue;
    setPath(merged, k, v);
    const flag = opts.flags?.[k];
    origins[k] = flag ? { source: flag, given: typeof v === 'string' ? `${flag} ${v}` : flag } : { source: 'the command line', given: 'from the command line' };
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(blame(file, parsed.error.issues, origins), formatIssues(parsed.error.issues, origins));
  const config = parsed.data;
  if (config.store.password_file) {
    const pf = path.resolve(cwd, config.store.password_file);
    try {
      config.store.password = readFileSync(pf, 'utf8').trim();
    } catch (err) {
      const origin = origins['store.password_file'];
      throw new ConfigError(origin?.source ?? file ?? 'defaults', [
        `store.password_file${origin ? ` (${origin.given})` : ''}: cannot read ${pf}: ${errorMessage(err)}`,
      ]);
    }
  }
  if (!config.store.url && config.store.cluster) {
    const origin = origins['store.cluster'];
    throw new ConfigError(origin?.source ?? file ?? 'defaults', [
      `store.cluster${origin ? ` (${origin.given})` : ''}: a cluster needs a ClickHouse server (store.url / CLICKHOUSE_URL); embedded chDB is a single node`,
    ]);
  }
  if (config.store.data_dir && !path.isAbsolute(config.store.data_dir)) config.store.data_dir = path.resolve(cwd, config.store.data_dir);
  return { config, file, origins };
}
