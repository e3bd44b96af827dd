// Every llmeter configuration the deployments run passes `llmeter config check` as the container
// would load it: compose's llmeter.yaml and llmeter.gpu.yaml, and the ConfigMaps of every
// Kubernetes layout (the DCGM scrapers' after their init container has written the node's name in),
// each with the environment its container sets. The password file is mounted from a Secret there;
// here CLICKHOUSE_PASSWORD_FILE points at a stand-in, as docs/deployment.md does.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/store.ts';
import { LLMETER_BIN, ROOT } from '../helpers/paths.ts';
import { kustomizeBuild, LAYOUTS, type K8sObject } from './kustomize.ts';

interface Check {
  name: string;
  file: string;
  env: Record<string, string>;
}
interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: { name: string; configMap?: { name: string } }[] };

const dir = tempDir();
const password = path.join(dir, 'clickhouse-password');
writeFileSync(password, 'stand-in\n');

/** The configuration files llmeter runs with in a layout: per container, the ConfigMap it reads and its environment. */
function kubernetesChecks(layout: string, objects: K8sObject[]): Check[] {
  const out: Check[] = [];
  for (const w of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
    const pod = (w.spec as { template: { spec: PodSpec } }).template.spec;
    for (const c of pod.containers) {
      const args = c.args ?? [];
      const at = args.indexOf('--config');
      if (args[0] !== 'start' || at < 0) continue;
      const file = args[at + 1]!;
      // The ConfigMap behind the file: mounted directly, or the template an init container renders.
      const mount = c.volumeMounts!.find((m) => file.startsWith(`${m.mountPath}/`))!;
      let volume = pod.volumes!.find((v) => v.name === mount.name)!;
      let render = (text: string) => text;
      if (!volume.configMap) {
        const init = pod.initContainers!.find((i) => i.volumeMounts?.some((m) => m.name === mount.name))!;
        const [, placeholder, from] = /sed "s\|(@\w+@)\|\$NODE_NAME\|g" (\S+) >/.exec(init.command!.at(-1)!)!;
        volume = pod.volumes!.find((v) => v.name === init.volumeMounts!.find((m) => from!.startsWith(`${m.mountPath}/`))!.name)!;
        render = (text) => text.replaceAll(placeholder!, 'ip-10-0-1-17.ec2.internal');
      }
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap!.name)!;
      const local = path.join(dir, `${layout.replaceAll('/', '-')}-${w.metadata.name}-${c.name}.yaml`);
      writeFileSync(local, render(cm.data![path.basename(file)]!));
      const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
      out.push({ name: `deploy/kubernetes/${layout}: ${w.kind} ${w.metadata.name}/${c.name}`, file: local, env });
    }
  }
  return out;
}

function configCheck(c: Check): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [LLMETER_BIN, 'config', 'check', c.file],
      { cwd: ROOT, timeout: 60_000, env: { PATH: process.env.PATH, HOME: process.env.HOME, CLICKHOUSE_PASSWORD_FILE: password, ...c.env } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

describe('llmeter configurations in deploy/', () => {
  it('every configuration a container runs passes `llmeter config check`, with the environment the container sets', async () => {
    const checks: Check[] = [
      ...['llmeter.yaml', 'llmeter.gpu.yaml'].map((f) => ({ name: `deploy/compose/${f}`, file: path.join(ROOT, 'deploy/compose', f), env: {} })),
      ...LAYOUTS.flatMap((l) => kubernetesChecks(l, kustomizeBuild(path.join(ROOT, 'deploy/kubernetes', l)))),
    ];
    // The collector in both layouts, and the DCGM scraper of the scale-out one.
    expect(checks.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'deploy/kubernetes/base: Deployment llmeter-collector/collector',
        'deploy/kubernetes/overlays/scale-out: Deployment llmeter-collector/collector',
        'deploy/kubernetes/overlays/scale-out: DaemonSet dcgm-exporter/scraper',
      ]),
    );
    const results = await Promise.all(checks.map(configCheck));
    checks.forEach((c, i) => {
      expect(results[i]!.code, `${c.name}:\n${results[i]!.output}`).toBe(0);
      expect(results[i]!.output).toContain(': valid');
    });
    // The scale-out collector's environment does reach the check: it consumes Kafka there.
    const scaleOut = checks.findIndex((c) => c.name === 'deploy/kubernetes/overlays/scale-out: Deployment llmeter-collector/collector');
    expect(results[scaleOut]!.output).toContain('transport: kafka');
  });

  it('the check does refuse a broken one', async () => {
    const file = path.join(dir, 'broken.yaml');
    const good = parse(readFileSync(path.join(ROOT, 'deploy/compose/llmeter.yaml'), 'utf8')) as { prices: Record<string, unknown> };
    good.prices.book = [{ instance_type: 'vm-1', price: 1.25 }];
    writeFileSync(file, JSON.stringify(good));
    const r = await configCheck({ name: 'broken', file, env: {} });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/prices\.book\.0\.price/);
  });
});
