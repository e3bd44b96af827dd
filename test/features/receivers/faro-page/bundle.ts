// Bundles the test page's script with esbuild, for the browser, in memory.
import { build } from 'esbuild';

export async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [new URL('./app.js', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: false,
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}
