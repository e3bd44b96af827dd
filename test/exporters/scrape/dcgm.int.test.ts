// dcgm-exporter pages (the captures in test/fixtures/dcgm) served over HTTP, scraped into the
// embedded ClickHouse and read back row by row; the mapping rules on their own are in dcgm.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../collector/core/log.ts';
import { startCollector, type Collector } from '../../../collector/app/runtime.ts';
import { identityOf } from '../../../exporters/scrape/dcgm/identity.ts';
import { parsePrometheusText } from '../../../exporters/scrape/prometheus/parse.ts';
import { scrapeConfigSchema } from '../../../exporters/scrape/config.ts';
import { buildScrape, type ScrapeParts } from '../../../exporters/scrape/build.ts';
import { testConfig } from '../../helpers/store.ts';
import { fixture, PageServer } from '../../helpers/page-server.ts';

const FILES = [
  'dcgm-k8s-empty-pod-labels-8gpu-titanv.prom',
  'dcgm-k8s-pod-attributed-t4.prom',
  'dcgm-mig-2xa30-bare.prom',
  'dcgm-mig-a100-7g-empty-pod-labels.prom',
  'dcgm-multi-gpu-4xv100-hostname.prom',
  'dcgm-readme-quickstart.prom',
  'dcgm-render-template-test.prom',
  'dcgm-rtxa5000-driver-label.prom',
  'dcgm-4x-constructed-ratio-help.prom',
];

interface Row {
  node: string;
  gpu_uuid: string;
  gpu_index: number;
  gpu_model: string;
  mig_instance: string;
  mig_profile: string;
  field: string;
  value: number;
  unit: string;
  namespace: string;
  pod: string;
  container: string;
  pci_bus_id: string;
}

describe('dcgm-exporter pages scraped over HTTP into ClickHouse', () => {
  const pages = new PageServer();
  let collector: Collector;
  let feature: ScrapeParts;
  let rows: Row[];

  beforeAll(async () => {
    await pages.start();
    for (const f of FILES) pages.set(`/${f}`, { body: fixture('dcgm', f) });
    collector = await startCollector(testConfig({ pipeline: { batch_ms: 50 } }), silentLogger, { withoutHttp: true });
    const config = scrapeConfigSchema.parse({
      enabled: true,
      node_aliases: { 'dcgm-exporter-lcxpl': 'gpu-node-titan' },
      targets: FILES.map((f) => ({
        name: f.replace(/\.prom$/, ''),
        kind: 'dcgm',
        url: pages.url(`/${f}`),
        ...(f === 'dcgm-readme-quickstart.prom' ? { node: 'readme-host' } : {}),
      })),
      inventory: {
        nodes: [
          {
            node: 'gpu-node-t4',
            aliases: ['nvidia-dcgm-exporter-ml2wh'],
            instance_type: 'g4dn.xlarge',
            provider: 'aws',
            region: 'us-east-1',
            zone: 'us-east-1a',
            capacity_type: 'spot',
          },
        ],
      },
    });
    feature = buildScrape({ config, sink: collector.pipeline, registry: collector.registry, log: silentLogger });
    const results = await feature.scraper.scrapeAll();
    for (const r of results) expect(r.ok, r.error).toBe(true);
    await Promise.all(results.map((r) => r.durable));
    rows = (await collector.store.queryRows<Row>('SELECT * FROM gpu_metrics ORDER BY node, gpu_uuid, mig_instance, field')).map((r) => ({
      ...r,
      value: Number(r.value),
      gpu_index: Number(r.gpu_index),
    }));
  });
  afterAll(async () => {
    await collector?.shutdown();
    await pages.stop();
  });

  const of = (node: string, field?: string) => rows.filter((r) => r.node === node && (field === undefined || r.field === field));

  it('2.x Kubernetes page: exporter pod name mapped to the node, empty pod labels mean unallocated, MHz → Hz', () => {
    const r = of('gpu-node-titan', 'sm_clock');
    expect(r).toHaveLength(5);
    expect(of('dcgm-exporter-lcxpl')).toHaveLength(0);
    const gpu4 = r.find((x) => x.gpu_index === 4)!;
    expect(gpu4).toMatchObject({
      gpu_uuid: 'GPU-58fae45b-e5a5-0c62-d478-8ff7c485e74e',
      gpu_model: 'NVIDIA TITAN V',
      value: 1335e6,
      unit: 'hz',
      namespace: '',
      pod: '',
      container: '',
      mig_instance: '',
    });
  });

  it('pod-attributed T4: attribution kept, MiB → bytes, static inventory alias names the node, XID 0 is no event', async () => {
    const r = of('gpu-node-t4');
    expect(r.map((x) => x.field).sort()).toEqual(['dec_util', 'enc_util', 'fb_free', 'xid_errors']);
    for (const x of r)
      expect(x).toMatchObject({ namespace: 'default', pod: 'dcgmproftester', container: 'dcgmproftester11', gpu_model: 'Tesla T4', gpu_index: 0 });
    expect(r.find((x) => x.field === 'fb_free')).toMatchObject({ value: 15109 * 1024 * 1024, unit: 'bytes' });
    expect(r.find((x) => x.field === 'enc_util')).toMatchObject({ value: 0, unit: 'ratio' });
    const events = await collector.store.queryRows<{ n: string }>("SELECT count() AS n FROM capacity_events WHERE kind = 'xid'");
    expect(Number(events[0]!.n)).toBe(0);
  });

  it('MIG on 2× A30: one series per GPU instance, keyed by GPU uuid + GPU_I_ID, with the profile', () => {
    const r = of('yg-data-k8s-gpu-a30-node-test-test0003.mt');
    expect(r).toHaveLength(12);
    const slices = new Set(r.map((x) => `${x.gpu_uuid}/${x.mig_instance}`));
    expect(slices.size).toBe(6);
    expect(r.every((x) => x.mig_profile === '1g.6gb')).toBe(true);
    const fb = r.filter((x) => x.field === 'fb_used');
    expect(fb.every((x) => x.value === 3 * 1024 * 1024 && x.unit === 'bytes')).toBe(true);
    expect(r.filter((x) => x.field === 'gpu_temp').every((x) => x.value === 35 && x.unit === 'celsius')).toBe(true);
    // No GPU_UTIL and no engine-active field on this page: no utilisation row is invented.
    expect(r.some((x) => x.field === 'utilization')).toBe(false);
  });

  it('MIG 7g slice on A100: GPU_I_ID "0" is a real instance, driver label ignored for identity', () => {
    expect(of('metal-gpu-08')).toEqual([
      expect.objectContaining({
        gpu_uuid: 'GPU-06357e72-c3ee-614b-775f-a89e18e8cc08',
        mig_instance: '0',
        mig_profile: '7g.79gb',
        field: 'sm_clock',
        value: 1410e6,
        unit: 'hz',
        pod: '',
      }),
    ]);
  });

  it('bare-metal 4× V100: %f values, counters, and a utilization row derived from GPU_UTIL', () => {
    const r = of('r6i3n0');
    expect(r.filter((x) => x.field === 'power_mgmt_limit').map((x) => [x.gpu_index, x.value, x.unit])).toEqual([
      [2, 300, 'watts'],
      [3, 300, 'watts'],
    ]);
    expect(r.filter((x) => x.field === 'pcie_replay_counter')).toHaveLength(4);
    expect(r.filter((x) => x.field === 'utilization')).toEqual([expect.objectContaining({ gpu_index: 0, value: 0, unit: 'ratio' })]);
  });

  it('README page: "..." lines skipped and counted, blank sentinel rejected, configured node wins', async () => {
    const r = of('readme-host');
    expect(r.map((x) => [x.field, x.value])).toEqual([
      ['mem_clock', 405e6],
      ['sm_clock', 139e6],
    ]);
    const metrics = await collector.registry.getMetricsAsJSON();
    const get = (name: string, labels: Record<string, string>) =>
      metrics.find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
    expect(get('llmeter_scrape_invalid_lines_total', { target: 'dcgm-readme-quickstart' })).toBe(2);
    expect(get('llmeter_scrape_samples_ignored_total', { target: 'dcgm-readme-quickstart', reason: 'blank_sentinel' })).toBe(1);
    expect(get('llmeter_scrape_up', { target: 'dcgm-readme-quickstart' })).toBe(1);
    const st = feature.scraper.statuses().find((s) => s.name === 'dcgm-readme-quickstart')!;
    expect(st.lastError).toContain('2 invalid line(s)');
  });

  it('current template page: lower-case hostname read; a non-DCGM metric is counted, not stored', async () => {
    const p = parsePrometheusText(fixture('dcgm', 'dcgm-render-template-test.prom'));
    expect(identityOf(p.samples[0]!.labels)).toMatchObject({
      hostname: 'testhost',
      uuid: 'GPU-00000000-0000-0000-0000-000000000000',
      model: 'NVIDIA T400 4GB',
      index: 0,
    });
    expect(of('testhost')).toHaveLength(0);
    const m = await collector.registry.getSingleMetric('llmeter_scrape_samples_ignored_total')!.get();
    expect(m.values.find((v) => v.labels.target === 'dcgm-render-template-test' && v.labels.reason === 'other_metric')?.value).toBe(1);
  });

  it('driver-label page: MiB → bytes and the driver version reaches the node record', async () => {
    expect(of('k8s-gpu1', 'fb_used')).toEqual([expect.objectContaining({ gpu_uuid: 'GPU-7ad09335-aadb-19c3-e3a8', value: 21383 * 1048576, unit: 'bytes' })]);
    const inv = await feature.inventory!.refresh();
    await inv.result!.durable;
    const nodes = await collector.store.queryRows<{
      node: string;
      capacity_type: string;
      gpu_model: string;
      gpu_count: number;
      tier: string;
      instance_type: string;
      labels: Record<string, string>;
    }>('SELECT node, capacity_type, gpu_model, gpu_count, tier, instance_type, labels FROM nodes ORDER BY node');
    const byNode = new Map(nodes.map((n) => [n.node, n]));
    expect(byNode.get('gpu-node-t4')).toMatchObject({
      capacity_type: 'spot',
      gpu_model: 'Tesla T4',
      gpu_count: 1,
      tier: 'premium',
      instance_type: 'g4dn.xlarge',
    });
    expect(byNode.get('k8s-gpu1')).toMatchObject({ gpu_model: 'NVIDIA RTX A5000', gpu_count: 1 });
    expect(byNode.get('k8s-gpu1')!.labels['nvidia.com/driver-version']).toBe('550.54.15');
    expect(byNode.get('r6i3n0')).toMatchObject({ gpu_count: 4, gpu_model: 'Tesla V100-SXM2-32GB' });
    expect(byNode.get('gpu-node-titan')).toMatchObject({ gpu_count: 5 });
    // A node with GPUs of two models says so.
    expect(byNode.get('mixed-node')).toMatchObject({ gpu_count: 2 });
    expect(byNode.get('mixed-node')!.labels['llmeter.io/gpu-models']).toBe('1x NVIDIA H100 80GB HBM3, 1x NVIDIA L4');
    expect(byNode.get('r6i3n0')!.labels['llmeter.io/gpu-models']).toBeUndefined();
  });

  it('4.x page (constructed): "Ratio … (in %)" read by each field\'s own unit; PCI bus id and each GPU\'s model kept', () => {
    const H100 = 'GPU-4a1f0c2e-7b3d-4e5f-8a9b-0c1d2e3f4a5b';
    const L4 = 'GPU-9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b';
    const r = of('mixed-node');
    const at = (uuid: string, field: string) => r.find((x) => x.gpu_uuid === uuid && x.field === field);
    // Percent fields whose HELP also says "ratio": 0-100 on the page, a 0-1 ratio stored.
    expect(at(L4, 'dec_util')).toMatchObject({ unit: 'ratio', value: expect.closeTo(0.37, 12) });
    expect(at(L4, 'enc_util')).toMatchObject({ unit: 'ratio', value: expect.closeTo(0.25, 12) });
    expect(at(H100, 'gpu_util')).toMatchObject({ unit: 'ratio', value: expect.closeTo(0.87, 12) });
    expect(at(H100, 'mem_copy_util')).toMatchObject({ unit: 'ratio', value: expect.closeTo(0.45, 12) });
    expect(at(H100, 'utilization')).toMatchObject({ unit: 'ratio', value: expect.closeTo(0.87, 12) });
    // A DCP field with the same wording over 0-1 values stays as it is.
    expect(at(H100, 'prof_gr_engine_active')).toMatchObject({ unit: 'ratio', value: 0.861234 });
    for (const x of r) {
      expect(x.value, x.field).toBeLessThanOrEqual(x.unit === 'ratio' ? 1 : Infinity);
      expect(x.pci_bus_id).toBe(x.gpu_uuid === H100 ? '00000000:19:00.0' : '00000000:3B:00.0');
      expect(x.gpu_model).toBe(x.gpu_uuid === H100 ? 'NVIDIA H100 80GB HBM3' : 'NVIDIA L4');
    }
    // An unknown field keeps what tells its series apart; one whose HELP names two units is stored as read, without a unit.
    expect(r.filter((x) => x.field.startsWith('newer_xid_field')).map((x) => [x.field, x.value, x.unit])).toEqual([
      ['newer_xid_field.42', 1, ''],
      ['newer_xid_field.48', 3, ''],
    ]);
    expect(at(L4, 'prof_newer_engine_active')).toMatchObject({ value: 55, unit: '' });
    expect(feature.directory.gpusOf('mixed-node')?.gpus).toEqual(
      new Map([
        [H100, { model: 'NVIDIA H100 80GB HBM3', pciBusId: '00000000:19:00.0' }],
        [L4, { model: 'NVIDIA L4', pciBusId: '00000000:3B:00.0' }],
      ]),
    );
  });

  it('XID: the last-XID gauge becomes one capacity event per change, stored once per event id', async () => {
    const page = (xid: number) =>
      `# HELP DCGM_FI_DEV_XID_ERRORS Value of the last XID error encountered.\n# TYPE DCGM_FI_DEV_XID_ERRORS gauge\n` +
      `DCGM_FI_DEV_XID_ERRORS{gpu="0",UUID="GPU-e1200d64-e918-4277-cad9-75da90b9f618",device="nvidia0",modelName="Tesla T4",Hostname="xid-node"} ${xid}\n`;
    const cfg = scrapeConfigSchema.parse({ enabled: true, targets: [{ name: 'xid', kind: 'dcgm', url: pages.url('/xid') }], inventory: { enabled: false } });
    const f = buildScrape({ config: cfg, sink: collector.pipeline, registry: new (await import('prom-client')).Registry(), log: silentLogger });
    for (const x of [0, 43, 43, 79, 79]) {
      pages.set('/xid', { body: page(x) });
      const r = await f.scraper.scrapeNow('xid');
      await r.durable;
      await new Promise((res) => setTimeout(res, 5));
    }
    const ev = await collector.store.queryRows<{ event_id: string; action: string; node: string; detail: string }>(
      "SELECT event_id, action, node, detail FROM capacity_events FINAL WHERE kind = 'xid' AND node = 'xid-node' ORDER BY ts",
    );
    expect(ev.map((e) => e.action)).toEqual(['xid_43', 'xid_79']);
    expect(JSON.parse(ev[1]!.detail)).toMatchObject({ xid: 79, previous: 43, gpu_uuid: 'GPU-e1200d64-e918-4277-cad9-75da90b9f618', gpu_model: 'Tesla T4' });
    expect(ev[0]!.event_id).toMatch(/^xid:xid-node:GPU-e1200d64-e918-4277-cad9-75da90b9f618:43:\d+$/);
  });
});
