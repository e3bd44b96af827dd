// deploy/kubernetes checked without a cluster. Every layout is built with kustomize as `kubectl apply
// -k` builds it, and every object it makes is validated: built-in objects against the Kubernetes
// API's OpenAPI models (k8s-models.ts), ScaledObjects against KEDA's CRD schema (v2.20.2), the
// Prometheus Operator's objects against its API's schemas (@kubernetes-models/prometheus-operator),
// and all of them structurally (selectors that select their pods, ports that exist, resources and
// security contexts on every container, what the collector may read and what it is configured to
// read). The llmeter configurations they carry are checked by configs.int.test.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { configSchema } from '../../collector/app/config-schema.ts';
import type { AutoscaleConfig } from '../../collector/features/autoscale/config.ts';
import { parseTrigger } from '../../collector/features/autoscale/scaler.ts';
import { ScalerMetrics } from '../../collector/features/autoscale/scaler-metrics.ts';
import { ProxyState } from '../../exporters/proxy/state.ts';
import { renderPrometheusRule } from '../../scripts/gen-prometheus-rule.ts';
import { check, modelName } from './k8s-models.ts';
import { kustomizeBuild, LAYOUTS, type K8sObject, type Layout } from './kustomize.ts';
import { FIXTURES, ROOT } from '../helpers/paths.ts';

const K8S = path.join(ROOT, 'deploy/kubernetes');
const CRD = path.join(FIXTURES, 'keda/keda.sh_scaledobjects.v2.20.2.yaml');

type Obj = Record<string, unknown>;

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
  ClusterRole: ['rbac.authorization.k8s.io/v1'],
  ClusterRoleBinding: ['rbac.authorization.k8s.io/v1'],
  ScaledObject: ['keda.sh/v1alpha1'],
  ExternalSecret: ['external-secrets.io/v1'],
  ServiceMonitor: ['monitoring.coreos.com/v1'],
  PodMonitor: ['monitoring.coreos.com/v1'],
  PrometheusRule: ['monitoring.coreos.com/v1'],
  Kafka: ['kafka.strimzi.io/v1beta2'],
  KafkaNodePool: ['kafka.strimzi.io/v1beta2'],
  ClickHouseInstallation: ['clickhouse.altinity.com/v1'],
  ClickHouseKeeperInstallation: ['clickhouse-keeper.altinity.com/v1'],
};
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Obj;
  livenessProbe?: Obj;
  readinessProbe?: Obj;
  startupProbe?: { periodSeconds: number; failureThreshold: number };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Obj;
  tolerations?: { key: string; operator: string; effect?: string }[];
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values?: string[] }[] }[] };
    };
  };
  volumes?: { name: string; configMap?: { name: string } }[];
}
type Workload = {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
};
const workload = (o: K8sObject) => o.spec as unknown as Workload;
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The tiers of a configuration, as the scaler sees them. */
function tiers(auto: AutoscaleConfig): ScalerMetrics {
  const upstreams = auto.tiers.flatMap((t) => t.upstreams).map((name) => ({ name, node: name }));
  return new ScalerMetrics({ config: auto, state: new ProxyState(), upstreams, registry: new Registry() });
}

const builds = new Map<Layout, K8sObject[]>();
function built(layout: Layout): K8sObject[] {
  if (!builds.has(layout)) builds.set(layout, kustomizeBuild(path.join(K8S, layout)));
  return builds.get(layout)!;
}

describe.each(LAYOUTS)('deploy/kubernetes/%s', (layout) => {
  const objects = () => built(layout);
  const byKind = (kind: string) => objects().filter((o) => o.kind === kind);
  const find = (kind: string, name: string, ns = 'llmeter') =>
    objects().find((o) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? '') === (CLUSTER_SCOPED.has(kind) ? '' : ns));
  const collectorConfig = () => configSchema.parse(parse(find('ConfigMap', 'llmeter-config')!.data!['llmeter.yaml']!));
  const collectorPod = () => workload(find('Deployment', 'llmeter-collector')!).template.spec;

  it('builds with kustomize (kubectl apply -k); every object has a known apiVersion, a kind, a name and (unless cluster-scoped) a namespace', () => {
    expect(objects().length).toBeGreaterThan(20);
    for (const o of objects()) {
      const what = `${o.kind} ${o.metadata?.name}`;
      expect(API[o.kind], `unexpected kind ${o.kind}`).toBeDefined();
      expect(API[o.kind], what).toContain(o.apiVersion);
      expect(o.metadata?.name, what).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, what).toBeUndefined();
      else expect(o.metadata.namespace, what).toBeTruthy();
      const ns = o.metadata.namespace;
      if (ns) expect(find('Namespace', ns), `${what}: namespace ${ns} is not defined`).toBeDefined();
    }
    const keys = objects().map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    // The image is the one kustomization.yaml names, in every container that runs llmeter.
    for (const o of [...byKind('Deployment'), ...byKind('DaemonSet')])
      for (const c of [...(workload(o).template.spec.initContainers ?? []), ...workload(o).template.spec.containers])
        expect(c.image, `${o.metadata.name}/${c.name}`).not.toMatch(/^llmeter(:|$)/);
  });

  it('built-in objects have only fields the Kubernetes API has, with values of its types (and the check does catch a typo)', () => {
    // Every object of a core or *.k8s.io API group has a model; the rest are custom resources.
    for (const o of objects())
      expect(modelName(o.apiVersion, o.kind) !== undefined, `${o.apiVersion} ${o.kind}`).toBe(!o.apiVersion.includes('.') || o.apiVersion.includes('.k8s.io/'));
    const builtIn = objects().filter((o) => modelName(o.apiVersion, o.kind));
    expect(new Set(builtIn.map((o) => o.kind))).toContain('ClusterRole');
    for (const o of builtIn) expect(check(o, modelName(o.apiVersion, o.kind)!), `${o.kind} ${o.metadata.name}`).toEqual([]);
    const broken = structuredClone(find('Deployment', 'llmeter-collector')!) as unknown as { spec: { template: { spec: { containers: Obj[] } } } };
    const c = broken.spec.template.spec.containers[0]!;
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
      expect(s.selector?.matchLabels, o.metadata.name).toBeDefined();
      expect(matches(s.selector.matchLabels, s.template.metadata.labels), `${o.metadata.name}: selector`).toBe(true);
      const pod = s.template.spec;
      expect(pod.containers.length).toBeGreaterThan(0);
      const vols = new Set((pod.volumes ?? []).map((v) => v.name));
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const where = `${o.metadata.name}/${c.name}`;
        expect(c.image, where).toMatch(/^[a-z0-9./-]+(:[\w.-]+)?$/);
        expect(c.resources?.requests?.cpu, where).toBeTruthy();
        expect(c.resources?.requests?.memory, where).toBeTruthy();
        expect(c.resources?.limits?.memory, where).toBeTruthy();
        expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
        expect((c.securityContext?.capabilities as { drop?: string[] })?.drop, where).toEqual(['ALL']);
        for (const m of c.volumeMounts ?? []) expect(vols.has(m.name), `${where}: volume ${m.name}`).toBe(true);
      }
      for (const c of pod.containers) {
        expect(c.livenessProbe, `${o.metadata.name}/${c.name}`).toBeDefined();
        expect(c.readinessProbe, `${o.metadata.name}/${c.name}`).toBeDefined();
      }
      for (const v of pod.volumes ?? [])
        if (v.configMap) expect(find('ConfigMap', v.configMap.name, o.metadata.namespace), `${o.metadata.name}: ConfigMap ${v.configMap.name}`).toBeDefined();
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
      const target = pods.find((p) => p.ns === svc.metadata.namespace && matches(spec.selector, p.labels));
      expect(target, `Service ${svc.metadata.name} selects nothing`).toBeDefined();
      for (const p of spec.ports)
        if (typeof p.targetPort === 'string')
          expect(
            target!.ports.map((x) => x.name),
            `${svc.metadata.name}:${p.targetPort}`,
          ).toContain(p.targetPort);
    }
  });

  it('the collector may list nodes and pods, mounts its token, and runs the Kubernetes inventory and a price source', () => {
    const pod = collectorPod();
    expect(pod.automountServiceAccountToken).toBe(true);
    const sa = find('ServiceAccount', pod.serviceAccountName!);
    expect(sa, `ServiceAccount ${pod.serviceAccountName}`).toBeDefined();
    expect((sa as { automountServiceAccountToken?: boolean }).automountServiceAccountToken).not.toBe(false);
    // What exporters/scrape/inventory/kubernetes.ts calls: listNode, and listPodForAllNamespaces.
    const bindings = byKind('ClusterRoleBinding').filter((b) =>
      (b as { subjects?: { kind: string; name: string; namespace?: string }[] }).subjects?.some(
        (s) => s.kind === 'ServiceAccount' && s.name === pod.serviceAccountName && s.namespace === 'llmeter',
      ),
    );
    const rules = bindings.flatMap((b) => {
      const ref = (b as unknown as { roleRef: { kind: string; name: string } }).roleRef;
      expect(ref.kind).toBe('ClusterRole');
      const role = find('ClusterRole', ref.name);
      expect(role, `ClusterRole ${ref.name}`).toBeDefined();
      return (role as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules;
    });
    const may = (resource: string, verb: string) => rules.some((r) => r.apiGroups.includes('') && r.resources.includes(resource) && r.verbs.includes(verb));
    expect(may('nodes', 'list')).toBe(true);
    expect(may('pods', 'list')).toBe(true);
    // Read-only: nothing it could change.
    for (const r of rules) for (const v of r.verbs) expect(['get', 'list', 'watch']).toContain(v);

    const cfg = collectorConfig();
    expect(cfg.scrape.enabled).toBe(true);
    expect(cfg.scrape.inventory.enabled).toBe(true);
    expect(cfg.scrape.inventory.kubernetes).toMatchObject({ enabled: true, in_cluster: true });
    expect(cfg.prices.enabled).toBe(true);
    const sources = Object.entries(cfg.prices.sources).filter(([name, s]) => name !== 'book' && (s as { enabled: boolean }).enabled);
    expect(sources.length, 'a price feed').toBeGreaterThan(0);
  });

  it("each upstream names the node that answered: its Service's pods carry a sidecar that sets the upstream's node_header from spec.nodeName, and only the collector reaches it", () => {
    const cfg = collectorConfig();
    expect(cfg.proxy.upstreams.length).toBeGreaterThan(0);
    const collectorLabels = workload(find('Deployment', 'llmeter-collector')!).template.metadata.labels;
    for (const u of cfg.proxy.upstreams) {
      expect(u.node_header, u.name).toBeTruthy();
      const url = new URL(u.url);
      const [svcName, svcNs] = url.hostname.split('.');
      const svc = find('Service', svcName!, svcNs)!;
      expect(svc, `${u.name}: Service ${url.hostname}`).toBeDefined();
      const spec = svc.spec as { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
      const port = spec.ports.find((p) => p.port === Number(url.port))!;
      const w = [...byKind('Deployment')].find((d) => matches(spec.selector, workload(d).template.metadata.labels))!;
      const pod = workload(w).template.spec;
      const sidecar = pod.containers.find((c) => c.ports?.some((p) => p.name === port.targetPort))!;
      expect(sidecar, `${u.name}: the container behind ${port.targetPort}`).toBeDefined();
      const containerPort = sidecar.ports!.find((p) => p.name === port.targetPort)!.containerPort;
      expect(sidecar.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
      // Its nginx template listens there, passes to the pod's Ollama and sets the header the upstream reads.
      const templateVolume = pod.volumes!.find((v) => v.name === sidecar.volumeMounts!.find((m) => m.mountPath === '/etc/nginx/templates')!.name)!;
      const template = Object.values(find('ConfigMap', templateVolume.configMap!.name)!.data!)[0]!;
      expect(template).toContain(`listen ${containerPort};`);
      const ollamaPort = pod.containers.find((c) => c !== sidecar)!.ports!.find((p) => p.name === 'ollama')!.containerPort;
      expect(template).toContain(`proxy_pass http://127.0.0.1:${ollamaPort};`);
      expect(template.toLowerCase()).toContain(`add_header ${u.node_header!.toLowerCase()} "\${node_name}" always;`);
      // The NetworkPolicy lets the collector in on the sidecar's port, and only there.
      const np = byKind('NetworkPolicy').find((p) => p.metadata.name === 'ollama-from-proxy-only')!.spec as {
        podSelector: { matchLabels: Record<string, string> };
        ingress: { from: { podSelector: { matchLabels: Record<string, string> } }[]; ports: { port: number }[] }[];
      };
      expect(matches(np.podSelector.matchLabels, workload(w).template.metadata.labels)).toBe(true);
      expect(np.ingress.flatMap((r) => r.ports.map((p) => p.port))).toEqual([containerPort]);
      expect(np.ingress.every((r) => r.from.every((f) => matches(f.podSelector.matchLabels, collectorLabels)))).toBe(true);
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
    expect(premium.containers[0]!.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(premium.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    const req = premium.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions;
    expect(req).toContainEqual({ key: 'nvidia.com/gpu.present', operator: 'In', values: ['true'] });

    const standard = workload(find('Deployment', 'ollama-standard')!).template.spec;
    expect(standard.containers[0]!.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    expect(standard.tolerations ?? []).toEqual([]);
    const sreq = standard.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions;
    expect(sreq).toContainEqual({ key: 'nvidia.com/gpu.present', operator: 'DoesNotExist' });
  });

  it('NetworkPolicies: only the collector reaches Ollama; Prometheus reaches what it scrapes; tenant namespaces each deny other namespaces', () => {
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
    // Everything a ServiceMonitor or PodMonitor scrapes in the default-deny namespace admits the
    // monitoring namespace on that port.
    const admitsMonitoring = (labels: Record<string, string>, port: number) =>
      np.some((p) => {
        const spec = p.spec as {
          podSelector: { matchLabels?: Record<string, string> };
          ingress?: { from?: { namespaceSelector?: { matchLabels?: Record<string, string> } }[]; ports?: { port: number }[] }[];
        };
        if (p.metadata.namespace !== 'llmeter' || !matches(spec.podSelector.matchLabels ?? {}, labels)) return false;
        return (spec.ingress ?? []).some(
          (r) =>
            (r.from ?? []).some((f) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring') &&
            (r.ports ?? []).some((x) => x.port === port),
        );
      });
    for (const target of scrapeTargets()) expect(admitsMonitoring(target.labels, target.port), `${target.monitor} → port ${target.port}`).toBe(true);
  });

  /** The pods each ServiceMonitor/PodMonitor scrapes, with the container port it scrapes. */
  function scrapeTargets(): { monitor: string; labels: Record<string, string>; port: number; job: string }[] {
    const workloads = [...byKind('Deployment'), ...byKind('DaemonSet')];
    const out: { monitor: string; labels: Record<string, string>; port: number; job: string }[] = [];
    for (const sm of byKind('ServiceMonitor')) {
      const spec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
      const services = byKind('Service').filter((s) => s.metadata.namespace === sm.metadata.namespace && matches(spec.selector.matchLabels, s.metadata.labels));
      expect(services.length, `ServiceMonitor ${sm.metadata.name} selects no Service`).toBe(1);
      const svc = services[0]!.spec as { selector: Record<string, string>; ports: { name: string; targetPort: string }[] };
      for (const ep of spec.endpoints) {
        const port = svc.ports.find((p) => p.name === ep.port);
        expect(port, `ServiceMonitor ${sm.metadata.name}: Service port ${ep.port}`).toBeDefined();
        const w = workloads.find((x) => matches(svc.selector, workload(x).template.metadata.labels))!;
        const cport = workload(w)
          .template.spec.containers.flatMap((c) => c.ports ?? [])
          .find((p) => p.name === port!.targetPort)!;
        out.push({
          monitor: `ServiceMonitor ${sm.metadata.name}`,
          labels: workload(w).template.metadata.labels,
          port: cport.containerPort,
          job: services[0]!.metadata.name,
        });
      }
    }
    for (const pm of byKind('PodMonitor')) {
      const spec = pm.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
      const w = workloads.find(
        (x) => x.metadata.namespace === pm.metadata.namespace && matches(spec.selector.matchLabels, workload(x).template.metadata.labels),
      );
      expect(w, `PodMonitor ${pm.metadata.name} selects no pods`).toBeDefined();
      for (const ep of spec.podMetricsEndpoints) {
        const cport = workload(w!)
          .template.spec.containers.flatMap((c) => c.ports ?? [])
          .find((p) => p.name === ep.port);
        expect(cport, `PodMonitor ${pm.metadata.name}: port ${ep.port}`).toBeDefined();
        out.push({
          monitor: `PodMonitor ${pm.metadata.name}`,
          labels: workload(w!).template.metadata.labels,
          port: cport!.containerPort,
          job: `${pm.metadata.namespace}/${pm.metadata.name}`,
        });
      }
    }
    return out;
  }

  it('Prometheus Operator objects validate against its API schemas (and a broken one is refused); the collector is scraped under a job the alert rules match', () => {
    const models = { ServiceMonitor, PodMonitor, PrometheusRule } as const;
    for (const o of objects().filter((x) => x.apiVersion === 'monitoring.coreos.com/v1')) {
      const Model = models[o.kind as keyof typeof models];
      expect(Model, o.kind).toBeDefined();
      expect(() => new Model(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
    const sm = structuredClone(find('ServiceMonitor', 'llmeter-collector')!) as unknown as { spec: { endpoints: Obj[] } };
    sm.spec.endpoints[0]!.interval = 'every 15 seconds';
    expect(() => new ServiceMonitor(sm as never).validate()).toThrow(/interval/);

    const targets = scrapeTargets();
    expect(targets.some((t) => matches(workload(find('Deployment', 'llmeter-collector')!).selector.matchLabels, t.labels) && t.port === 9464)).toBe(true);
    const targetDown = /up\{job=~"([^"]+)"\}/.exec(renderPrometheusRule())![1]!;
    for (const t of targets) expect(t.job, t.monitor).toMatch(new RegExp(`^(?:${targetDown})$`));
  });

  it('the PrometheusRule carries alerts/*.rules.yml exactly as generated (run: node scripts/gen-prometheus-rule.ts)', () => {
    const committed = readFileSync(path.join(K8S, 'base/prometheusrule.yaml'), 'utf8');
    expect(committed).toBe(renderPrometheusRule());
    const rule = find('PrometheusRule', 'llmeter')!;
    expect(rule.spec).toEqual((parse(renderPrometheusRule()) as { spec: unknown }).spec);
    const alerts = (rule.spec as { groups: { rules: { alert?: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toContain('LlmeterTargetDown');
  });

  describe('ScaledObjects (KEDA v2.20.2 CRD schema)', () => {
    const crd = parse(readFileSync(CRD, 'utf8')) as { spec: { versions: { name: string; schema: { openAPIV3Schema: Obj } }[] } };
    const schema = crd.spec.versions.find((v) => v.name === 'v1alpha1')!.schema.openAPIV3Schema;
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const scaled = () => byKind('ScaledObject');

    it('validates against the CRD schema (and the schema does reject a broken one)', () => {
      expect(
        scaled()
          .map((s) => s.metadata.name)
          .sort(),
      ).toEqual(['ollama-premium', 'ollama-standard']);
      for (const so of scaled()) expect(validate(so), `${so.metadata.name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      const broken = structuredClone(scaled()[0]!) as unknown as { spec: Obj };
      (broken.spec.triggers as Obj[])[0]!.metadata = { target: 4 };
      expect(validate(broken)).toBe(false);
      const noTarget = structuredClone(broken);
      delete noTarget.spec.scaleTargetRef;
      expect(validate(noTarget)).toBe(false);
    });

    it('premium scales to zero and the proxy holds its first request as long as the pool may take to start; triggers name real tiers of the collector', () => {
      const cfg = collectorConfig();
      const auto = cfg.autoscale;
      const collectorSvc = find('Service', 'llmeter-collector')!;
      const grpcPort = (collectorSvc.spec as { ports: { name: string; port: number }[] }).ports.find((p) => p.name === 'grpc-scaler')!.port;
      for (const so of scaled()) {
        const spec = so.spec as { scaleTargetRef: { name: string; kind?: string }; triggers: { type: string; metadata: Record<string, string> }[] };
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
        for (const t of spec.triggers.filter((x) => x.type === 'prometheus')) {
          expect(t.metadata.query).toMatch(/llmeter_autoscale_\w+\{tier="(premium|standard)",model="\*"\}/);
          // The Prometheus Operator's Service: the one its ServiceMonitors feed.
          expect(t.metadata.serverAddress).toMatch(/^http:\/\/prometheus-operated\.monitoring\.svc:9090$/);
        }
      }
      const premium = scaled().find((s) => s.metadata.name === 'ollama-premium')!.spec as { minReplicaCount: number; triggers: { type: string }[] };
      expect(premium.minReplicaCount).toBe(0);
      expect(premium.triggers.map((t) => t.type)).toContain('external-push');
      const probe = workload(find('Deployment', 'ollama-premium')!).template.spec.containers[0]!.startupProbe!;
      const startBudgetS = probe.periodSeconds * probe.failureThreshold;
      expect(cfg.proxy.activation.enabled).toBe(true);
      expect(cfg.proxy.activation.timeout_ms / 1000).toBeGreaterThanOrEqual(startBudgetS);
      expect(cfg.proxy.activation.upstreams).toEqual(auto.tiers.find((t) => t.name === 'premium')!.upstreams);
    });
  });
});

describe('deploy/kubernetes/overlays/scale-out', () => {
  const objects = () => built('overlays/scale-out');
  const find = (kind: string, name: string) => objects().find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === 'llmeter');

  it('the collector consumes Kafka from the Strimzi cluster and writes to the ClickHouse cluster', () => {
    const env = workload(find('Deployment', 'llmeter-collector')!).template.spec.containers[0]!.env ?? [];
    expect(env).toContainEqual({ name: 'LLMETER_TRANSPORT', value: 'kafka' });
    const cluster = env.find((e) => e.name === 'CLICKHOUSE_CLUSTER')?.value;
    const chi = find('ClickHouseInstallation', 'llmeter')!.spec as { configuration: { clusters: { name: string }[] } };
    expect(chi.configuration.clusters.map((c) => c.name)).toContain(cluster);
    const cfg = configSchema.parse(parse(find('ConfigMap', 'llmeter-config')!.data!['llmeter.yaml']!));
    const kafka = find('Kafka', 'llmeter')!;
    expect(cfg.transport.kafka.brokers).toEqual([`${kafka.metadata.name}-kafka-bootstrap.llmeter.svc:9092`]);
    // The operator's Service for an installation is clickhouse-<name>.
    expect(cfg.store.url).toBe(`http://clickhouse-${find('ClickHouseInstallation', 'llmeter')!.metadata.name}.llmeter.svc:8123`);
  });

  it('each DCGM scraper names the node it runs on (Downward API), publishes to Kafka, and may reach the brokers', () => {
    const ds = find('DaemonSet', 'dcgm-exporter')!;
    const pod = workload(ds).template.spec;
    const render = pod.initContainers!.find((c) => c.name === 'render-config')!;
    expect(render.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    // Run the init container's command as the pod would, on the ConfigMap's template.
    const template = find('ConfigMap', 'llmeter-dcgm-scraper')!.data!['llmeter.yaml']!;
    const script = render.command!.at(-1)!;
    const sed = /^sed "s\|(@\w+@)\|\$NODE_NAME\|g" (\S+) > (\S+)$/.exec(script);
    expect(sed, script).not.toBeNull();
    const rendered = template.replaceAll(sed![1]!, 'ip-10-0-1-17.ec2.internal');
    const cfg = configSchema.parse(parse(rendered));
    expect(cfg.scrape.targets.map((t) => t.node)).toEqual(['ip-10-0-1-17.ec2.internal']);
    expect(cfg.transport).toMatchObject({ kind: 'kafka', kafka: { consume: false } });
    // The scraper reads the file the init container writes, from a volume both mount.
    const scraper = pod.containers.find((c) => c.name === 'scraper')!;
    const mountOf = (c: Container, file: string) => c.volumeMounts!.find((m) => file.startsWith(`${m.mountPath}/`))?.name;
    expect(mountOf(render, sed![3]!)).toBeDefined();
    expect(mountOf(scraper, scraper.args!.at(-1)!)).toBe(mountOf(render, sed![3]!));
    const templateVolume = pod.volumes!.find((v) => v.name === mountOf(render, sed![2]!))!;
    expect(templateVolume.configMap?.name).toBe('llmeter-dcgm-scraper');
    // The brokers admit the scrapers.
    const kafkaPolicy = objects().find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'kafka-from-llmeter')!.spec as {
      ingress: { from: { podSelector: { matchLabels: Record<string, string> } }[] }[];
    };
    expect(kafkaPolicy.ingress.flatMap((r) => r.from).some((f) => matches(f.podSelector.matchLabels, workload(ds).template.metadata.labels))).toBe(true);
  });
});
