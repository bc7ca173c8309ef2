// The folders of src/ form layers: a module imports only from its own folder or a lower layer,
// so there is no cycle between folders and a reader can learn the house bottom-up. Folders on
// one rank are independent of each other (admin and gateway never import one another: src/app/
// wires them). Type-only imports count too: a type cycle couples two folders as much as a value.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { test } from 'node:test';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** Lower first. A folder may import from folders of a strictly lower rank. */
const LAYERS: readonly (readonly string[])[] = [
  ['model', 'text'], // shared types and plain-text helpers: import nothing of moat's
  ['sql'], // lexer, digests, redaction, LIKE
  ['protocol', 'state'], // the wire codec and its follower; the guard's stores
  ['net'], // endpoints, networks, sockets, TLS, the packet channel
  ['guard', 'detect'], // admission policy; attack detection
  ['audit', 'firewall'], // audit records and sinks; the nftables mirror of blocks
  ['sqlfw'], // the SQL firewall
  ['config'], // the one schema, composing each subsystem's own
  ['client'], // moat's outgoing MySQL client: backend connector, own login, health check
  ['posture'], // `moat check`
  ['admin', 'gateway'], // the admin port and API; listeners and sessions
  ['app'], // builds and wires one process
  ['cli'], // commands
];

function rankOf(folder: string): number {
  const i = LAYERS.findIndex((l) => l.includes(folder));
  assert.notEqual(i, -1, `src/${folder}/ is in no layer: add it to LAYERS in this test`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** A static import or re-export of a relative path, over several lines if need be. */
const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gm;

const folderOf = (file: string): string => relative(SRC, file).split(sep)[0]!;

test('every src/ folder is in a layer, and imports only from lower layers', () => {
  const wrong: string[] = [];
  for (const file of sources(SRC)) {
    if (dirname(file) === SRC) continue;
    const from = folderOf(file);
    const fromRank = rankOf(from);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const to = folderOf(normalize(join(dirname(file), m[1]!)));
      if (to === from) continue;
      if (rankOf(to) >= fromRank) wrong.push(`${relative(SRC, file)} imports ${m[1]} (${from} → ${to})`);
    }
  }
  assert.deepEqual(wrong, [], 'imports against the layers');
});

test('the check sees an import against the layers', () => {
  // IMPORT must match the import forms the code base uses, or the test
  // would pass on a tree it cannot read.
  const sample = [
    "import type { A } from '../app/moat.ts';",
    "import {\n  b,\n  c,\n} from '../gateway/gateway.ts';",
    "export { d } from './d.ts';",
  ].join('\n');
  assert.deepEqual(
    [...sample.matchAll(IMPORT)].map((m) => m[1]),
    ['../app/moat.ts', '../gateway/gateway.ts', './d.ts'],
  );
  assert.ok(rankOf('model') < rankOf('gateway') && rankOf('gateway') === rankOf('admin'));
});
