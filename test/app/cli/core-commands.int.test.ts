// The `llmeter` command line as a user runs it: child processes on the project's Node, a real
// embedded store in a temporary directory.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../collector/core/schema/migrations/index.ts';
import { tempDir } from '../../helpers/store.ts';
import { FIXTURES, LLMETER_BIN } from '../../helpers/paths.ts';

const dataDir = tempDir();
// Fixture dates are fixed: keep rows forever so retention never ages them out of the test.
writeFileSync(path.join(dataDir, 'llmeter.yaml'), 'store:\n  ttl_days: { raw: 0 }\n');
const env = { ...process.env, LLMETER_DATA_DIR: dataDir, LLMETER_LOG_LEVEL: 'warn', LLMETER_CONFIG: '' };

function llmeter(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [LLMETER_BIN, ...args], { cwd: dataDir, env, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function good(n: number, tenant: string): string {
  return (
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        ts: Date.UTC(2026, 10, 1, 9) + i * 1000,
        request_id: `${tenant}-${i}`,
        tenant,
        model: 'm',
        input_tokens: 1,
        output_tokens: 2,
        duration_ms: 10,
      }),
    ).join('\n') + '\n'
  );
}

describe('llmeter CLI', () => {
  afterAll(() => undefined);

  it('--help works everywhere', () => {
    for (const args of [['--help'], ['start', '--help'], ['sql', '--help'], ['ingest', '--help'], ['config', 'check', '--help'], ['migrate', '--help']]) {
      const r = llmeter(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.out).toMatch(/^Usage: llmeter/m);
    }
  });

  it('migrate is idempotent', () => {
    const latest = Math.max(...MIGRATIONS.map((m) => m.version));
    const first = llmeter(['migrate']).out;
    for (const m of MIGRATIONS) expect(first).toContain(`applied migration ${m.version}: ${m.name}`);
    expect(first).toContain(`schema at version ${latest} (${MIGRATIONS.length} applied now, 0 already applied)`);
    expect(llmeter(['migrate']).out).toContain(`schema at version ${latest} (0 applied now, ${MIGRATIONS.length} already applied)`);
  });

  it('ingests a good file, a bad file and a mixed file with exact counts in the tables and dead_letters', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'good.ndjson'), good(250, 'good'));
    writeFileSync(path.join(dir, 'bad.ndjson'), '{"tenant":"x"}\n[1,2]\nnot json\n');
    const g = llmeter(['ingest', 'llm_request', path.join(dir, 'good.ndjson')]);
    expect(g.code).toBe(0);
    expect(g.out).toContain('llm_request: 250 accepted, 0 rejected');
    const b = llmeter(['ingest', 'llm_request', path.join(dir, 'bad.ndjson')]);
    expect(b.code).toBe(3);
    expect(b.out).toContain('llm_request: 0 accepted, 3 rejected');
    expect(b.out).toMatch(/1 × ts: required; request_id: required \(first at line 1\)/);
    expect(b.out).toMatch(/1 × record: expected a JSON object, got array \(first at line 2\)/);
    expect(b.out).toMatch(/1 × not valid JSON.* \(first at line 3\)/);
    const m = llmeter(['ingest', 'llm_request', path.join(FIXTURES, 'records/llm_request-mixed.ndjson')]);
    expect(m.code).toBe(3);
    expect(m.out).toContain('llm_request: 4 accepted, 3 rejected');
    const counts = llmeter([
      'sql',
      "SELECT (SELECT count() FROM llm_requests) AS req, (SELECT count() FROM dead_letters WHERE signal = 'llm_request') AS dead, (SELECT sum(cached_tokens) FROM llm_requests) AS cached, (SELECT load_duration_ns FROM llm_requests WHERE request_id = 'm-1') AS load",
      '--format',
      'JSONEachRow',
    ]);
    expect(counts.code).toBe(0);
    expect(JSON.parse(counts.out)).toEqual({ req: '254', dead: '6', cached: '8', load: '2035134917' });
  });

  it('reads records from stdin', () => {
    const r = llmeter(['ingest', 'llm_request', '-'], good(5, 'stdin'));
    expect(r.out).toContain('5 accepted');
  });

  it('config check names the bad key and exits 2', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'bad.yaml'), 'http:\n  listen: nowhere\n');
    const r = llmeter(['config', 'check', path.join(dir, 'bad.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/http\.listen: expected host:port/);
    writeFileSync(path.join(dir, 'ok.yaml'), 'pipeline:\n  batch_rows: 5000\n');
    expect(llmeter(['config', 'check', path.join(dir, 'ok.yaml')]).out).toContain('ok.yaml: valid');
  });

  it('config check and start warn about exposed settings and refuse an open OTLP receiver beyond this machine', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'open.yaml'), 'http:\n  listen: 0.0.0.0:9464\n');
    const open = llmeter(['config', 'check', path.join(dir, 'open.yaml')]);
    expect(open.code).toBe(0);
    expect(open.out).toMatch(/warning: http\.listen 0\.0\.0\.0:9464 takes requests from other machines and http\.admin_keys is empty/);
    writeFileSync(path.join(dir, 'otlp.yaml'), 'http:\n  listen: 0.0.0.0:0\nreceivers:\n  otlp:\n    enabled: true\n');
    const otlp = llmeter(['config', 'check', path.join(dir, 'otlp.yaml')]);
    expect(otlp.code).toBe(2);
    expect(otlp.err).toMatch(/the OTLP receiver \(receivers\.otlp\) asks for no key/);
    const start = llmeter(['--config', path.join(dir, 'otlp.yaml'), 'start']);
    expect(start.code).toBe(2);
    expect(start.err).toMatch(/asks for no key/);
    expect(llmeter(['config', 'check']).out).not.toMatch(/warning/);
  });

  it('start serves /healthz and /metrics, answers sql through the running collector, and Ctrl-C exits 0 after flushing', async () => {
    const child = spawn(process.execPath, [LLMETER_BIN, 'start', '--listen', '127.0.0.1:0'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    let errOut = '';
    child.stderr.on('data', (d) => (errOut += d));
    const base = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no address printed: ${out} ${errOut}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /http:\s+(http:\/\/[\d.:]+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    expect(out).toContain('Press Ctrl-C to stop');
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('llmeter_queue_capacity_rows{table="llm_requests"} 500000');
    expect(metrics).toContain('# TYPE llmeter_insert_duration_seconds histogram');
    // The store is held by the running collector: `llmeter sql` goes through its /api/sql.
    const r = llmeter(['sql', "SELECT count() AS n FROM llm_requests WHERE tenant = 'good'", '--format', 'JSONEachRow']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ n: '250' });
    // /api/sql is read-only.
    const write = await fetch(`${base}/api/sql`, { method: 'POST', body: 'DROP TABLE llm_requests', headers: { 'content-type': 'application/sql' } });
    expect(write.status).toBe(400);
    expect(await write.text()).toMatch(/only one reading statement is allowed/);
    // Records posted to the running collector are flushed by Ctrl-C before it exits.
    const post = await fetch(`${base}/api/v1/ingest/llm_request`, {
      method: 'POST',
      body: good(40, 'live'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(await post.json()).toMatchObject({ accepted: 40, rejected: 0 });
    const big = await fetch(`${base}/api/v1/ingest/llm_request`, {
      method: 'POST',
      body: 'x'.repeat(9 * 1024 * 1024),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(big.status).toBe(413);
    // `llmeter ingest` goes through the running collector too, and the same file loaded twice is
    // stored once; a bad line is reported with its line number in the file.
    const dir = tempDir();
    writeFileSync(path.join(dir, 'through.ndjson'), good(30, 'through') + 'not json\n');
    for (let i = 0; i < 2; i++) {
      const r = llmeter(['ingest', 'llm_request', path.join(dir, 'through.ndjson')]);
      expect(r.code, r.err).toBe(3);
      expect(r.out).toContain('llm_request: 30 accepted, 1 rejected');
      expect(r.out).toMatch(/1 × not valid JSON.*\(first at line 31\)/);
    }
    expect(JSON.parse(llmeter(['sql', "SELECT count() AS n FROM llm_requests WHERE tenant = 'through'", '--format', 'JSONEachRow']).out)).toEqual({ n: '30' });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    // 40 live, 30 loaded once (the second load stored nothing), a dead letter per load.
    expect(out).toMatch(/llmeter stopped: 72 rows written, 0 dropped, 0 spilled to disk/);
    const after = llmeter(['sql', "SELECT count() AS n FROM llm_requests WHERE tenant = 'live'", '--format', 'JSONEachRow']);
    expect(JSON.parse(after.out)).toEqual({ n: '40' });
  });
});
