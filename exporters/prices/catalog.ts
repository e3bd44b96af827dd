// GPU instance tables: GPU model and count per instance type (for usd_per_gpu_hour), and the
// maintained AWS on-demand table. AWS rows come from a dated public snapshot (Vantage, us-east-1,
// Linux, 2026-01; see docs/prices.md); the configuration's `prices.gpus` adds or overrides entries.

export interface GpuInfo {
  model: string;
  count: number;
}

export interface AwsTableRow extends GpuInfo {
  instanceType: string;
  /** On-demand $/h in us-east-1 (Linux, shared tenancy); empty when AWS publishes none. */
  usdPerHour: string;
}

export const AWS_TABLE_DATE = '2026-01-01T00:00:00Z';

// instance_type, gpu_model, gpu_count, on_demand_usd_per_hour_us_east_1_linux
const AWS_ROWS = `
p6-b200.48xlarge,NVIDIA B200 Blackwell,8,113.9328
p5en.48xlarge,NVIDIA H200,8,63.296
p5e.48xlarge,NVIDIA H200,8,
p5.48xlarge,NVIDIA H100,8,55.04
p5.4xlarge,NVIDIA H100,1,6.88
p4de.24xlarge,NVIDIA A100,8,27.44705
p4d.24xlarge,NVIDIA A100,8,21.957642
p3dn.24xlarge,NVIDIA V100,8,31.212
p3.16xlarge,NVIDIA V100,8,24.48
p3.8xlarge,NVIDIA V100,4,12.24
p3.2xlarge,NVIDIA V100,1,3.06
g6e.xlarge,NVIDIA L40S,1,1.861
g6e.2xlarge,NVIDIA L40S,1,2.24208
g6e.4xlarge,NVIDIA L40S,1,3.00424
g6e.8xlarge,NVIDIA L40S,1,4.52856
g6e.16xlarge,NVIDIA L40S,1,7.57719
g6e.12xlarge,NVIDIA L40S,4,10.49264
g6e.24xlarge,NVIDIA L40S,4,15.06559
g6e.48xlarge,NVIDIA L40S,8,30.13118
g6.xlarge,NVIDIA L4,1,0.8048
g6.2xlarge,NVIDIA L4,1,0.9776
g6.4xlarge,NVIDIA L4,1,1.3232
g6.8xlarge,NVIDIA L4,1,2.0144
g6.16xlarge,NVIDIA L4,1,3.3968
g6.12xlarge,NVIDIA L4,4,4.6016
g6.24xlarge,NVIDIA L4,4,6.6752
g6.48xlarge,NVIDIA L4,8,13.3504
g5.xlarge,NVIDIA A10G,1,1.006
g5.2xlarge,NVIDIA A10G,1,1.212
g5.4xlarge,NVIDIA A10G,1,1.624
g5.8xlarge,NVIDIA A10G,1,2.448
g5.16xlarge,NVIDIA A10G,1,4.096
g5.12xlarge,NVIDIA A10G,4,5.672
g5.24xlarge,NVIDIA A10G,4,8.144
g5.48xlarge,NVIDIA A10G,8,16.288
g4dn.xlarge,NVIDIA T4,1,0.526
g4dn.2xlarge,NVIDIA T4,1,0.752
g4dn.4xlarge,NVIDIA T4,1,1.204
g4dn.8xlarge,NVIDIA T4,1,2.176
g4dn.16xlarge,NVIDIA T4,1,4.352
g4dn.12xlarge,NVIDIA T4,4,3.912
g4dn.metal,NVIDIA T4,8,7.824
`;

export const AWS_TABLE: readonly AwsTableRow[] = AWS_ROWS.trim()
  .split('\n')
  .map((line) => {
    const [instanceType, model, count, usd] = line.split(',');
    return { instanceType: instanceType!, model: model!, count: Number(count), usdPerHour: usd ?? '' };
  });

// Azure GPU VM sizes (from Azure's size documentation).
const AZURE_GPUS: Record<string, GpuInfo> = {
  Standard_NC24ads_A100_v4: { model: 'NVIDIA A100 80GB PCIe', count: 1 },
  Standard_NC48ads_A100_v4: { model: 'NVIDIA A100 80GB PCIe', count: 2 },
  Standard_NC96ads_A100_v4: { model: 'NVIDIA A100 80GB PCIe', count: 4 },
  Standard_ND96asr_v4: { model: 'NVIDIA A100 40GB', count: 8 },
  Standard_ND96amsr_A100_v4: { model: 'NVIDIA A100 80GB', count: 8 },
  Standard_ND96isr_H100_v5: { model: 'NVIDIA H100 80GB', count: 8 },
  Standard_ND96isr_H200_v5: { model: 'NVIDIA H200', count: 8 },
  Standard_NC40ads_H100_v5: { model: 'NVIDIA H100 NVL', count: 1 },
  Standard_NC80adis_H100_v5: { model: 'NVIDIA H100 NVL', count: 2 },
  Standard_NC4as_T4_v3: { model: 'NVIDIA T4', count: 1 },
  Standard_NC8as_T4_v3: { model: 'NVIDIA T4', count: 1 },
  Standard_NC16as_T4_v3: { model: 'NVIDIA T4', count: 1 },
  Standard_NC64as_T4_v3: { model: 'NVIDIA T4', count: 4 },
  Standard_NV36ads_A10_v5: { model: 'NVIDIA A10', count: 1 },
  Standard_NV72ads_A10_v5: { model: 'NVIDIA A10', count: 2 },
};

const AWS_GPUS: Record<string, GpuInfo> = Object.fromEntries(AWS_TABLE.map((r) => [r.instanceType, { model: r.model, count: r.count }]));

/** GPU of an instance type: configuration first, then the built-in tables; count 0 when unknown. */
export class GpuCatalog {
  private readonly overrides: Record<string, GpuInfo>;
  constructor(overrides: Record<string, GpuInfo> = {}) {
    this.overrides = overrides;
  }

  lookup(instanceType: string): GpuInfo {
    return this.overrides[instanceType] ?? AWS_GPUS[instanceType] ?? AZURE_GPUS[instanceType] ?? { model: '', count: 0 };
  }
}
