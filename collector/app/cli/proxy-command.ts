// `llmeter proxy`: a collector whose only job is the metering proxy, configured from flags (the
// configuration file still supplies tenants, limits and the store).
import os from 'node:os';
import type { Command } from 'commander';
import { runCommand, untilSignal, UsageError, type CliContext } from './context.ts';
import { startCollector } from '../runtime.ts';
import type { UpstreamConfig } from '../../../exporters/proxy/config.ts';

interface ProxyFlags {
  upstream?: string[];
  listen?: string;
  kind?: string;
  node?: string;
  anonymous?: string;
  httpListen?: string;
}

/** `URL` or `name=URL`; names default to upstream, upstream-2, … */
export function parseUpstreamFlags(values: readonly string[], kind: string, node: string | undefined): Partial<UpstreamConfig>[] {
  return values.map((v, i) => {
    const eq = v.indexOf('=');
    const named = eq > 0 && !v.slice(0, eq).includes('/');
    const name = named ? v.slice(0, eq) : i === 0 ? 'upstream' : `upstream-${i + 1}`;
    const url = named ? v.slice(eq + 1) : v;
    if (!/^https?:\/\//.test(url)) throw new UsageError(`--upstream ${v}: expected http(s)://host:port`);
    return { name, url, kind: kind as UpstreamConfig['kind'], ...(node ? { node } : {}) };
  });
}

export function registerProxyCommands(program: Command, cli: CliContext): void {
  program
    .command('proxy')
    .description('run the metering proxy in front of Ollama / vLLM: clients use it instead of the server, every request becomes an llm_request record')
    .option('--upstream <url...>', 'model server URL, or name=URL (repeatable; default: proxy.upstreams from the config)')
    .option('--listen <host:port>', 'address clients connect to (config proxy.listen, default 127.0.0.1:11435)')
    .option('--kind <kind>', 'upstream kind for --upstream: ollama, vllm or openai', 'ollama')
    .option('--node <name>', 'node the upstream runs on, for cost joins (default: this host name for a loopback upstream, else the URL host)')
    .option('--anonymous <tenant>', 'tenant for requests without a known key (default "anonymous" when the config names no tenants)')
    .option('--http-listen <host:port>', 'collector HTTP endpoint with /metrics (config http.listen)')
    .action((o: ProxyFlags) =>
      runCommand(async () => {
        if (o.kind && !['ollama', 'vllm', 'openai'].includes(o.kind)) throw new UsageError(`--kind ${o.kind}: expected ollama, vllm or openai`);
        const base = cli.load().config;
        const overrides: Record<string, unknown> = { 'proxy.enabled': true, 'proxy.listen': o.listen, 'http.listen': o.httpListen };
        if (o.upstream?.length) {
          const loopback = o.upstream.every((u) => /\/\/(127\.|localhost|\[::1\])/.test(u));
          overrides['proxy.upstreams'] = parseUpstreamFlags(o.upstream, o.kind ?? 'ollama', o.node ?? (loopback ? os.hostname() : undefined));
        } else if (base.proxy.upstreams.length === 0) {
          throw new UsageError('no upstream: pass --upstream http://127.0.0.1:11434 or set proxy.upstreams in the configuration');
        }
        if (o.anonymous) overrides['proxy.anonymous_tenant'] = o.anonymous;
        else if (base.proxy.tenants.length === 0 && !base.proxy.anonymous_tenant) overrides['proxy.anonymous_tenant'] = 'anonymous';
        const { config, file } = cli.load(overrides, {
          'proxy.listen': '--listen',
          'http.listen': '--http-listen',
          'proxy.upstreams': '--upstream',
          'proxy.anonymous_tenant': '--anonymous',
        });
        const log = cli.logger(config.log_level);
        const collector = await startCollector(config, log, { env: process.env });
        const proxy = collector.components.find((c) => c.name === 'proxy') as { address(): string } | undefined;
        const p = config.proxy;
        process.stdout.write(
          [
            `llmeter proxy on http://${proxy?.address() ?? p.listen} (${file ? `config ${file}` : 'no config file'})`,
            ...p.upstreams.map((u) => `  upstream: ${u.name} ${u.url} (${u.kind}${u.models.length ? `, models ${u.models.join(' ')}` : ''})`),
            `  tenants:  ${p.tenants.length ? p.tenants.map((t) => t.name).join(', ') : 'none'}${p.anonymous_tenant ? `; anonymous requests: ${p.anonymous_tenant}` : ''}`,
            `  metrics:  http://${collector.address}/metrics; records: llm_requests, model_states`,
            'Press Ctrl-C to stop.',
            '',
          ].join('\n'),
        );
        const sig = await untilSignal(log);
        log.info('shutting down', { signal: sig });
        await collector.shutdown();
        return 0;
      }),
    );
}
