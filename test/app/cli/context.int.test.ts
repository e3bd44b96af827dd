// What every command shares, as a person at a terminal meets it: a configuration error blamed on
// where the bad value came from (a variable, a flag or the file), a ClickHouse server that cannot be
// reached told in one line naming the setting, and no JSON log lines from a command run by hand.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LlmeterChild } from '../../helpers/llmeter-child.ts';
import { freePort } from '../../helpers/net.ts';
import { tempDir } from '../../helpers/store.ts';

async function run(args: string[], env: NodeJS.ProcessEnv = {}, cwd = tempDir('llmeter-cli-')) {
  const c = new LlmeterChild(args, { LLMETER_LOG_LEVEL: '', CLICKHOUSE_URL: '', LLMETER_DATA_DIR: path.join(cwd, 'data'), ...env }, cwd);
  const e = await c.exit(60_000);
  return { ...e, stdout: c.stdout, stderr: c.stderr };
}

describe('configuration errors name where the bad value came from', () => {
  it("an environment variable's bad value is blamed on the variable, not on the file", async () => {
    const dir = tempDir('llmeter-cli-');
    writeFileSync(path.join(dir, 'llmeter.yaml'), 'pipeline:\n  batch_rows: 5000\n');
    const r = await run(['config', 'check'], { LLMETER_HTTP_LISTEN: 'nowhere' }, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^llmeter: invalid configuration \(environment variable LLMETER_HTTP_LISTEN\):$/m);
    expect(r.stderr).toMatch(/^ {2}- http\.listen \(LLMETER_HTTP_LISTEN=nowhere\): expected host:port/m);
    expect(r.stderr).not.toContain('llmeter.yaml');
    // The file's own mistakes are still the file's.
    writeFileSync(path.join(dir, 'llmeter.yaml'), 'pipeline:\n  batch_rows: -1\n');
    const both = await run(['config', 'check'], { LLMETER_HTTP_LISTEN: 'nowhere' }, dir);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^llmeter: invalid configuration \(llmeter\.yaml, environment variable LLMETER_HTTP_LISTEN\):$/m);
    expect(both.stderr).toMatch(/^ {2}- pipeline\.batch_rows: /m);
    expect(both.stderr).toMatch(/^ {2}- http\.listen \(LLMETER_HTTP_LISTEN=nowhere\): /m);
  });

  it("a flag's bad value is blamed on the flag", async () => {
    const r = await run(['start', '--listen', 'nowhere']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ {2}- http\.listen \(--listen nowhere\): expected host:port/m);
  });
});

describe('an unreachable ClickHouse server', () => {
  it('is one line naming the setting that points at it', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const viaEnv = await run(['sql', 'SELECT 1'], { CLICKHOUSE_URL: url });
    expect(viaEnv.code).toBe(1);
    expect(viaEnv.stdout).toBe('');
    expect(viaEnv.stderr.trimEnd().split('\n')).toEqual([
      `llmeter: cannot reach the ClickHouse server at ${url} (store.url, from CLICKHOUSE_URL): connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    const viaFlag = await run(['--clickhouse-url', url, 'migrate']);
    expect(viaFlag.code).toBe(1);
    expect(viaFlag.stderr.trimEnd().split('\n')).toEqual([
      `llmeter: cannot reach the ClickHouse server at ${url} (store.url, from --clickhouse-url): connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
  });
});

describe('commands run by hand', () => {
  it('print no JSON log lines, even when stderr is not a terminal', async () => {
    const dir = tempDir('llmeter-cli-');
    const file = path.join(dir, 'requests.ndjson');
    writeFileSync(file, JSON.stringify({ ts: Date.now(), request_id: 'r1', tenant: 't', model: 'm' }) + '\n');
    // A fresh store: the first command migrates it, which a collector logs.
    for (const args of [['ingest', 'llm_request', file], ['sql', 'SELECT count() FROM llm_requests'], ['migrate']]) {
      const r = await run(args, {}, dir);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(
        r.stderr.split('\n').filter((l) => l.startsWith('{')),
        args.join(' '),
      ).toEqual([]);
    }
  });
});
