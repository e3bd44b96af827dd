// The reference parts of docs/ are generated from the code's single definitions; this keeps the
// committed files in step (regenerate with `node scripts/gen-docs.ts`).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATED_DOCS, splice } from '../../scripts/gen-docs.ts';
import { ROOT } from '../helpers/paths.ts';

describe('generated documentation', () => {
  for (const [file, gen] of Object.entries(GENERATED_DOCS)) {
    it(`${file} matches the code (run: node scripts/gen-docs.ts)`, () => {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      expect(text).toBe(splice(text, gen()));
    });
  }

  it('documents every configuration key and every record field', () => {
    const cfg = readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const key of ['store.url', 'pipeline.batch_rows', 'http.admin_keys', 'store.ttl_days.raw']) expect(cfg).toContain(`\`${key}\``);
    const rec = readFileSync(path.join(ROOT, 'docs/records.md'), 'utf8');
    for (const f of ['prompt_eval_duration_ns', 'usd_per_hour', 'mig_instance', 'event_id']) expect(rec).toContain(`\`${f}\``);
  });
});
