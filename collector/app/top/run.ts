// The `llmeter top` loop. On a terminal: the alternate screen, redrawn in place every refresh (cursor
// home, each line cleared to its end), keys q (quit), s (next sort), r (refresh now). Elsewhere
// (a pipe, a log file): one block of plain lines per refresh.
import { readSnapshot, type SnapshotOptions } from './snapshot.ts';
import { renderPlain, renderScreen, SORT_KEYS, type SortKey } from './render.ts';

export interface TopOptions extends SnapshotOptions {
  intervalMs?: number;
  sort?: SortKey;
  /** Stop after this many refreshes (0: until q or Ctrl-C). */
  iterations?: number;
  /** Force the plain mode (default: plain unless stdout is a terminal). */
  plain?: boolean;
  out?: NodeJS.WriteStream;
  input?: NodeJS.ReadStream;
  signal?: AbortSignal;
}

export async function runTop(o: TopOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  const input = o.input ?? process.stdin;
  const tty = !o.plain && out.isTTY === true;
  let sort: SortKey = o.sort ?? 'rps';
  const interval = o.intervalMs ?? 2_000;
  let wake: (() => void) | undefined;
  let quit = false;
  const stop = () => {
    quit = true;
    wake?.();
  };
  o.signal?.addEventListener('abort', stop, { once: true });
  const onKey = (buf: Buffer) => {
    const k = buf.toString('utf8');
    if (k === 'q' || k === '\x03') stop();
    else if (k === 's') {
      sort = SORT_KEYS[(SORT_KEYS.indexOf(sort) + 1) % SORT_KEYS.length]!;
      wake?.();
    } else if (k === 'r') wake?.();
  };
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (tty) {
    out.write('\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J');
    if (input.isTTY) {
      input.setRawMode(true);
      input.resume();
      input.on('data', onKey);
    }
  }
  try {
    for (let n = 0; !quit && (!o.iterations || n < o.iterations); n++) {
      const s = await readSnapshot(o);
      if (quit) break;
      if (tty) {
        const lines = renderScreen(s, { width: out.columns ?? 120, height: out.rows ?? 40, sort, color: true });
        out.write('\x1b[H' + lines.map((l) => l + '\x1b[K').join('\n') + '\x1b[J');
      } else {
        out.write(renderPlain(s, sort).join('\n') + '\n');
      }
      if (o.iterations && n + 1 >= o.iterations) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (tty) {
      if (input.isTTY) {
        input.off('data', onKey);
        input.setRawMode(false);
        input.pause();
      }
      out.write('\x1b[?25h\x1b[?1049l');
    }
  }
}
