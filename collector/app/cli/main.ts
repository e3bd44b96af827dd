// The `llmeter` command line.
import { Command, Option } from 'commander';
import { CliContext } from './context.ts';
import { registerCoreCommands } from './core-commands.ts';
import { registerReportCommands, registerWhatIfCommand } from './report-commands.ts';
import { registerDemoCommand } from './demo-command.ts';
import { registerTopCommand } from './top-command.ts';
import { registerProxyCommands } from './proxy-command.ts';
import { registerScrapeCommands } from './scrape-command.ts';
import { registerPricesCommands } from './prices-commands.ts';

const program = new Command('llmeter')
  .description('Observability and cost analytics for self-hosted LLMs (Ollama, vLLM) on GPU and CPU nodes.')
  .version('0.1.0')
  .option('-c, --config <file>', 'configuration file (default: ./llmeter.yaml if present; env LLMETER_CONFIG)')
  .option('--data-dir <dir>', 'embedded data directory (env LLMETER_DATA_DIR; default ./data)')
  .option('--clickhouse-url <url>', 'ClickHouse server instead of embedded chDB (env CLICKHOUSE_URL)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
  .showHelpAfterError();

const cli = new CliContext(program);
registerCoreCommands(program, cli);
registerReportCommands(program, cli);
registerWhatIfCommand(program, cli);
registerDemoCommand(program, cli);
registerTopCommand(program, cli);
registerProxyCommands(program, cli);
registerScrapeCommands(program, cli);
registerPricesCommands(program, cli);

await program.parseAsync(process.argv);
