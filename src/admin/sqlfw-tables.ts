// The firewall on the admin port: MySQL Enterprise Firewall's tables (mysql.firewall_users,
// mysql.firewall_whitelist, the 8.0.23+ group tables mysql.firewall_groups,
// mysql.firewall_group_allowlist, mysql.firewall_membership and their performance_schema /
// information_schema views) and its stored procedures, called as on a server:
//   CALL mysql.sp_set_firewall_mode('app@%', 'PROTECTING');
// plus moat's own: network scope and the learning report (moat.firewall_report).

import type { ServerError } from '../protocol/error-codes.ts';
import { AccountNameError } from '../sqlfw/account.ts';
import type { SqlFirewall } from '../sqlfw/engine.ts';
import { type ProfileKind, parseMode, SqlfwError } from '../sqlfw/model.ts';
import type { TableDef } from './tables.ts';
import { mysqlTime } from './tables.ts';

export function sqlfwTables(fw: SqlFirewall): TableDef[] {
  const users = () => fw.profiles().filter((p) => p.kind === 'user');
  const groups = () => fw.profiles().filter((p) => p.kind === 'group');
  const userRules = function* (withId: boolean) {
    let id = 0;
    for (const p of users())
      for (const rule of p.rules.values()) yield withId ? [p.name, rule, ++id] : [p.name, rule];
  };
  const groupRules = function* (withId: boolean) {
    let id = 0;
    for (const p of groups())
      for (const rule of p.rules.values()) yield withId ? [p.name, rule, ++id] : [p.name, rule];
  };
  const membership = function* () {
    for (const m of fw.snapshot().members) yield [m.group, m.member];
  };
  const userCols = [
    ['USERHOST', 'TEXT'],
    ['MODE', 'TEXT'],
  ] as const;
  const groupCols = [
    ['NAME', 'TEXT'],
    ['MODE', 'TEXT'],
    ['USERHOST', 'TEXT'],
  ] as const;
  const memberCols = [
    ['GROUP_ID', 'TEXT'],
    ['MEMBER_ID', 'TEXT'],
  ] as const;
  return [
    {
      schema: 'mysql',
      name: 'firewall_users',
      columns: userCols,
      rows: () => users().map((p) => [p.name, p.mode]),
    },
    {
      schema: 'information_schema',
      name: 'MYSQL_FIREWALL_USERS',
      columns: [
        ['MODE', 'TEXT'],
        ['USERHOST', 'TEXT'],
      ],
      rows: () => users().map((p) => [p.mode, p.name]),
    },
    {
      schema: 'mysql',
      name: 'firewall_whitelist',
      columns: [
        ['USERHOST', 'TEXT'],
        ['RULE', 'TEXT'],
        ['ID', 'INTEGER'],
      ],
      rows: () => userRules(true),
    },
    {
      schema: 'information_schema',
      name: 'MYSQL_FIREWALL_WHITELIST',
      columns: [
        ['USERHOST', 'TEXT'],
        ['RULE', 'TEXT'],
      ],
      rows: () => userRules(false),
    },
    ...(['mysql', 'performance_schema'] as const).flatMap((schema): TableDef[] => [
      {
        schema,
        name: 'firewall_groups',
        columns: groupCols,
        rows: () => groups().map((p) => [p.name, p.mode, p.trainer?.text ?? null]),
      },
      {
        schema,
        name: 'firewall_group_allowlist',
        columns:
          schema === 'mysql'
            ? [
                ['NAME', 'TEXT'],
                ['RULE', 'TEXT'],
                ['ID', 'INTEGER'],
              ]
            : [
                ['NAME', 'TEXT'],
                ['RULE', 'TEXT'],
              ],
        rows: () => groupRules(schema === 'mysql'),
      },
      { schema, name: 'firewall_membership', columns: memberCols, rows: membership },
    ]),
    {
      schema: 'moat',
      name: 'firewall_allowlist',
      columns: [
        ['KIND', 'TEXT'],
        ['PROFILE', 'TEXT'],
        ['DIGEST', 'TEXT'],
        ['RULE', 'TEXT'],
      ],
      *rows() {
        for (const p of fw.profiles())
          for (const [hash, rule] of p.rules) yield [kindName(p.kind), p.name, hash, rule];
      },
    },
    {
      schema: 'moat',
      name: 'firewall_networks',
      columns: [
        ['KIND', 'TEXT'],
        ['PROFILE', 'TEXT'],
        ['NETWORK', 'TEXT'],
      ],
      *rows() {
        for (const p of fw.profiles()) for (const n of p.networks) yield [kindName(p.kind), p.name, n];
      },
    },
    {
      // The learning report: digests a profile met in DETECTING or PROTECTING that its list lacks.
      schema: 'moat',
      name: 'firewall_report',
      columns: [
        ['KIND', 'TEXT'],
        ['PROFILE', 'TEXT'],
        ['MODE', 'TEXT'],
        ['DIGEST', 'TEXT'],
        ['DIGEST_TEXT', 'TEXT'],
        ['TRUNCATED', 'TEXT'],
        ['COUNT_STAR', 'INTEGER'],
        ['FIRST_SEEN', 'TEXT'],
        ['LAST_SEEN', 'TEXT'],
      ],
      *rows() {
        for (const r of reportRows(fw))
          yield [
            r.kind,
            r.profile,
            r.mode,
            r.digest,
            r.text,
            r.truncated ? 'YES' : 'NO',
            r.count,
            mysqlTime(r.firstSeen),
            mysqlTime(r.lastSeen),
          ];
      },
    },
  ];
}

function kindName(k: ProfileKind): string {
  return k === 'user' ? 'ACCOUNT' : 'GROUP';
}

export interface ReportRow {
  kind: string;
  profile: string;
  mode: string;
  digest: string;
  text: string;
  truncated: boolean;
  count: number;
  firstSeen: number;
  lastSeen: number;
}

/** The learning report, newest first seen last (for the table, the HTTP API and the dashboard). */
export function reportRows(fw: SqlFirewall): ReportRow[] {
  const out: ReportRow[] = [];
  for (const p of fw.profiles()) {
    for (const e of p.report.values()) {
      out.push({
        kind: kindName(p.kind),
        profile: p.name,
        mode: p.mode,
        digest: e.hash,
        text: e.text,
        truncated: e.truncated,
        count: e.count,
        firstSeen: e.firstSeen,
        lastSeen: e.lastSeen,
      });
    }
  }
  return out;
}

/** A firewall statement's error, in MySQL's terms. */
export class ProcedureError extends Error {
  readonly error: ServerError;
  constructor(error: ServerError) {
    super(error.message);
    this.error = error;
  }
}

type Arg = string | null;

/** The argument list of a CALL: SQL string literals ('' and \ escapes), NULL, numbers. */
export function parseCallArgs(text: string, procedure: string): Arg[] {
  const args: Arg[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  skip();
  if (i === text.length) return args;
  for (;;) {
    skip();
    const c = text[i];
    if (c === "'" || c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw syntax(procedure, 'unterminated string');
        const d = text[i]!;
        if (d === '\\' && i + 1 < text.length) {
          v += text[i + 1]!;
          i += 2;
        } else if (d === c && text[i + 1] === c) {
          v += c;
          i += 2;
        } else if (d === c) {
          i++;
          break;
        } else {
          v += d;
          i++;
        }
      }
      args.push(v);
    } else {
      const m = /^(NULL|-?\d+)\b/i.exec(text.slice(i));
      if (m === null) throw syntax(procedure, `near '${text.slice(i, i + 30)}'`);
      args.push(m[1]!.toUpperCase() === 'NULL' ? null : m[1]!);
      i += m[0].length;
    }
    skip();
    if (i === text.length) return args;
    if (text[i] !== ',') throw syntax(procedure, `near '${text.slice(i, i + 30)}'`);
    i++;
  }
}

function syntax(procedure: string, why: string): ProcedureError {
  return new ProcedureError({
    code: 1064,
    state: '42000',
    message: `You have an error in your SQL syntax in the arguments of ${procedure}: ${why}`,
  });
}

const PROCEDURES: Record<string, number> = {
  sp_set_firewall_mode: 2,
  sp_set_firewall_group_mode: 2,
  sp_set_firewall_group_mode_and_user: 3,
  sp_firewall_group_enlist: 2,
  sp_firewall_group_delist: 2,
  sp_reload_firewall_rules: 1,
  sp_reload_firewall_group_rules: 1,
  sp_set_firewall_network: 2,
  sp_set_firewall_group_network: 2,
};

/** Whether a CALL names one of the firewall's procedures (others get 1305). */
export function isFirewallProcedure(name: string): boolean {
  return Object.hasOwn(PROCEDURES, name.toLowerCase());
}

/** Runs one firewall procedure. Throws ProcedureError with the MySQL error a client should see. */
export function callProcedure(
  fw: SqlFirewall,
  name: string,
  argText: string,
): { affectedRows: number; info: string } {
  const proc = name.toLowerCase();
  const want = PROCEDURES[proc];
  if (want === undefined)
    throw new ProcedureError({
      code: 1305,
      state: '42000',
      message: `PROCEDURE mysql.${name} does not exist`,
    });
  const args = parseCallArgs(argText, proc);
  if (args.length !== want) {
    throw new ProcedureError({
      code: 1318,
      state: '42000',
      message: `Incorrect number of arguments for PROCEDURE mysql.${proc}; expected ${want}, got ${args.length}`,
    });
  }
  const str = (i: number, what: string): string => {
    const v = args[i];
    if (v === null || v === undefined || v === '') throw wrong(proc, `${what} must not be NULL or empty`);
    return v;
  };
  try {
    switch (proc) {
      case 'sp_set_firewall_mode': {
        const p = fw.setUserMode(str(0, 'the account'), parseMode(str(1, 'the mode'), true));
        return { affectedRows: 1, info: `${p.name}: ${p.mode}` };
      }
      case 'sp_set_firewall_group_mode':
      case 'sp_set_firewall_group_mode_and_user': {
        const trainer = proc === 'sp_set_firewall_group_mode' ? undefined : (args[2] ?? null);
        const p = fw.setGroupMode(str(0, 'the group'), parseMode(str(1, 'the mode'), true), trainer);
        return { affectedRows: 1, info: `${p.name}: ${p.mode}` };
      }
      case 'sp_firewall_group_enlist':
      case 'sp_firewall_group_delist': {
        const changed = fw.setMember(
          str(0, 'the group'),
          str(1, 'the account'),
          proc === 'sp_firewall_group_enlist',
        );
        return { affectedRows: changed ? 1 : 0, info: '' };
      }
      case 'sp_reload_firewall_rules':
      case 'sp_reload_firewall_group_rules':
        // moat's memory and its store change together: nothing to reload.
        return {
          affectedRows: 0,
          info: 'moat keeps the rules in memory and in stateDir/sqlfw.sqlite together',
        };
      case 'sp_set_firewall_network':
      case 'sp_set_firewall_group_network': {
        const list = (args[1] ?? '')
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter((s) => s !== '');
        const p = fw.setNetworks(
          proc === 'sp_set_firewall_network' ? 'user' : 'group',
          str(0, 'the profile'),
          list,
        );
        return {
          affectedRows: 1,
          info: `${p.name}: ${p.networks.length === 0 ? 'any network' : p.networks.join(', ')}`,
        };
      }
    }
  } catch (e) {
    if (e instanceof SqlfwError || e instanceof AccountNameError) throw wrong(proc, e.message);
    throw e;
  }
  throw wrong(proc, 'unhandled');
}

/** MySQL's 1210, naming the procedure and the entry at fault. */
function wrong(proc: string, why: string): ProcedureError {
  return new ProcedureError({
    code: 1210,
    state: 'HY000',
    message: `Incorrect arguments to ${proc}: ${why}`,
  });
}
