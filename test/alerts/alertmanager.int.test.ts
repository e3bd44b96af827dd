// alerts/alertmanager.yml: valid for amtool, critical routed to PagerDuty (and chat), warning to
// chat only, info nowhere, secrets read from files, and the inhibitions the rules rely on present.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { tempDir } from '../helpers/store.ts';
import { ALERTS_DIR, runTool } from '../helpers/prometheus-tools.ts';

const CONFIG = path.join(ALERTS_DIR, 'alertmanager.yml');

interface AmConfig {
  route: { group_by: string[] };
  inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
  receivers: { name: string; pagerduty_configs?: Record<string, unknown>[] }[];
}

async function routeOf(...labels: string[]): Promise<string> {
  const r = await runTool('amtool', ['config', 'routes', 'test', `--config.file=${CONFIG}`, ...labels]);
  expect(r.code, r.output).toBe(0);
  return r.output
    .split('\n')
    .find((l) => l && !l.startsWith('Warning'))!
    .trim();
}

describe('Alertmanager configuration', () => {
  it('amtool check-config accepts it, templates included', async () => {
    const r = await runTool('amtool', ['check-config', CONFIG]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/1 templates/);
    expect(r.output).not.toMatch(/FAILED/);
  });

  it('amtool check-config rejects a broken copy (the check can fail)', async () => {
    const dir = tempDir('llmeter-am-');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const broken = path.join(dir, 'alertmanager.yml');
    writeFileSync(broken, readFileSync(CONFIG, 'utf8').replace('receiver: chat-warning\n  #', 'receiver: nobody\n  #'));
    const r = await runTool('amtool', ['check-config', broken]);
    expect(r.code).not.toBe(0);
  });

  it('routes critical to PagerDuty and chat, warning to chat, info nowhere', async () => {
    expect(await routeOf('alertname=GpuTemperatureHigh', 'severity=critical', 'node=gpu-node-1')).toBe('pagerduty-critical,chat-warning');
    expect(await routeOf('alertname=GpuTemperatureHigh', 'severity=warning', 'node=gpu-node-1')).toBe('chat-warning');
    expect(await routeOf('alertname=CapacityNotice', 'severity=info')).toBe('blackhole');
    expect(await routeOf('alertname=Unlabelled')).toBe('chat-warning');
  });

  it('PagerDuty uses Events API v2 with the routing key from a file, never inline', () => {
    const cfg = parse(readFileSync(CONFIG, 'utf8')) as AmConfig;
    const pd = cfg.receivers.find((r) => r.name === 'pagerduty-critical')?.pagerduty_configs ?? [];
    expect(pd).toHaveLength(1);
    expect(pd[0]!.routing_key_file).toMatch(/^\//);
    expect(pd[0]).not.toHaveProperty('routing_key');
    expect(pd[0]).not.toHaveProperty('service_key');
    expect(pd[0]!.send_resolved).toBe(true);
    expect(readFileSync(CONFIG, 'utf8')).not.toMatch(/routing_key:\s*\S/);
  });

  it('groups per condition and node, and inhibits GPU alerts of a node that is down', () => {
    const cfg = parse(readFileSync(CONFIG, 'utf8')) as AmConfig;
    expect(cfg.route.group_by).toEqual(expect.arrayContaining(['alertname', 'node', 'severity']));
    const nodeDown = cfg.inhibit_rules.find((r) => r.source_matchers.some((m) => m.includes('NodeDown')));
    expect(nodeDown?.target_matchers).toEqual(['component="gpu"']);
    expect(nodeDown?.equal).toEqual(['node']);
    const criticalOverWarning = cfg.inhibit_rules.find((r) => r.source_matchers.includes('severity="critical"'));
    expect(criticalOverWarning?.equal).toContain('alertname');
  });
});
