// Who a dcgm-exporter series is about, read from whichever spelling of each label the exporter
// version uses: UUID/uuid, Hostname/hostname, modelName, pci_bus_id, GPU_I_ID/GPU_I_PROFILE for MIG slices,
// the driver label (DCGM_FI_DRIVER_VERSION, formerly driver_version), and pod attribution
// (namespace/pod/container, or pod_namespace/pod_name/container_name on early 2.x) — absent and
// empty both mean "no pod".
import type { Labels } from '../prometheus/parse.ts';

export interface GpuIdentity {
  uuid: string;
  /** GPU index on the node, or undefined when absent or out of range. */
  index: number | undefined;
  model: string;
  migInstance: string;
  migProfile: string;
  /** PCI bus id (`00000000:3B:00.0`), the name node-level tools (nvidia-smi, lspci) give the GPU; empty when absent. */
  pciBusId: string;
  /** `uuid`, or `uuid/migInstance` for a MIG slice: what one row per field is kept for. */
  entity: string;
  hostname: string;
  driver: string;
  namespace: string;
  pod: string;
  container: string;
  /** Labels not part of the identity (e.g. `xid` on DCGM_EXP_XID_ERRORS_COUNT), as key=value. */
  extra: string;
  /** Series of a non-GPU entity (NVSwitch, CPU, NVLink-only), which gpu_metrics does not hold. */
  nonGpu: boolean;
}

const IDENTITY_LABELS = new Set([
  'gpu',
  'UUID',
  'uuid',
  'device',
  'pci_bus_id',
  'modelName',
  'modelname',
  'model_name',
  'Hostname',
  'hostname',
  'GPU_I_ID',
  'GPU_I_PROFILE',
  'gpu_i_id',
  'gpu_i_profile',
  'DCGM_FI_DRIVER_VERSION',
  'driver_version',
  'DCGM_FI_NVML_VERSION',
  'namespace',
  'pod',
  'container',
  'pod_namespace',
  'pod_name',
  'container_name',
  'pod_uid',
  'vgpu',
  'exported_namespace',
  'exported_pod',
  'exported_container',
  'err_code',
  'err_msg',
  'instance',
  'job',
  'DCGM_FI_DEV_BRAND',
  'DCGM_FI_DEV_SERIAL',
  'DCGM_FI_DEV_OEM_INFOROM_VER',
  'DCGM_FI_DEV_ECC_INFOROM_VER',
  'DCGM_FI_DEV_POWER_INFOROM_VER',
  'DCGM_FI_DEV_INFOROM_IMAGE_VER',
  'DCGM_FI_DEV_VBIOS_VERSION',
  'DCGM_FI_DEV_NAME',
]);

const NON_GPU_LABELS = ['nvswitch', 'cpu', 'cpucore', 'nvlink'];

function pick(l: Labels, a: string, b?: string, c?: string): string {
  const v = l[a];
  if (v) return v;
  if (b !== undefined) {
    const w = l[b];
    if (w) return w;
  }
  if (c !== undefined) {
    const x = l[c];
    if (x) return x;
  }
  return '';
}

// Label sets are shared objects across scrapes (the parser's cache), so identities are too.
const cache = new WeakMap<Labels, GpuIdentity>();

export function identityOf(l: Labels): GpuIdentity {
  const hit = cache.get(l);
  if (hit) return hit;
  const idx = l.gpu;
  const n = idx !== undefined && /^\d{1,3}$/.test(idx) ? Number(idx) : undefined;
  let extra = '';
  let nonGpu = false;
  const uuid = pick(l, 'UUID', 'uuid');
  for (const k of Object.keys(l)) {
    if (IDENTITY_LABELS.has(k)) continue;
    if (NON_GPU_LABELS.includes(k) && !uuid) nonGpu = true;
    extra += (extra ? ',' : '') + `${k}=${l[k]}`;
  }
  const migInstance = pick(l, 'GPU_I_ID', 'gpu_i_id');
  const id: GpuIdentity = {
    uuid,
    entity: migInstance ? `${uuid}/${migInstance}` : uuid,
    index: n !== undefined && n <= 255 ? n : undefined,
    model: pick(l, 'modelName', 'modelname', 'model_name'),
    pciBusId: pick(l, 'pci_bus_id'),
    migInstance,
    migProfile: pick(l, 'GPU_I_PROFILE', 'gpu_i_profile'),
    hostname: pick(l, 'Hostname', 'hostname'),
    driver: pick(l, 'DCGM_FI_DRIVER_VERSION', 'driver_version'),
    namespace: pick(l, 'namespace', 'pod_namespace', 'exported_namespace'),
    pod: pick(l, 'pod', 'pod_name', 'exported_pod'),
    container: pick(l, 'container', 'container_name', 'exported_container'),
    extra,
    nonGpu,
  };
  if (Object.isFrozen(l)) cache.set(l, id);
  return id;
}
