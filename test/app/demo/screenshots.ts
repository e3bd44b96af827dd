// Regenerates docs/images/demo-top.png and demo-report.png: a 50 s demo, `llmeter top` in tmux
// captured with its colours, rendered to PNG by Chromium. Run: node test/app/demo/screenshots.ts
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { runDemo } from '../../../collector/app/cli/demo-command.ts';
import { ROOT } from '../../helpers/paths.ts';
import { CHROMIUM } from '../../helpers/chromium.ts';
const entry = path.join(ROOT, 'collector/app/top/standalone.ts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'llmeter-shots-'));
const S = 'llmeter-shot';
let ansi = '',
  plain = '';
const r = await runDemo({
  durationS: 50,
  seed: 42,
  listen: '127.0.0.1:19465',
  out: path.join(tmp, 'report.html'),
  dataDir: path.join(tmp, 'data'),
  tty: false,
  onRunning: ({ fleet, collector }) => {
    setTimeout(() => {
      execFile(
        'tmux',
        [
          'new-session',
          '-d',
          '-s',
          S,
          '-x',
          '118',
          '-y',
          '36',
          `LLMETER_ADMIN_KEY=${fleet.adminKey} ${process.execPath} ${entry} --url http://${collector.address} --interval 1`,
        ],
        () => {},
      );
    }, 36_000);
    setTimeout(() => {
      execFile('tmux', ['capture-pane', '-e', '-p', '-t', S], (e, out) => {
        ansi = out;
      });
      execFile('tmux', ['capture-pane', '-p', '-t', S], (e, out) => {
        plain = out;
        execFile('tmux', ['kill-session', '-t', S], () => {});
      });
    }, 44_000);
  },
});
writeFileSync(path.join(tmp, 'top.txt'), plain);
writeFileSync(path.join(tmp, 'demo-output.txt'), r.printed);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ESC = String.fromCharCode(27);
let html = '',
  open = 0;
for (const part of ansi.split(new RegExp(`(${ESC}\\[[0-9;]*m)`))) {
  const m = new RegExp(`^${ESC}\\[([0-9;]*)m$`).exec(part);
  if (!m) {
    html += esc(part);
    continue;
  }
  for (const c of m[1]!.split(';')) {
    if (c === '0' || c === '') {
      html += '</span>'.repeat(open);
      open = 0;
    } else {
      const st = { '1': 'font-weight:bold', '2': 'color:#8b949e', '31': 'color:#ff6b6b', '33': 'color:#f2cc60' }[c];
      if (st) {
        html += `<span style="${st}">`;
        open++;
      }
    }
  }
}
html += '</span>'.repeat(open);
const page = `<html><body style="margin:0;background:#0d1117"><pre id="t" style="display:inline-block;margin:0;padding:14px 18px;color:#e6edf3;background:#0d1117;font:13px/1.35 'DejaVu Sans Mono',monospace">${html.replace(/\s+$/, '')}</pre></body></html>`;
writeFileSync(path.join(tmp, 'top.html'), page);
const b = await chromium.launch({ executablePath: CHROMIUM });
const p = await b.newPage({ viewport: { width: 1100, height: 800 }, deviceScaleFactor: 1 });
await p.goto('file://' + path.join(tmp, 'top.html'));
await p.locator('#t').screenshot({ path: path.join(ROOT, 'docs/images/demo-top.png') });
await p.setViewportSize({ width: 1100, height: 900 });
await p.goto('file://' + path.join(tmp, 'report.html'));
await p.screenshot({ path: path.join(ROOT, 'docs/images/demo-report.png'), fullPage: false });
await b.close();
console.log(`screenshots in docs/images; text captures in ${tmp}`);
