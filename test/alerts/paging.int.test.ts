// End to end: a running llmeter collector, Debian's Prometheus scraping it with the rules from
// alerts/, Debian's Alertmanager with alerts/alertmanager.yml, and a PagerDuty Events v2 stand-in.
// A GPU overheats in the data (gpu_sample records through the pipeline into ClickHouse), the
// alerting component publishes the temperature from the store, the rule fires, PagerDuty gets a
// trigger; the temperature drops and PagerDuty gets the resolve with the same dedup key. A second
// hot GPU on a node that is down is inhibited and never pages.
//
// Only the timings differ from production: 1 s scrape/evaluation/group intervals and every `for`
// shortened to 1 s, so the test runs in seconds. Expressions, labels, annotations, routing,
// grouping, inhibition and templates are the committed ones.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { alertingFor } from '../../collector/features/alerting/index.ts';
import { silentLogger } from '../../collector/core/log.ts';
import { startCollector, type Collector } from '../../collector/app/runtime.ts';
import type { CapacityEventRecord, GpuSampleRecord } from '../../collector/core/schema/tables.ts';
import { tempDir, testConfig } from '../helpers/store.ts';
import { startDaemon, type Daemon } from './daemons.ts';
import { PagerDutyReceiver, type PagerDutyEvent } from './pagerduty-receiver.ts';
import { ALERTS_DIR } from '../helpers/prometheus-tools.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/wait.ts';

const ROUTING_KEY = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const HOT_NODE = 'gpu-node-1';
const DOWN_NODE = 'gpu-node-2';
const HOT_UUID = 'GPU-6f1d5a5e-0c4e-4b8e-9d0e-1c2b3a4d5e6f';

interface RuleFile {
  groups: { name: string; rules: { for?: string }[] }[];
}
interface AmConfig {
  global: Record<string, unknown>;
  templates: string[];
  route: Record<string, unknown>;
  receivers: { name: string; pagerduty_configs?: Record<string, unknown>[]; slack_configs?: Record<string, unknown>[] }[];
}
interface AmAlert {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[] };
}

function shortenedRules(file: string, out: string): string {
  const doc = parse(readFileSync(path.join(ALERTS_DIR, file), 'utf8')) as RuleFile;
  for (const g of doc.groups) for (const r of g.rules) if (r.for) r.for = '1s';
  const target = path.join(out, file);
  writeFileSync(target, stringify(doc));
  return target;
}

function alertmanagerConfig(dir: string, receiverUrl: string): string {
  const cfg = parse(readFileSync(path.join(ALERTS_DIR, 'alertmanager.yml'), 'utf8')) as AmConfig;
  const keyFile = path.join(dir, 'pagerduty-routing-key');
  const chatFile = path.join(dir, 'chat-webhook-url');
  writeFileSync(keyFile, ROUTING_KEY);
  writeFileSync(chatFile, `${receiverUrl}/chat`);
  cfg.global.pagerduty_url = `${receiverUrl}/v2/enqueue`;
  cfg.templates = cfg.templates.map((t) => path.join(ALERTS_DIR, t));
  cfg.route.group_wait = '1s';
  cfg.route.group_interval = '1s';
  for (const r of cfg.receivers) {
    for (const p of r.pagerduty_configs ?? []) p.routing_key_file = keyFile;
    for (const s of r.slack_configs ?? []) s.api_url_file = chatFile;
  }
  const file = path.join(dir, 'alertmanager.yml');
  writeFileSync(file, stringify(cfg));
  return file;
}

function gpuSample(node: string, uuid: string, index: number, field: string, value: number, unit: string, ts = Date.now()): GpuSampleRecord {
  return { ts, node, gpu_uuid: uuid, gpu_index: index, gpu_model: 'NVIDIA A100-SXM4-80GB', field, value, unit };
}

describe('paging end to end: GPU overheats in the data → Prometheus → Alertmanager → PagerDuty', () => {
  const pd = new PagerDutyReceiver();
  const dir = tempDir('llmeter-paging-');
  let collector: Collector;
  let alertmanager: Daemon | undefined;
  let prometheus: Daemon | undefined;

  const explain = () =>
    `PagerDuty events: ${JSON.stringify(pd.events.map((e) => e.body))}\nrejected: ${JSON.stringify(pd.rejected)}\n--- alertmanager\n${alertmanager?.log() ?? ''}\n--- prometheus\n${prometheus?.log().slice(-3000) ?? ''}`;

  async function submitGpu(records: GpuSampleRecord[]): Promise<void> {
    const r = await collector.pipeline.submit('gpu_sample', records, { source: 'test' });
    expect(r.accepted).toBe(records.length);
    await r.durable;
  }

  beforeAll(async () => {
    await pd.start();
    collector = await startCollector(testConfig(), silentLogger, { withoutFeatures: true, features: [alertingFor({ interval_ms: 250 })] });

    const amPort = await freePort();
    const amDir = path.join(dir, 'alertmanager');
    mkdirSync(amDir);
    alertmanager = await startDaemon(
      'alertmanager',
      '/usr/bin/prometheus-alertmanager',
      [
        `--config.file=${alertmanagerConfig(amDir, pd.url)}`,
        `--storage.path=${path.join(amDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${amPort}`,
        '--cluster.listen-address=',
      ],
      amPort,
    );

    const promDir = path.join(dir, 'prometheus');
    mkdirSync(promDir);
    const promConfig = {
      global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '900ms' },
      rule_files: [shortenedRules('gpu.rules.yml', promDir), shortenedRules('capacity.rules.yml', promDir)],
      alerting: { alertmanagers: [{ api_version: 'v2', static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [{ job_name: 'llmeter', static_configs: [{ targets: [collector.address] }] }],
    };
    writeFileSync(path.join(promDir, 'prometheus.yml'), stringify(promConfig));
    const promPort = await freePort();
    prometheus = await startDaemon(
      'prometheus',
      '/usr/bin/prometheus',
      [
        `--config.file=${path.join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--rules.alert.resend-delay=1s',
      ],
      promPort,
    );
  });

  afterAll(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await collector?.shutdown();
    await pd.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pages on an overheating GPU, inhibits the GPUs of a down node, and resolves when it cools', async () => {
    // A cool fleet first: nothing may page.
    await submitGpu([
      gpuSample(HOT_NODE, HOT_UUID, 0, 'gpu_temp', 61, 'celsius'),
      gpuSample(HOT_NODE, HOT_UUID, 0, 'fb_used', 40 * 2 ** 30, 'bytes'),
      gpuSample(HOT_NODE, HOT_UUID, 0, 'fb_total', 80 * 2 ** 30, 'bytes'),
      gpuSample(DOWN_NODE, 'GPU-down-0', 0, 'gpu_temp', 58, 'celsius'),
    ]);
    await waitFor(
      'Prometheus to scrape the GPU gauges from the collector',
      async () => {
        const res = await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent('llmeter_gpu_temperature_celsius')}`);
        const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        return body.data.result.length === 2 ? body.data.result : undefined;
      },
      30_000,
      { explain },
    );

    // The down node's GPU overheats too, but the node is down: NodeDown inhibits its GPU alerts.
    const down: CapacityEventRecord = { ts: Date.now(), event_id: `node_down:${DOWN_NODE}:1`, kind: 'node_down', node: DOWN_NODE };
    const r = await collector.pipeline.submit('capacity_event', [down], { source: 'test' });
    await r.durable;
    // Inhibition needs the source alert in Alertmanager before the target's group is flushed.
    await waitFor(
      'NodeDown in Alertmanager',
      async () => {
        const alerts = (await (await fetch(`${alertmanager!.url}/api/v2/alerts?filter=alertname%3D%22NodeDown%22`)).json()) as AmAlert[];
        return alerts.length > 0 ? alerts : undefined;
      },
      20_000,
      { explain },
    );
    expect(pd.events).toEqual([]);
    await submitGpu([gpuSample(HOT_NODE, HOT_UUID, 0, 'gpu_temp', 92, 'celsius'), gpuSample(DOWN_NODE, 'GPU-down-0', 0, 'gpu_temp', 97, 'celsius')]);

    const trigger = await waitFor('a PagerDuty trigger', () => pd.events.find((e) => e.body.event_action === 'trigger')?.body, 40_000, { explain });
    expect(pd.rejected, explain()).toEqual([]);
    expect(trigger.routing_key).toBe(ROUTING_KEY);
    expect(trigger.client).toBe('llmeter');
    expect(trigger.payload?.severity).toBe('critical');
    expect(trigger.payload?.summary).toBe(`GPU 0 on ${HOT_NODE} at 92 °C (critical at 85 °C)`);
    expect(trigger.payload?.source).toBe(HOT_NODE);
    expect(trigger.payload?.component).toBe('gpu');
    expect(trigger.payload?.class).toBe('GpuTemperatureHigh');
    const details = trigger.payload?.custom_details ?? {};
    expect(details.node).toBe(HOT_NODE);
    expect(details.gpu).toBe('0');
    expect(details.gpu_uuid).toBe(HOT_UUID);
    expect(details.num_firing).toBe('1');
    expect(details.runbook).toBe('docs/alerting.md#gpu-temperature');
    expect(String(details.firing)).toContain(`gpu_uuid = ${HOT_UUID}`);
    // One incident per condition, severity and node: the dedup key is Alertmanager's group key hashed.
    const groupKey = `{}/{severity="critical"}:{alertname="GpuTemperatureHigh", node="${HOT_NODE}", severity="critical"}`;
    expect(trigger.dedup_key).toBe(createHash('sha256').update(groupKey).digest('hex'));

    // The down node's hot GPU is firing in Alertmanager, but inhibited, and never paged.
    const amAlerts = await waitFor(
      'the inhibited alert of the down node in Alertmanager',
      async () => {
        const alerts = (await (await fetch(`${alertmanager!.url}/api/v2/alerts`)).json()) as AmAlert[];
        const downGpu = alerts.find((a) => a.labels.alertname === 'GpuTemperatureHigh' && a.labels.node === DOWN_NODE && a.labels.severity === 'critical');
        return downGpu && alerts.some((a) => a.labels.alertname === 'NodeDown') ? alerts : undefined;
      },
      20_000,
      { explain },
    );
    const downGpu = amAlerts.find((a) => a.labels.alertname === 'GpuTemperatureHigh' && a.labels.node === DOWN_NODE && a.labels.severity === 'critical')!;
    expect(downGpu.status.state).toBe('suppressed');
    expect(downGpu.status.inhibitedBy.length).toBeGreaterThan(0);
    // The warning of the hot GPU is muted by its critical.
    const hotWarning = amAlerts.find((a) => a.labels.alertname === 'GpuTemperatureHigh' && a.labels.node === HOT_NODE && a.labels.severity === 'warning');
    expect(hotWarning?.status.state).toBe('suppressed');

    // It cools down: the rule stops firing and PagerDuty gets the resolve for the same incident.
    await submitGpu([gpuSample(HOT_NODE, HOT_UUID, 0, 'gpu_temp', 64, 'celsius')]);
    const resolve = await waitFor('a PagerDuty resolve', () => pd.events.find((e) => e.body.event_action === 'resolve')?.body, 40_000, { explain });
    expect(resolve.dedup_key).toBe(trigger.dedup_key);
    expect(resolve.routing_key).toBe(ROUTING_KEY);

    // Nothing about the down node ever reached PagerDuty, nothing was refused, and no second incident was opened.
    const all: PagerDutyEvent[] = pd.events.map((e) => e.body);
    expect(
      all.filter((e) => JSON.stringify(e).includes(DOWN_NODE)),
      explain(),
    ).toEqual([]);
    expect(new Set(all.map((e) => e.dedup_key))).toEqual(new Set([trigger.dedup_key]));
    expect(pd.rejected).toEqual([]);
    // Warnings went to chat instead (NodeDown is a warning).
    await waitFor('NodeDown in chat', () => (pd.chat.some((c) => JSON.stringify(c.body).includes('NodeDown')) ? true : undefined), 20_000, { explain });
  });
});
