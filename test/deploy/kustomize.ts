// The layouts of deploy/kubernetes built as `kubectl apply -k` builds them, with the kustomize that
// scripts/prereqs/40-kustomize.sh builds into .cache/ (pinned in scripts/kustomize/VERSION).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers/paths.ts';

/** Every layout a user applies: `kubectl apply -k deploy/kubernetes/<layout>`. */
export const LAYOUTS = ['base', 'overlays/scale-out'] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

export function kustomizeBin(): string {
  const version = readFileSync(path.join(ROOT, 'scripts/kustomize/VERSION'), 'utf8').trim();
  const bin = path.join(ROOT, '.cache/kustomize', version, 'kustomize');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/prereqs/40-kustomize.sh (npm test runs it)`);
  return bin;
}

/** The objects `kustomize build` makes of a directory; throws with kustomize's own message when it fails. */
export function kustomizeBuild(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync(kustomizeBin(), ['build', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`kustomize build ${path.relative(ROOT, dir)} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(`kustomize build ${dir}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as K8sObject;
  });
}
