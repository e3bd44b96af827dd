import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../collector/core/schema/migrations/index.ts';

const dir = new URL('../../../collector/core/schema/migrations/', import.meta.url);

describe('the migrations folder', () => {
  it('holds one file per migration, numbered as its version, in the order they are applied', () => {
    const files = readdirSync(dir)
      .filter((f) => /^\d{3}-/.test(f))
      .sort();
    expect(files.map((f) => Number(f.slice(0, 3)))).toEqual(MIGRATIONS.map((m) => m.version));
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('has a migration that is either statements or a run, and a name that says what it does', () => {
    for (const m of MIGRATIONS) {
      expect(Boolean(m.statements) !== Boolean(m.run), `migration ${m.version}`).toBe(true);
      expect(m.name.length, `migration ${m.version}`).toBeGreaterThan(10);
    }
  });
});
