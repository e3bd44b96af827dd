// What every CLI command shares: the global options, loading the configuration, a logger, and a
// clean way to run until Ctrl-C.
import type { Command } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.ts';
import { createLogger, type Logger } from '../log.ts';

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

  /** Loads and validates the configuration; CLI flags win over the environment and the file. */
  load(overrides: Record<string, unknown> = {}): LoadedConfig {
    const g = this.globals;
    return loadConfig({
      file: g.config,
      overrides: { 'store.data_dir': g.dataDir, 'store.url': g.clickhouseUrl, log_level: g.logLevel, ...overrides },
    });
  }

  logger(level: LoadedConfig['config']['log_level']): Logger {
    return createLogger({ level });
  }
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function untilSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (sig: NodeJS.Signals) => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
      const again = () => {
        log.warn('second signal: exiting without waiting for the flush');
        process.exit(130);
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      resolve(sig);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

/** Runs a command body, turning configuration and usage errors into a clear message and exit code. */
export async function runCommand(fn: () => Promise<number | void>): Promise<void> {
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
    process.stderr.write(`llmeter: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

export class UsageError extends Error {}
