import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../collector/core/config/load.ts';
import { loadConfig } from '../../collector/app/config-schema.ts';

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'llmeter-cfg-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(d, f), text);
  return d;
}

describe('configuration', () => {
  it('has working defaults with no file: embedded store under ./data', () => {
    const cwd = dir({});
    const { config, file } = loadConfig({ cwd, env: {} });
    expect(file).toBeUndefined();
    expect(config.store.url).toBeUndefined();
    expect(config.store.data_dir).toBe(path.join(cwd, 'data'));
    expect(config.pipeline.batch_rows).toBe(200_000);
    expect(config.http.listen).toBe('127.0.0.1:9464');
  });

  it('reads llmeter.yaml and lets the environment override it', () => {
    const cwd = dir({ 'llmeter.yaml': 'store:\n  database: meter\npipeline:\n  batch_ms: 250\n' });
    const { config, file } = loadConfig({ cwd, env: { CLICKHOUSE_URL: 'http://ch:8123', LLMETER_DATA_DIR: '/var/lib/llmeter' } });
    expect(file).toBe('llmeter.yaml');
    expect(config.store.database).toBe('meter');
    expect(config.pipeline.batch_ms).toBe(250);
    expect(config.store.url).toBe('http://ch:8123');
    expect(config.store.data_dir).toBe('/var/lib/llmeter');
  });

  it('names the bad key, including misspelt ones', () => {
    const cwd = dir({ 'llmeter.yaml': 'pipeline:\n  batch_rows: -5\n  batch_msec: 10\nstore:\n  ttl_days:\n    raw: "ninety"\n' });
    let err: unknown;
    try {
      loadConfig({ cwd, env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues.join('\n');
    expect(issues).toMatch(/pipeline\.batch_rows: .*>0|pipeline\.batch_rows: Too small/i);
    expect(issues).toContain('pipeline: unknown key "batch_msec"');
    expect(issues).toMatch(/store\.ttl_days\.raw: .*number/);
  });

  it('refuses broken YAML and a missing explicit file clearly', () => {
    const cwd = dir({ 'bad.yaml': 'store: [unclosed\n' });
    expect(() => loadConfig({ cwd, file: 'bad.yaml', env: {} })).toThrow(/bad\.yaml.*not valid YAML/s);
    expect(() => loadConfig({ cwd, file: 'nope.yaml', env: {} })).toThrow(/nope\.yaml.*file not found/s);
  });

  it('reads secrets from files, never needing them inline', () => {
    const cwd = dir({ pw: 's3cret\n', 'llmeter.yaml': 'store:\n  url: http://ch:8123\n  password_file: pw\n' });
    const { config } = loadConfig({ cwd, env: {} });
    expect(config.store.password).toBe('s3cret');
  });

  it('refuses a cluster without a server', () => {
    const cwd = dir({});
    expect(() => loadConfig({ cwd, env: { CLICKHOUSE_CLUSTER: 'c1' } })).toThrow(
      /^invalid configuration \(environment variable CLICKHOUSE_CLUSTER\):\n {2}- store\.cluster \(CLICKHOUSE_CLUSTER=c1\): a cluster needs a ClickHouse server/,
    );
  });
});
