// What every CLI command shares: the global options, loading the configuration, a logger, and a
// clean way to run until Ctrl-C.
import type { Command } from 'commander';
import { ConfigError, type LoadedConfig, type SettingOrigin } from '../../core/config/load.ts';
import { errorMessage, LlmeterError } from '../../core/errors.ts';
import { StoreUnreachable } from '../../core/store/errors.ts';
import { loadConfig, type Config } from '../config-schema.ts';
import { createLogger, type Logger } from '../../core/log.ts';

/** The global flags and the setting each one sets, for the overrides and for error messages. */
const GLOBAL_FLAGS: Record<string, string> = { 'store.data_dir': '--data-dir', 'store.url': '--clickhouse-url', log_level: '--log-level' };

/**
 * Where the settings of the configuration this process loaded came from (a process runs one
 * command): an error about a setting, raised far from the loading, names its origin.
 */
let loaded: { file?: string; origins: Readonly<Record<string, SettingOrigin>> } = { origins: {} };

/** `store.url, from CLICKHOUSE_URL` / `store.url in llmeter.yaml`: the setting, and where its value came from. */
export function describeSetting(key: string): string {
  const origin = loaded.origins[key];
  if (origin) return `${key}, from ${origin.source.replace(/^environment variable /, '')}`;
  return loaded.file ? `${key} in ${loaded.file}` : key;
}

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  clickhouseUrl?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export class CliContext {
  readonly program: Command;
  constructor(program: Command) {
    this.program = program;
  }

  get globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  /**
   * Loads and validates the configuration; CLI flags win over the environment and the file. `flags`
   * names the flag behind each override (`http.listen` → `--listen`), so a bad value is blamed on it.
   */
  load(overrides: Record<string, unknown> = {}, flags: Record<string, string> = {}, file?: string): LoadedConfig<Config> {
    const g = this.globals;
    const r = loadConfig({
      file: file ?? g.config,
      overrides: { 'store.data_dir': g.dataDir, 'store.url': g.clickhouseUrl, log_level: g.logLevel, ...overrides },
      flags: { ...GLOBAL_FLAGS, ...flags },
    });
    loaded = { file: r.file, origins: r.origins };
    return r;
  }

  /**
   * The logger of a service (start, proxy, a scrape or watch that runs until Ctrl-C): JSON lines when
   * stderr is not a terminal, for whatever collects its log.
   */
  logger(level: Config['log_level']): Logger {
    return createLogger({ level });
  }

  /**
   * The logger of a command a person runs and reads (sql, ingest, report, migrate, …): readable
   * lines on stderr, never JSON, whatever stderr is.
   */
  consoleLogger(level: Config['log_level']): Logger {
    return createLogger({ level, json: false });
  }
}

/** Ctrl-C or SIGTERM, listened for from the moment it is created. */
export interface StopSignal {
  /** Aborted at the first SIGINT or SIGTERM: pass it to work that should stop early. */
  readonly signal: AbortSignal;
  /** The signal received, once one has been. */
  readonly received: NodeJS.Signals | undefined;
  /** Resolves on the first SIGINT or SIGTERM (at once if one came already), keeping Node alive meanwhile. */
  wait(): Promise<NodeJS.Signals>;
}

/**
 * Starts listening for SIGINT and SIGTERM. Create it before slow start-up work, so a signal that
 * comes during start-up is a request to stop (shut down and flush) rather than Node's default kill.
 * A second signal exits at once.
 */
export function stopSignal(log: Logger): StopSignal {
  const abort = new AbortController();
  let received: NodeJS.Signals | undefined;
  let resolve!: (sig: NodeJS.Signals) => void;
  const first = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (sig: NodeJS.Signals) => {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
    const again = () => {
      log.warn('second signal: exiting without waiting for the flush');
      process.exit(130);
    };
    process.once('SIGINT', again);
    process.once('SIGTERM', again);
    received = sig;
    abort.abort(new Error(`stopped by ${sig}`));
    resolve(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: abort.signal,
    get received() {
      return received;
    },
    async wait() {
      // Signal listeners do not keep the event loop alive, and a command may have nothing else that
      // does (its timers unref'd): without this Node would end the command while it waits.
      const keepAlive = setInterval(() => {}, 1 << 30);
      try {
        return await first;
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function untilSignal(log: Logger): Promise<NodeJS.Signals> {
  return stopSignal(log).wait();
}

/** Runs a command body, turning configuration and usage errors into a clear message and exit code. */
export async function runCommand(fn: () => Promise<number | void>): Promise<void> {
  // A command lasts until its body settles, even while all it waits for is an unref'd timer (a
  // retry's back-off, a scrape interval): Node would otherwise exit in the middle with code 13.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    const code = await fn();
    process.exitCode = code ?? 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`llmeter: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`llmeter: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof StoreUnreachable) {
      process.stderr.write(`llmeter: cannot reach the ClickHouse server at ${err.url} (${describeSetting('store.url')}): ${errorMessage(err.cause)}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`llmeter: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  } finally {
    clearInterval(keepAlive);
  }
}

/** A command line that cannot run as given: its message is printed and the exit status is 2. */
export class UsageError extends LlmeterError {
  constructor(message: string) {
    super(message, 'usage');
  }
}
