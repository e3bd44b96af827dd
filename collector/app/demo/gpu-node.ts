// A SIMULATED GPU node: serves a dcgm-exporter-format /metrics page (the field names, label set and
// HELP/TYPE lines of dcgm-exporter's default counters) whose utilisation, memory, temperature and
// power follow the traffic of the simulated model servers on the node.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Prng } from './prng.ts';
import type { SimModelServer } from './model-server.ts';
import { gpuMemoryUsedMiB, gpuPowerW, gpuTemperatureAfter } from './serving.ts';

export interface SimGpuNodeOptions {
  node: string;
  gpuModel: string;
  /** Frame buffer size, MiB. */
  memoryMiB: number;
  /** Board power limit, W. */
  tdpW: number;
  idleW: number;
  uuid: string;
  servers: readonly SimModelServer[];
  prng: Prng;
}

export interface GpuReading {
  utilization: number;
  memoryUsedMiB: number;
  temperatureC: number;
  powerW: number;
  energyMj: number;
}

const FIELDS: readonly [string, 'gauge' | 'counter', string][] = [
  ['DCGM_FI_DEV_SM_CLOCK', 'gauge', 'SM clock frequency (in MHz).'],
  ['DCGM_FI_DEV_MEM_CLOCK', 'gauge', 'Memory clock frequency (in MHz).'],
  ['DCGM_FI_DEV_MEMORY_TEMP', 'gauge', 'Memory temperature (in C).'],
  ['DCGM_FI_DEV_GPU_TEMP', 'gauge', 'GPU temperature (in C).'],
  ['DCGM_FI_DEV_POWER_USAGE', 'gauge', 'Power draw (in W).'],
  ['DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 'counter', 'Total energy consumption since boot (in mJ).'],
  ['DCGM_FI_DEV_PCIE_REPLAY_COUNTER', 'counter', 'Total number of PCIe retries.'],
  ['DCGM_FI_DEV_GPU_UTIL', 'gauge', 'GPU utilization (in %).'],
  ['DCGM_FI_DEV_MEM_COPY_UTIL', 'gauge', 'Memory utilization (in %).'],
  ['DCGM_FI_DEV_ENC_UTIL', 'gauge', 'Encoder utilization (in %).'],
  ['DCGM_FI_DEV_DEC_UTIL', 'gauge', 'Decoder utilization (in %).'],
  ['DCGM_FI_DEV_XID_ERRORS', 'gauge', 'Value of the last XID error encountered.'],
  ['DCGM_FI_DEV_FB_FREE', 'gauge', 'Framebuffer memory free (in MiB).'],
  ['DCGM_FI_DEV_FB_TOTAL', 'gauge', 'Framebuffer memory total (in MiB).'],
  ['DCGM_FI_DEV_FB_USED', 'gauge', 'Framebuffer memory used (in MiB).'],
];

export class SimGpuNode {
  readonly options: SimGpuNodeOptions;
  private readonly server: Server;
  private lastAt = Date.now();
  private lastBusy = 0;
  private temp = 34;
  private energyMj = 0;
  private last: GpuReading;

  constructor(options: SimGpuNodeOptions) {
    this.options = options;
    this.energyMj = 1e9 + options.prng.int(0, 1e8);
    this.last = { utilization: 0, memoryUsedMiB: 430, temperatureC: this.temp, powerW: options.idleW, energyMj: this.energyMj };
    this.server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      const body = this.page();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  }

  async listen(host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    return `http://${host}:${(this.server.address() as AddressInfo).port}/metrics`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Advances the simulated GPU to now and returns its reading. */
  read(): GpuReading {
    const now = Date.now();
    const dt = Math.max(1, now - this.lastAt);
    let busy = 0;
    let resident = 0;
    for (const s of this.options.servers) {
      s.integrate(now);
      busy += s.activity.busyMs;
      resident += s.activity.residentBytes;
    }
    const rng = this.options.prng;
    const util = Math.max(0, Math.min(1, (busy - this.lastBusy) / dt));
    this.lastBusy = busy;
    this.lastAt = now;
    this.temp = gpuTemperatureAfter(this.temp, util, dt);
    const powerW = gpuPowerW(this.options, util, rng.next());
    this.energyMj += powerW * dt;
    const memoryUsedMiB = gpuMemoryUsedMiB(this.options.memoryMiB, resident, util);
    this.last = {
      utilization: Math.round(util * 100),
      memoryUsedMiB,
      temperatureC: Math.round(this.temp),
      powerW: Math.round(powerW * 1000) / 1000,
      energyMj: Math.round(this.energyMj),
    };
    return this.last;
  }

  get reading(): GpuReading {
    return this.last;
  }

  page(): string {
    const r = this.read();
    const o = this.options;
    const labels = `gpu="0",UUID="${o.uuid}",pci_bus_id="00000000:00:1E.0",device="nvidia0",modelName="${o.gpuModel}",Hostname="${o.node}",DCGM_FI_DRIVER_VERSION="570.172.08"`;
    const values: Record<string, number> = {
      DCGM_FI_DEV_SM_CLOCK: r.utilization > 0 ? 1710 : 210,
      DCGM_FI_DEV_MEM_CLOCK: r.utilization > 0 ? 6251 : 405,
      DCGM_FI_DEV_MEMORY_TEMP: 0,
      DCGM_FI_DEV_GPU_TEMP: r.temperatureC,
      DCGM_FI_DEV_POWER_USAGE: r.powerW,
      DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION: r.energyMj,
      DCGM_FI_DEV_PCIE_REPLAY_COUNTER: 0,
      DCGM_FI_DEV_GPU_UTIL: r.utilization,
      DCGM_FI_DEV_MEM_COPY_UTIL: Math.round(r.utilization * 0.6),
      DCGM_FI_DEV_ENC_UTIL: 0,
      DCGM_FI_DEV_DEC_UTIL: 0,
      DCGM_FI_DEV_XID_ERRORS: 0,
      DCGM_FI_DEV_FB_FREE: o.memoryMiB - r.memoryUsedMiB,
      DCGM_FI_DEV_FB_TOTAL: o.memoryMiB,
      DCGM_FI_DEV_FB_USED: r.memoryUsedMiB,
    };
    let out = '# SIMULATED dcgm-exporter page (llmeter demo): no real GPU behind it.\n';
    for (const [name, type, help] of FIELDS) out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}{${labels}} ${values[name]}\n`;
    return out;
  }
}
