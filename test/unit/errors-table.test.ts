// One table of moat's own error codes (src/model/errors.ts), as fastify keeps its errors: every
// code used in src/ is in it, every entry is used, and docs/errors.md is generated from it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { errorsMarkdown, MOAT_ERRORS } from '../../src/model/errors.ts';

const root = new URL('../..', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const used = new Map<string, string>();
for (const f of files(join(root, 'src'))) {
  if (f.endsWith(join('model', 'errors.ts'))) continue;
  for (const m of readFileSync(f, 'utf8').matchAll(/'(MOAT_[A-Z0-9_]+)'/g))
    used.set(m[1]!, f.slice(root.length));
}

test('every code used in src/ is in the table', () => {
  const missing = [...used].filter(([c]) => !(c in MOAT_ERRORS)).map(([c, f]) => `${c} (${f})`);
  assert.deepEqual(missing, []);
});

test('every code in the table is used somewhere', () => {
  assert.deepEqual(
    Object.keys(MOAT_ERRORS).filter((c) => !used.has(c)),
    [],
  );
});

test('docs/errors.md is the table (regenerate with `node scripts/errors-doc.ts`)', () => {
  assert.equal(readFileSync(join(root, 'docs/errors.md'), 'utf8'), errorsMarkdown());
});
