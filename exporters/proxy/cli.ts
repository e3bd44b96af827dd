// `llmeter` subcommands of this feature.
import type { Command } from 'commander';
import type { CliContext } from '../../collector/cli/context.ts';

export function registerProxyCommands(_program: Command, _cli: CliContext): void {}
