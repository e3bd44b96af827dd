// `llmeter top` without the rest of the command line: node collector/app/top/standalone.ts --url …
// (the same flags as `llmeter top`).
import { Command } from 'commander';
import { addTopOptions, topOptions, type TopFlags } from '../cli/top-command.ts';
import { runCommand } from '../cli/context.ts';
import { runTop } from './run.ts';

const cmd = addTopOptions(new Command('llmeter-top')).action((f: TopFlags) => runCommand(() => runTop(topOptions(f, 'http://127.0.0.1:9464'))));
await cmd.parseAsync(process.argv);
