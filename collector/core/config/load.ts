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

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    const where = i.path.length ? i.path.map(String).join('.') : '(top level)';
    if (i.code === 'unrecognized_keys') return `${where}: unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return `${where}: ${i.message}`;
  });
}

export interface LoadOptions {
  file?: string;
  env?: Env;
  /** Settings that win over both file and environment (CLI flags). */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

export interface LoadedConfig<C extends CoreConfig = CoreConfig> {
  config: C;
  /** The file read, or undefined when none exists and defaults apply. */
  file?: string;
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
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v !== undefined && v !== '') setPath(merged, o.key, v);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (v !== undefined) setPath(merged, k, v);
  const parsed = schema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(file ?? 'defaults + environment', formatIssues(parsed.error.issues));
  const config = parsed.data;
  if (config.store.password_file) {
    const pf = path.resolve(cwd, config.store.password_file);
    try {
      config.store.password = readFileSync(pf, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(file ?? 'environment', [`store.password_file: cannot read ${pf}: ${errorMessage(err)}`]);
    }
  }
  if (!config.store.url && config.store.cluster) {
    throw new ConfigError(file ?? 'environment', [
      'store.cluster: a cluster needs a ClickHouse server (store.url / CLICKHOUSE_URL); embedded chDB is a single node',
    ]);
  }
  if (config.store.data_dir && !path.isAbsolute(config.store.data_dir)) config.store.data_dir = path.resolve(cwd, config.store.data_dir);
  return { config, file };
}
