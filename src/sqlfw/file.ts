// The portable allowlist file: every profile, its mode, networks, members and digests, as YAML a
// reviewer can read in a pull request (digest texts beside their hashes, one per line, in the
// order they were learned). `moat sqlfw export` writes it, `moat sqlfw import` reads it back.
//
//   version: 1
//   profiles:
//     - account: app@10.%              # or  group: web   (with members: [...], trainer: a@%)
//       mode: PROTECTING
//       networks: [10.0.0.0/8]
//       digests:
//         - { hash: 3f…64 hex…, text: "SELECT `c` FROM `t` WHERE `id` = ?" }
//         - statement: SELECT 1        # digested at import (moat's own digest of it)
//
// A malformed file is refused whole, with the entry named: `firewall.yaml: profiles[2].digests[5].hash: …`.
import { parse as parseYaml, stringify, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { digestOf } from '../sql/digest.ts';
import { AccountNameError, parseAccount } from './account.ts';
import { MODES, networkList, SqlfwError } from './model.ts';
import type { StoredProfile, StoredState } from './store.ts';

const account = z.string().superRefine((s, ctx) => {
  try {
    parseAccount(s);
  } catch (e) {
    if (e instanceof AccountNameError) ctx.addIssue({ code: 'custom', message: e.message });
    else throw e;
  }
});

const digest = z.union([
  z.strictObject({
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits (a SHA-256 digest)'),
    text: z.string().min(1),
  }),
  z.strictObject({ statement: z.string().min(1) }),
]);

const common = {
  mode: z.enum(MODES),
  networks: z
    .array(z.string())
    .default([])
    .superRefine((list, ctx) => {
      list.forEach((n, i) => {
        try {
          networkList([n]);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: [i], message: (e as Error).message });
        }
      });
    }),
  digests: z.array(digest).default([]),
};

const profile = z.union([
  z.strictObject({ account, ...common }),
  z.strictObject({
    group: z.string().min(1).max(64),
    trainer: account.nullable().default(null),
    members: z.array(account).default([]),
    ...common,
  }),
]);

const fileSchema = z.strictObject({
  version: z.literal(1),
  profiles: z.array(profile).default([]),
});

function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out;
}

/** Reads an allowlist file. Throws SqlfwError (MOAT_SQLFW_FILE) naming the file and the entry. */
export function parseAllowlistFile(text: string, name: string): StoredState {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    if (e instanceof YAMLParseError) throw new SqlfwError('MOAT_SQLFW_FILE', `${name}: ${e.message}`);
    throw e;
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    // A union reports every branch (nested for a union inside a union): the deepest issue names
    // the entry best.
    type Issue = { path: PropertyKey[]; message: string; code?: string; errors?: Issue[][] };
    const flat = (list: readonly Issue[], at: PropertyKey[]): Issue[] =>
      list.flatMap((i) =>
        i.code === 'invalid_union' && i.errors !== undefined && i.errors.length > 0
          ? i.errors.flatMap((branch) => flat(branch, [...at, ...i.path]))
          : [{ ...i, path: [...at, ...i.path] }],
      );
    const issues = flat(r.error.issues as unknown as Issue[], []);
    issues.sort((a, b) => b.path.length - a.path.length);
    const i = issues[0]!;
    throw new SqlfwError('MOAT_SQLFW_FILE', `${name}: ${pathText(i.path) || '(top)'}: ${i.message}`);
  }
  const profiles: StoredProfile[] = [];
  const members: StoredState['members'] = [];
  const seen = new Set<string>();
  r.data.profiles.forEach((p, i) => {
    const kind = 'account' in p ? 'user' : 'group';
    const key = 'account' in p ? parseAccount(p.account).text : p.group;
    if (seen.has(`${kind}:${key}`))
      throw new SqlfwError('MOAT_SQLFW_FILE', `${name}: profiles[${i}]: '${key}' appears twice`);
    seen.add(`${kind}:${key}`);
    const rules = p.digests.map((d) => {
      if ('hash' in d) return { hash: d.hash, text: d.text };
      const g = digestOf(d.statement);
      return { hash: g.hash, text: g.text };
    });
    profiles.push({
      kind,
      name: key,
      mode: p.mode,
      trainer: 'group' in p && p.trainer !== null ? parseAccount(p.trainer).text : null,
      networks: p.networks,
      rules,
    });
    if ('group' in p) for (const m of p.members) members.push({ group: key, member: parseAccount(m).text });
  });
  return { profiles, members };
}

/** Writes the allowlist file for a state (export). */
export function formatAllowlistFile(s: StoredState): string {
  const profiles = s.profiles.map((p) => {
    const digests = p.rules.map((r) => ({ hash: r.hash, text: r.text }));
    if (p.kind === 'user') return { account: p.name, mode: p.mode, networks: p.networks, digests };
    return {
      group: p.name,
      mode: p.mode,
      trainer: p.trainer,
      members: s.members.filter((m) => m.group === p.name).map((m) => m.member),
      networks: p.networks,
      digests,
    };
  });
  return `# moat SQL firewall allowlists (moat sqlfw import reads this back)\n${stringify({ version: 1, profiles }, { lineWidth: 0 })}`;
}
