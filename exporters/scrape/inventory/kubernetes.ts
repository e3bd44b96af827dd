// Reads nodes (and, on demand, the node a pod runs on) from the Kubernetes API through the official
// client. Credentials come from the pod's service account, a kubeconfig file, or an API URL with a
// token file — whichever the configuration names.
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { InventoryConfig } from '../config.ts';
import type { NodeFacts } from './labels.ts';

type KubeSettings = InventoryConfig['kubernetes'];

export function kubeConfigFrom(k: KubeSettings): KubeConfig {
  const kc = new KubeConfig();
  if (k.in_cluster) kc.loadFromCluster();
  else if (k.api_url) {
    const token = k.token_file ? readFileSync(k.token_file, 'utf8').trim() : undefined;
    kc.loadFromClusterAndUser(
      // A plain-http URL (kubectl proxy on loopback) has no TLS to verify; the client insists on the flag.
      { name: 'llmeter', server: k.api_url, skipTLSVerify: k.api_url.startsWith('http:'), ...(k.ca_file ? { caFile: k.ca_file } : {}) },
      { name: 'llmeter', ...(token ? { token } : {}) },
    );
  } else if (k.kubeconfig) kc.loadFromFile(k.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

export class KubernetesNodes {
  private readonly api: CoreV1Api;
  private readonly selector: string;

  constructor(kc: KubeConfig, labelSelector: string) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.selector = labelSelector;
  }

  /** Every node (matching the selector), page by page. */
  async list(): Promise<NodeFacts[]> {
    const out: NodeFacts[] = [];
    let cont: string | undefined;
    do {
      const page = await this.api.listNode({ limit: 500, ...(this.selector ? { labelSelector: this.selector } : {}), ...(cont ? { _continue: cont } : {}) });
      for (const n of page.items) out.push(factsOf(n));
      cont = page.metadata?._continue || undefined;
    } while (cont && out.length < 100_000);
    return out;
  }

  /** The node a pod of this name runs on (any namespace), or undefined when no such pod. */
  async nodeOfPod(podName: string): Promise<string | undefined> {
    const pods = await this.api.listPodForAllNamespaces({ fieldSelector: `metadata.name=${podName}`, limit: 5 });
    return pods.items.find((p) => p.spec?.nodeName)?.spec?.nodeName;
  }
}

function factsOf(n: V1Node): NodeFacts {
  const gpu = n.status?.capacity?.['nvidia.com/gpu'];
  return {
    name: n.metadata?.name ?? '',
    labels: { ...(n.metadata?.labels ?? {}) },
    providerID: n.spec?.providerID,
    gpuCapacity: gpu === undefined ? undefined : String(gpu),
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  };
}
