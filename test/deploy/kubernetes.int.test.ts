// deploy/ checked without a cluster: ScaledObjects against KEDA's CRD schema (v2.20.2) with ajv,
// built-in Kubernetes objects against the API's OpenAPI models (k8s-models.ts) and structurally
// (apiVersion/kind/required fields, selectors that select their pods, resources and security
// contexts on every container), the llmeter configurations they carry
// against the project's own config schema, and the compose file's wiring.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { autoscaleConfigSchema, type AutoscaleConfig } from '../../collector/features/autoscale/config.ts';
import { parseTrigger } from '../../collector/features/autoscale/scaler.ts';
import { ScalerMetrics } from '../../collector/features/autoscale/scaler-metrics.ts';
import { ProxyState } from '../../exporters/proxy/state.ts';
import { configSchema } from '../../collector/app/config-schema.ts';
import { check, modelName } from './k8s-models.ts';
import { FIXTURES, ROOT } from '../helpers/paths.ts';

const K8S = path.join(ROOT, 'deploy/kubernetes');
const CRD = path.join(FIXTURES, 'keda/keda.sh_scaledobjects.v2.20.2.yaml');

type Obj = Record<string, unknown>;
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Obj;
  data?: Record<string, string>;
  file: string;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFiles(p));
    else if (e.name.endsWith('.yaml') && e.name !== 'kustomization.yaml') out.push(p);
  }
  return out.sort();
}

function load(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  return docs.map((d) => {
    expect(d.errors, `${file}: ${d.errors.map((e) => e.message).join('; ')}`).toEqual([]);
    return { ...(d.toJS() as Omit<K8sObject, 'file'>), file: path.relative(ROOT, file) };
  });
}

const objects = yamlFiles(K8S).flatMap(load);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const find = (kind: string, name: string, ns = 'llmeter') =>
  objects.find((o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? '') === (kind === 'Namespace' ? '' : ns));

const API: Record<string, string[]> = {
  Namespace: ['v1'],
  ConfigMap: ['v1'],
  Service: ['v1'],
  ServiceAccount: ['v1'],
  PersistentVolumeClaim: ['v1'],
  Deployment: ['apps/v1'],
  DaemonSet: ['apps/v1'],
  PodDisruptionBudget: ['policy/v1'],
  NetworkPolicy: ['networking.k8s.io/v1'],
  ScaledObject: ['keda.sh/v1alpha1'],
  ExternalSecret: ['external-secrets.io/v1'],
  Kafka: ['kafka.strimzi.io/v1beta2'],
  KafkaNodePool: ['kafka.strimzi.io/v1beta2'],
  ClickHouseInstallation: ['clickhouse.altinity.com/v1'],
  ClickHouseKeeperInstallation: ['clickhouse-keeper.altinity.com/v1'],
};

interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Obj;
  livenessProbe?: Obj;
  readinessProbe?: Obj;
  startupProbe?: { periodSeconds: number; failureThreshold: number };
}
interface PodSpec {
  containers: Container[];
  securityContext?: Obj;
  tolerations?: { key: string; operator: string; effect?: string }[];
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values?: string[] }[] }[] };
    };
  };
  volumes?: { name: string }[];
}
/** The tiers of a configuration, as the scaler sees them. */
function tiers(auto: AutoscaleConfig): ScalerMetrics {
  const upstreams = auto.tiers.flatMap((t) => t.upstreams).map((name) => ({ name, node: name }));
  return new ScalerMetrics({ config: auto, state: new ProxyState(), upstreams, registry: new Registry() });
}

const workload = (o: K8sObject) =>
  o.spec as { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };

describe('deploy/kubernetes', () => {
  it('every object has a known apiVersion, a kind, a name and (except Namespaces) a namespace', () => {
    expect(objects.length).toBeGreaterThan(20);
    for (const o of objects) {
      expect(API[o.kind], `${o.file}: unexpected kind ${o.kind}`).toBeDefined();
      expect(API[o.kind], `${o.file}: ${o.kind} ${o.metadata?.name}`).toContain(o.apiVersion);
      expect(o.metadata?.name, o.file).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.file}: ${o.metadata.name}`).toBeTruthy();
      const ns = o.metadata.namespace;
      if (ns) expect(find('Namespace', ns), `${o.file}: namespace ${ns} is not defined`).toBeDefined();
    }
    const keys = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('built-in objects have only fields the Kubernetes API has, with values of its types (and the check does catch a typo)', () => {
    // Every object of a core or *.k8s.io API group has a model; the rest are custom resources.
    for (const o of objects)
      expect(modelName(o.apiVersion, o.kind) !== undefined, `${o.file}: ${o.apiVersion} ${o.kind}`).toBe(
        !o.apiVersion.includes('.') || o.apiVersion.includes('.k8s.io/'),
      );
    const builtIn = objects.filter((o) => modelName(o.apiVersion, o.kind));
    expect(new Set(builtIn.map((o) => o.kind))).toContain('Deployment');
    for (const o of builtIn) {
      const { file, ...obj } = o;
      expect(check(obj, modelName(o.apiVersion, o.kind)!), `${file}: ${o.kind} ${o.metadata.name}`).toEqual([]);
    }
    const deployment = structuredClone(find('Deployment', 'llmeter-collector')!) as unknown as { spec: { template: { spec: { containers: Obj[] } } } };
    const { file: _f, ...broken } = deployment as unknown as K8sObject;
    const c = (broken as unknown as typeof deployment).spec.template.spec.containers[0]!;
    c.imagePullPolicyy = 'Always';
    c.ports = [{ containerPort: '9464' }];
    expect(check(broken, 'V1Deployment').sort()).toEqual([
      'spec.template.spec.containers[0].imagePullPolicyy: not a field of V1Container',
      'spec.template.spec.containers[0].ports[0].containerPort: expected a number, got string',
    ]);
  });

  it('workloads: selectors select their pods; every container has an image, requests, limits and a locked-down security context', () => {
    for (const o of [...byKind('Deployment'), ...byKind('DaemonSet')]) {
      const s = workload(o);
      expect(s.selector?.matchLabels, o.file).toBeDefined();
      for (const [k, v] of Object.entries(s.selector.matchLabels)) expect(s.template.metadata.labels[k], `${o.file}: selector ${k}`).toBe(v);
      const pod = s.template.spec;
      expect(pod.containers.length).toBeGreaterThan(0);
      const vols = new Set((pod.volumes ?? []).map((v) => v.name));
      for (const c of pod.containers) {
        const where = `${o.file}: ${o.metadata.name}/${c.name}`;
        expect(c.image, where).toMatch(/^[a-z0-9./-]+(:[\w.-]+)?$/);
        expect(c.resources?.requests?.cpu, where).toBeTruthy();
        expect(c.resources?.requests?.memory, where).toBeTruthy();
        expect(c.resources?.limits?.memory, where).toBeTruthy();
        expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
        expect((c.securityContext?.capabilities as { drop?: string[] })?.drop, where).toEqual(['ALL']);
        expect(c.livenessProbe, where).toBeDefined();
        expect(c.readinessProbe, where).toBeDefined();
        for (const m of (c as { volumeMounts?: { name: string }[] }).volumeMounts ?? []) expect(vols.has(m.name), `${where}: volume ${m.name}`).toBe(true);
      }
    }
  });

  it('services select pods of a workload and name ports the pods have', () => {
    const pods = [...byKind('Deployment'), ...byKind('DaemonSet')].map((o) => ({
      ns: o.metadata.namespace,
      labels: workload(o).template.metadata.labels,
      ports: workload(o).template.spec.containers.flatMap((c) => c.ports ?? []),
    }));
    for (const svc of byKind('Service')) {
      const spec = svc.spec as { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] };
      const target = pods.find((p) => p.ns === svc.metadata.namespace && Object.entries(spec.selector).every(([k, v]) => p.labels[k] === v));
      expect(target, `${svc.file}: Service ${svc.metadata.name} selects nothing`).toBeDefined();
      for (const p of spec.ports) {
        if (typeof p.targetPort === 'string')
          expect(
            target!.ports.map((x) => x.name),
            `${svc.metadata.name}:${p.targetPort}`,
          ).toContain(p.targetPort);
      }
    }
  });

  it('the collector has probes and a PDB; the premium pool runs only on GPU nodes with nvidia.com/gpu; the standard pool only on CPU nodes', () => {
    const col = find('Deployment', 'llmeter-collector')!;
    const c = workload(col).template.spec.containers[0]!;
    expect(c.startupProbe && c.livenessProbe && c.readinessProbe).toBeTruthy();
    const pdb = byKind('PodDisruptionBudget').find((p) => p.metadata.name === 'llmeter-collector')!;
    const pdbSpec = pdb.spec as { selector: { matchLabels: Record<string, string> }; minAvailable?: unknown; maxUnavailable?: unknown };
    expect((pdbSpec.minAvailable === undefined) !== (pdbSpec.maxUnavailable === undefined)).toBe(true);
    expect(pdbSpec.selector.matchLabels).toEqual(workload(col).selector.matchLabels);

    const premium = workload(find('Deployment', 'ollama-premium')!).template.spec;
    const pc = premium.containers[0]!;
    expect(pc.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(premium.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    const req = premium.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions;
    expect(req).toContainEqual({ key: 'nvidia.com/gpu.present', operator: 'In', values: ['true'] });

    const standard = workload(find('Deployment', 'ollama-standard')!).template.spec;
    expect(standard.containers[0]!.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    expect(standard.tolerations ?? []).toEqual([]);
    const sreq = standard.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions;
    expect(sreq).toContainEqual({ key: 'nvidia.com/gpu.present', operator: 'DoesNotExist' });
  });

  it('NetworkPolicies: only the collector reaches Ollama; tenant namespaces each deny other namespaces', () => {
    const np = byKind('NetworkPolicy');
    const ollama = np.find((p) => p.metadata.name === 'ollama-from-proxy-only')!.spec as {
      podSelector: { matchLabels: Record<string, string> };
      ingress: { from: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown }[] }[];
    };
    expect(ollama.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'ollama' });
    const froms = ollama.ingress.flatMap((i) => i.from);
    expect(froms).toHaveLength(1);
    expect(froms[0]!.namespaceSelector).toBeUndefined();
    expect(froms[0]!.podSelector!.matchLabels).toEqual(workload(find('Deployment', 'llmeter-collector')!).selector.matchLabels);
    expect(np.some((p) => p.metadata.namespace === 'llmeter' && p.metadata.name === 'default-deny-ingress')).toBe(true);
    for (const ns of byKind('Namespace').filter((n) => n.metadata.labels?.['llmeter.io/tenant'])) {
      const own = np.filter((p) => p.metadata.namespace === ns.metadata.name);
      expect(own.length, ns.metadata.name).toBeGreaterThan(0);
      for (const p of own) {
        const ingress = (p.spec as { ingress?: { from?: Obj[] }[] }).ingress ?? [];
        for (const rule of ingress)
          for (const f of rule.from ?? []) expect(f.namespaceSelector, `${ns.metadata.name} admits another namespace`).toBeUndefined();
      }
    }
  });
});

describe('ScaledObjects (KEDA v2.20.2 CRD schema)', () => {
  const crd = parse(readFileSync(CRD, 'utf8')) as { spec: { versions: { name: string; schema: { openAPIV3Schema: Obj } }[] } };
  const schema = crd.spec.versions.find((v) => v.name === 'v1alpha1')!.schema.openAPIV3Schema;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  const scaled = byKind('ScaledObject');

  it('validates against the CRD schema (and the schema does reject a broken one)', () => {
    expect(scaled.map((s) => s.metadata.name).sort()).toEqual(['ollama-premium', 'ollama-standard']);
    for (const so of scaled) {
      const { file: _file, ...doc } = so;
      void _file;
      expect(validate(doc), `${so.file}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    const broken = structuredClone({ ...scaled[0]!, file: undefined }) as unknown as { spec: Obj; file?: string };
    delete broken.file;
    (broken.spec.triggers as Obj[])[0]!.metadata = { target: 4 };
    expect(validate(broken)).toBe(false);
    const noTarget = structuredClone(broken);
    delete noTarget.spec.scaleTargetRef;
    expect(validate(noTarget)).toBe(false);
  });

  it('premium scales to zero with an initialCooldownPeriod longer than the pool takes to start; triggers name real tiers of the collector', () => {
    const cfgMap = find('ConfigMap', 'llmeter-config')!;
    const raw = parse(cfgMap.data!['llmeter.yaml']!) as Obj;
    const auto = autoscaleConfigSchema.parse(raw.autoscale);
    const collectorSvc = find('Service', 'llmeter-collector')!;
    const grpcPort = (collectorSvc.spec as { ports: { name: string; port: number }[] }).ports.find((p) => p.name === 'grpc-scaler')!.port;
    for (const so of scaled) {
      const spec = so.spec as {
        scaleTargetRef: { name: string; kind?: string };
        minReplicaCount?: number;
        initialCooldownPeriod?: number;
        triggers: { type: string; metadata: Record<string, string> }[];
      };
      const target = find(spec.scaleTargetRef.kind ?? 'Deployment', spec.scaleTargetRef.name, so.metadata.namespace);
      expect(target, `${so.metadata.name} targets a missing Deployment`).toBeDefined();
      for (const t of spec.triggers.filter((x) => x.type === 'external' || x.type === 'external-push')) {
        expect(auto.tiers.map((x) => x.name)).toContain(t.metadata.tier);
        // The scaler's own parser accepts the metadata (metric, model, pricing, target).
        expect(
          () => parseTrigger({ name: so.metadata.name, namespace: so.metadata.namespace!, scalerMetadata: t.metadata }, tiers(auto)),
          `${so.metadata.name}: ${JSON.stringify(t.metadata)}`,
        ).not.toThrow();
        expect(t.metadata.scalerAddress).toBe(`llmeter-collector.llmeter.svc.cluster.local:${grpcPort}`);
        expect(Number(t.metadata.target)).toBeGreaterThan(0);
      }
      for (const t of spec.triggers.filter((x) => x.type === 'prometheus'))
        expect(t.metadata.query).toMatch(/llmeter_autoscale_\w+\{tier="(premium|standard)",model="\*"\}/);
    }
    const premium = scaled.find((s) => s.metadata.name === 'ollama-premium')!.spec as {
      minReplicaCount: number;
      initialCooldownPeriod: number;
      triggers: { type: string }[];
    };
    expect(premium.minReplicaCount).toBe(0);
    expect(premium.triggers.map((t) => t.type)).toContain('external-push');
    const probe = workload(find('Deployment', 'ollama-premium')!).template.spec.containers[0]!.startupProbe!;
    const startBudgetS = probe.periodSeconds * probe.failureThreshold;
    expect(premium.initialCooldownPeriod).toBeGreaterThan(startBudgetS);
    // The proxy holds the first request at least as long as the pool may take to start.
    const proxy = raw.proxy as { activation: { timeout_ms: number; upstreams: string[] } };
    expect(proxy.activation.timeout_ms / 1000).toBeGreaterThanOrEqual(startBudgetS);
    expect(proxy.activation.upstreams).toEqual(auto.tiers.find((t) => t.name === 'premium')!.upstreams);
  });
});

describe('llmeter configurations in deploy/', () => {
  const configs: [string, string][] = [
    ...byKind('ConfigMap')
      .filter((c) => c.data?.['llmeter.yaml'])
      .map((c): [string, string] => [`${c.file}:${c.metadata.name}`, c.data!['llmeter.yaml']!]),
    ['deploy/compose/llmeter.yaml', readFileSync(path.join(ROOT, 'deploy/compose/llmeter.yaml'), 'utf8')],
  ];

  it.each(configs)('%s validates against the config schema', (_name, text) => {
    const raw = parse(text) as Obj;
    // The autoscale section is validated by its own schema (and by the whole schema once it is part of it).
    const { autoscale, ...rest } = raw;
    const cfg = configSchema.parse(rest);
    if (autoscale !== undefined) {
      const auto = autoscaleConfigSchema.parse(autoscale);
      const names = new Set(cfg.proxy.upstreams.map((u) => u.name));
      for (const t of auto.tiers) for (const u of t.upstreams) expect(names.has(u), `tier ${t.name}: upstream ${u}`).toBe(true);
    }
    expect(cfg.http.listen.startsWith('0.0.0.0:')).toBe(true);
  });
});

describe('deploy/compose', () => {
  const compose = parse(readFileSync(path.join(ROOT, 'deploy/compose/compose.yaml'), 'utf8')) as {
    services: Record<
      string,
      { image?: string; build?: Obj; depends_on?: Record<string, unknown>; networks?: string[]; environment?: Record<string, string>; volumes?: string[] }
    >;
    networks: Record<string, { internal?: boolean } | null>;
    volumes: Record<string, unknown>;
  };

  it('runs Ollama, Open WebUI, llmeter, ClickHouse and Grafana, with Ollama reachable only through llmeter', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['clickhouse', 'grafana', 'llmeter', 'ollama', 'open-webui']);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.image, name).toMatch(/^[a-z0-9./-]+:[\w.-]+$/);
      for (const d of Object.keys(s.depends_on ?? {})) expect(compose.services[d], `${name} depends on ${d}`).toBeDefined();
      for (const n of s.networks ?? []) expect(n in compose.networks, `${name}: network ${n}`).toBe(true);
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('.')) continue;
        expect(src in compose.volumes, `${name}: volume ${src}`).toBe(true);
      }
    }
    const onModels = Object.entries(compose.services)
      .filter(([, s]) => s.networks?.includes('models'))
      .map(([n]) => n)
      .sort();
    expect(onModels).toEqual(['llmeter', 'ollama']);
    expect(compose.networks.models?.internal).toBe(true);
    expect(compose.services['open-webui']!.environment!.OLLAMA_BASE_URL).toBe('http://llmeter:11435');
    const proxyListen = (parse(readFileSync(path.join(ROOT, 'deploy/compose/llmeter.yaml'), 'utf8')) as { proxy: { listen: string } }).proxy.listen;
    expect(proxyListen.endsWith(':11435')).toBe(true);
  });

  it('mounts paths that exist in the repository', () => {
    const base = path.join(ROOT, 'deploy/compose');
    for (const s of Object.values(compose.services)) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (!src.startsWith('.')) continue;
        expect(existsSync(path.resolve(base, src)), src).toBe(true);
      }
    }
  });
});
