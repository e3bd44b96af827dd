// deploy/compose checked without a Docker engine: both compose files against the Compose
// Specification's JSON schema (the copy dclint 3.1.0 ships) and, where a `docker compose` is
// installed, through `docker compose config` itself; every file they mount exists; the services
// reach each other the way the configurations they mount say; ClickHouse's health check runs (with
// a stand-in clickhouse-client) and logs in as the user the image creates; Prometheus's
// configuration passes promtool with the rules it mounts. The llmeter configurations pass `llmeter
// config check` in configs.int.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../collector/app/config-schema.ts';
import { tempDir } from '../helpers/store.ts';
import { ROOT } from '../helpers/paths.ts';

const COMPOSE = path.join(ROOT, 'deploy/compose');

interface Service {
  image?: string;
  build?: Record<string, unknown>;
  command?: string[];
  depends_on?: Record<string, unknown> | string[];
  networks?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  deploy?: unknown;
}
interface ComposeFile {
  services: Record<string, Service>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
}
const read = (file: string) => parse(readFileSync(path.join(COMPOSE, file), 'utf8')) as ComposeFile;
const base = read('compose.yaml');
const gpu = read('compose.gpu.yaml');

/** compose.yaml with compose.gpu.yaml on top, merged as Compose merges: volumes by their target. */
function merged(): ComposeFile {
  const out = structuredClone(base);
  for (const [name, s] of Object.entries(gpu.services)) {
    const into = (out.services[name] ??= {});
    for (const [k, v] of Object.entries(s)) {
      if (k === 'volumes') {
        const byTarget = new Map((into.volumes ?? []).map((m) => [m.split(':')[1], m]));
        for (const m of v as string[]) byTarget.set(m.split(':')[1], m);
        into.volumes = [...byTarget.values()];
      } else if (k === 'depends_on') into.depends_on = { ...(into.depends_on as object), ...(v as object) };
      else (into as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

/** A service's bind mounts: container path → path on this machine. */
function mounts(s: Service): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of s.volumes ?? []) {
    const [src, dst] = v.split(':');
    if (src!.startsWith('.')) out.set(dst!, path.resolve(COMPOSE, src!));
  }
  return out;
}
/** Where a path inside a container is on this machine, through the service's bind mounts. */
function hostPath(s: Service, inContainer: string): string | undefined {
  for (const [dst, src] of mounts(s)) {
    if (inContainer === dst) return src;
    if (inContainer.startsWith(`${dst}/`)) return path.join(src, inContainer.slice(dst.length + 1));
  }
  return undefined;
}
const llmeterConfig = (project: ComposeFile) => {
  const file = hostPath(project.services.llmeter!, project.services.llmeter!.command!.at(-1)!)!;
  return { file, config: configSchema.parse(parse(readFileSync(file, 'utf8'))) };
};
const dependsOn = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

describe('deploy/compose', () => {
  it('both files validate against the Compose Specification schema (and a misspelt key is refused)', () => {
    const schema = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/dclint/schemas/compose.schema.json'), 'utf8')) as object;
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    const validate = ajv.compile(schema);
    for (const [file, doc] of [
      ['compose.yaml', base],
      ['compose.gpu.yaml', gpu],
    ] as const)
      expect(validate(doc), `${file}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    const broken = structuredClone(base) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.clickhouse!.healthchek = broken.services.clickhouse!.healthcheck;
    expect(validate(broken)).toBe(false);
  });

  const compose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  it.runIf(compose.status === 0)('docker compose config accepts both layouts', () => {
    for (const files of [['compose.yaml'], ['compose.yaml', 'compose.gpu.yaml']]) {
      const r = spawnSync('docker', ['compose', ...files.flatMap((f) => ['-f', path.join(COMPOSE, f)]), 'config', '--quiet'], {
        encoding: 'utf8',
        env: { ...process.env, CLICKHOUSE_PASSWORD: 'x' },
      });
      expect(r.status, `${files.join(' + ')}: ${r.stderr}`).toBe(0);
    }
  });

  it.each([
    ['compose.yaml', () => base],
    ['compose.yaml + compose.gpu.yaml', merged],
  ])(
    '%s: every service has a pinned image, depends on services that exist, joins networks and volumes that exist, and mounts files that exist',
    (_name, project) => {
      const p = project();
      for (const [name, s] of Object.entries(p.services)) {
        expect(s.image, name).toMatch(/^[a-z0-9./-]+:[\w.-]+$/);
        for (const d of dependsOn(s)) expect(p.services[d], `${name} depends on ${d}`).toBeDefined();
        for (const n of s.networks ?? []) expect(n in (p.networks ?? {}), `${name}: network ${n}`).toBe(true);
        for (const v of s.volumes ?? []) {
          const src = v.split(':')[0]!;
          if (src.startsWith('.')) expect(existsSync(path.resolve(COMPOSE, src)), `${name}: ${src}`).toBe(true);
          else expect(src in (p.volumes ?? {}), `${name}: volume ${src}`).toBe(true);
        }
      }
    },
  );

  it('Ollama is reachable only through llmeter, and may reach the model registry', () => {
    for (const p of [base, merged()]) {
      const on = (net: string) =>
        Object.entries(p.services)
          .filter(([, s]) => s.networks?.includes(net))
          .map(([n]) => n)
          .sort();
      expect(on('models').filter((n) => n !== 'dcgm-exporter')).toEqual(['llmeter', 'ollama']);
      expect(p.networks!.models?.internal).toBe(true);
      // Its other networks lead out (not internal) and have no other service on them.
      const others = p.services.ollama!.networks!.filter((n) => n !== 'models');
      expect(others.length).toBeGreaterThan(0);
      for (const n of others) {
        expect(p.networks![n]?.internal ?? false, n).toBe(false);
        expect(on(n), n).toEqual(['ollama']);
      }
    }
    expect(base.services['open-webui']!.environment!.OLLAMA_BASE_URL).toBe(`http://llmeter:${llmeterConfig(base).config.proxy.listen.split(':')[1]}`);
    const upstream = llmeterConfig(base).config.proxy.upstreams[0]!;
    expect(new URL(upstream.url).hostname).toBe('ollama');
  });

  it("ClickHouse's health check logs in as the user the image creates (not `default`, which it removes), with the password llmeter uses", () => {
    const ch = base.services.clickhouse!;
    const env = ch.environment!;
    expect(env.CLICKHOUSE_USER).not.toBe('default');
    const { config } = llmeterConfig(base);
    expect(config.store.user).toBe(env.CLICKHOUSE_USER);
    expect(hostPath(base.services.llmeter!, config.store.password_file!)).toBe(hostPath(ch, env.CLICKHOUSE_PASSWORD_FILE!));

    // Run the check as the container's shell would, with a clickhouse-client that records how it was called.
    const [kind, command] = ch.healthcheck!.test as [string, string];
    expect(kind).toBe('CMD-SHELL');
    const dir = tempDir();
    mkdirSync(path.join(dir, 'bin'));
    const fake = path.join(dir, 'bin', 'clickhouse-client');
    writeFileSync(fake, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/args"\n`);
    chmodSync(fake, 0o755);
    const secret = path.join(dir, 'clickhouse-password');
    writeFileSync(secret, 'p4ss word$!\n');
    // Compose turns $$ into $ before the container sees the command.
    execFileSync('/bin/sh', ['-c', command.replaceAll('$$', '$')], {
      env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, CLICKHOUSE_USER: env.CLICKHOUSE_USER, CLICKHOUSE_PASSWORD_FILE: secret },
    });
    expect(readFileSync(path.join(dir, 'args'), 'utf8').split('\n')).toEqual(['--user', 'llmeter', '--password', 'p4ss word$!', '--query', 'SELECT 1', '']);
  });

  it("Prometheus loads llmeter's alert rules (promtool check config), scrapes llmeter under a job the rules match, and sends to Alertmanager", () => {
    const prom = base.services.prometheus!;
    const configIn = hostPath(prom, '/etc/prometheus/prometheus.yml')!;
    const config = parse(readFileSync(configIn, 'utf8')) as {
      rule_files: string[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    // The same file with the container's paths replaced by where they are here.
    const local = { ...config, rule_files: config.rule_files.map((f) => hostPath(prom, f)!) };
    expect(local.rule_files.every(Boolean)).toBe(true);
    const dir = tempDir();
    const file = path.join(dir, 'prometheus.yml');
    writeFileSync(file, stringify(local));
    const out = execFileSync('promtool', ['check', 'config', file], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: [1-9]\d* rules found/);

    const { config: llmeter } = llmeterConfig(base);
    const targetDown = /up\{job=~"([^"]+)"\}/.exec(readFileSync(path.join(ROOT, 'alerts/pipeline.rules.yml'), 'utf8'))![1]!;
    const job = config.scrape_configs.find((j) => j.static_configs.some((c) => c.targets.includes(`llmeter:${llmeter.http.listen.split(':')[1]}`)));
    expect(job?.job_name).toMatch(new RegExp(`^(?:${targetDown})$`));
    expect(llmeter.http.allowed_hosts).toContain('llmeter');
    expect(config.alerting.alertmanagers[0]!.static_configs[0]!.targets).toEqual(['alertmanager:9093']);
    const shared = (a: string, b: string) => base.services[a]!.networks!.some((n) => base.services[b]!.networks!.includes(n));
    expect(shared('prometheus', 'llmeter') && shared('prometheus', 'alertmanager') && shared('grafana', 'prometheus')).toBe(true);
  });

  it('Alertmanager runs alerts/alertmanager.yml with its templates, and finds its secrets where the configuration names them', () => {
    const am = base.services.alertmanager!;
    const configIn = hostPath(am, '/etc/alertmanager/alertmanager.yml');
    expect(configIn).toBe(path.join(ROOT, 'alerts/alertmanager.yml'));
    const text = readFileSync(configIn!, 'utf8');
    const config = parse(text) as { templates: string[] };
    for (const t of config.templates) expect(hostPath(am, path.posix.join('/etc/alertmanager', t)), t).toBe(path.join(ROOT, 'alerts', t));
    const secretFiles = [...text.matchAll(/_file: (\S+)/g)].map((m) => m[1]!);
    expect(secretFiles.length).toBeGreaterThan(0);
    for (const f of secretFiles) expect(hostPath(am, f), f).toBe(path.join(COMPOSE, 'secrets/alertmanager', path.basename(f)));
    // The secrets stay out of the repository.
    for (const secret of ['secrets/alertmanager/pagerduty-routing-key', 'secrets/clickhouse-password'])
      expect(spawnSync('git', ['check-ignore', '-q', path.join(COMPOSE, secret)], { cwd: ROOT }).status, secret).toBe(0);
  });

  it('Grafana gets the dashboards, the datasources (every variable they name is set) and the cost alert rules', () => {
    const g = base.services.grafana!;
    const prov = path.join(ROOT, 'dashboards/provisioning');
    for (const sub of ['datasources', 'dashboards', 'alerting']) expect(hostPath(g, `/etc/grafana/provisioning/${sub}`), sub).toBe(path.join(prov, sub));
    const vars = [...readFileSync(path.join(prov, 'datasources/llmeter.yaml'), 'utf8').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    for (const v of vars) expect(g.environment, v).toHaveProperty(v);
  });

  it('compose.gpu.yaml: llmeter runs llmeter.gpu.yaml, which scrapes dcgm-exporter for the same node the proxy and the inventory name; otherwise the two configurations agree', () => {
    const p = merged();
    const { file, config } = llmeterConfig(p);
    expect(path.basename(file)).toBe('llmeter.gpu.yaml');
    const [target] = config.scrape.targets;
    expect(new URL(target!.url).hostname).toBe('dcgm-exporter');
    expect(p.services['dcgm-exporter']!.networks!.some((n) => p.services.llmeter!.networks!.includes(n))).toBe(true);
    const node = config.proxy.upstreams[0]!.node;
    expect(target!.node).toBe(node);
    expect(config.scrape.inventory.nodes.map((n) => n.node)).toEqual([node]);
    const cpu = llmeterConfig(base).config;
    expect(cpu.scrape.inventory.nodes.map((n) => n.node)).toEqual([cpu.proxy.upstreams[0]!.node]);
    const { scrape: _a, ...gpuRest } = config;
    const { scrape: _b, ...cpuRest } = cpu;
    expect(gpuRest).toEqual(cpuRest);
    expect({ ...config.scrape, targets: [] }).toEqual(cpu.scrape);
    // The node has a price: a book entry for its instance type and capacity type.
    const n = cpu.scrape.inventory.nodes[0]!;
    expect(cpu.prices.enabled).toBe(true);
    expect(cpu.prices.book.some((b) => b.instance_type === n.instance_type && b.capacity_type === n.capacity_type)).toBe(true);
  });
});
