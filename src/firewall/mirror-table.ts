// The nftables objects of the firewall mirror, as nft JSON commands (libnftables-json(5)):
//
//   table inet moat {
//     set blocked4 { type ipv4_addr; flags timeout; }
//     set blocked6 { type ipv6_addr; flags timeout; }
//     chain input {
//       type filter hook input priority filter - 10; policy accept;
//       tcp flags syn / syn,ack tcp dport { 3307 } ip saddr @blocked4 counter drop comment "moat: …"
//       tcp flags syn / syn,ack tcp dport { 3307 } ip6 saddr @blocked6 counter drop comment "moat: …"
//     }
//   }
//
// Why this shape:
// - Only moat's listener ports: a moat block says "this host may not reach moat", nothing more. The
//   same address may be an office NAT whose people also need SSH or HTTPS from this server.
// - Only new connections (a SYN without ACK): moat's own block applies at accept, and sessions that
//   are already open stay moat's to end (they are not left hanging on dropped packets).
// - The input hook: packets for this host only, never forwarded traffic (containers, routers). A
//   SYN dropped here never gets a socket, and its conntrack entry is never confirmed.
// - Priority filter - 10: before the host's usual filter chains at 0, so their counters and logs
//   never see the SYNs of a blocked host. A drop is final in every base chain whatever the priority,
//   so no other table's accept can undo it, and this chain accepts nothing itself (policy accept
//   lets the host's own rules decide everything else).
// - flags timeout: the kernel expires a block by itself, at the same moment as moat.
import type { NftCommand } from './nft.ts';

/** Marks the rules moat made (see ownTableExists). */
export const MIRROR_MARK = 'moat: blocked hosts (firewall mirror)';

export type Family = 4 | 6;

export const SET_OF: Record<Family, string> = { 4: 'blocked4', 6: 'blocked6' };

/** One member: an address, and whole seconds left (null: until unblocked). */
export interface Member {
  ip: string;
  family: Family;
  timeoutS: number | null;
}

const PRIORITY = -10;

export function installCommands(
  table: string,
  ports: readonly number[],
  members: readonly Member[],
): NftCommand[] {
  const t = { family: 'inet', name: table };
  const set = (family: Family) => ({
    set: {
      family: 'inet',
      table,
      name: SET_OF[family],
      type: family === 4 ? 'ipv4_addr' : 'ipv6_addr',
      flags: ['timeout'],
    },
  });
  const rule = (family: Family) => ({
    rule: {
      family: 'inet',
      table,
      chain: 'input',
      comment: MIRROR_MARK,
      expr: [
        match({ '&': [{ payload: { protocol: 'tcp', field: 'flags' } }, ['syn', 'ack']] }, 'syn'),
        match({ payload: { protocol: 'tcp', field: 'dport' } }, { set: [...ports] }),
        match({ payload: { protocol: family === 4 ? 'ip' : 'ip6', field: 'saddr' } }, `@${SET_OF[family]}`),
        { counter: null },
        { drop: null },
      ],
    },
  });
  return [
    // add-then-delete empties a table a crashed moat left behind (the caller checked it is moat's)
    // and succeeds when there is none: nft 1.0.6 has no "destroy". All in one transaction.
    { add: { table: t } },
    { delete: { table: t } },
    { add: { table: t } },
    { add: set(4) },
    { add: set(6) },
    {
      add: {
        chain: {
          family: 'inet',
          table,
          name: 'input',
          type: 'filter',
          hook: 'input',
          prio: PRIORITY,
          policy: 'accept',
        },
      },
    },
    { add: rule(4) },
    { add: rule(6) },
    ...addMembers(table, members),
  ];
}

function match(left: unknown, right: unknown): Record<string, unknown> {
  return { match: { op: '==', left, right } };
}

export function addMembers(table: string, members: readonly Member[]): NftCommand[] {
  const out: NftCommand[] = [];
  for (const family of [4, 6] as const) {
    const elem = members.filter((m) => m.family === family).map(elemOf);
    if (elem.length > 0)
      out.push({ add: { element: { family: 'inet', table, name: SET_OF[family], elem } } });
  }
  return out;
}

export function flushSets(table: string): NftCommand[] {
  return ([4, 6] as const).map((f) => ({ flush: { set: { family: 'inet', table, name: SET_OF[f] } } }));
}

/**
 * Sets one address to `member` (or removes it, for null). An existing element keeps its old
 * timeout on a plain add, and deleting an absent one is an error; add-delete-add in one
 * transaction does both right whether or not the address was there.
 */
export function setMember(table: string, ip: string, family: Family, member: Member | null): NftCommand[] {
  const element = (elem: unknown[]) => ({ element: { family: 'inet', table, name: SET_OF[family], elem } });
  const out: NftCommand[] = [{ add: element([ip]) }, { delete: element([ip]) }];
  if (member !== null) out.push({ add: element([elemOf(member)]) });
  return out;
}

function elemOf(m: Member): unknown {
  return m.timeoutS === null ? m.ip : { elem: { val: m.ip, timeout: m.timeoutS } };
}

export function deleteTable(table: string): NftCommand[] {
  return [{ delete: { table: { family: 'inet', name: table } } }];
}
