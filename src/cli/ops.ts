// The operator commands: `moat hosts | blocked | block | unblock | flush-hosts | status |
// sessions | report`, talking to a running moat's HTTP API (admin.http). The token comes from
// MOAT_TOKEN or --token-file, never from the command line (it would show in `ps`).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { HostView } from '../admin/views.ts';
import { formatTable } from '../text/table.ts';
import { safe } from './terminal.ts';

export const OPS_HELP = `Operator commands (talk to a running moat's HTTP API):
  moat hosts [--failing]        the host ledger
  moat hosts --fleet            every instance of the fleet: totals per address (state.store: redis)
  moat blocked                  blocked hosts
  moat block <ip> [--for 1h]    block a host (s, m, h, d), until unblocked without --for
  moat unblock <ip>             unblock one host
  moat flush-hosts              empty the ledger, lift automatic blocks (FLUSH HOSTS)
  moat status                   status counters
  moat sessions                 live sessions
  moat report                   a security report from the ledger

Options:
  --url URL          the API (default $MOAT_URL or http://127.0.0.1:6034)
  --token-file FILE  a file holding the token (default: $MOAT_TOKEN)
  --json             print JSON instead of a table
`;

export const OPS_COMMANDS = [
  'hosts',
  'blocked',
  'block',
  'unblock',
  'flush-hosts',
  'status',
  'sessions',
  'report',
];

export class OpsError extends Error {}

/** The columns of a ledger row both `moat hosts` views print. */
type LedgerRow = Pick<
  HostView,
  'ip' | 'counts' | 'sumConnectErrors' | 'totalConnections' | 'successes' | 'lastSeen' | 'blocked'
>;

function ledgerTable<T extends LedgerRow>(
  second: string,
  rows: readonly T[],
  cell: (row: T) => string | number | null,
): string {
  return formatTable(
    ['IP', second, 'CONNECTIONS', 'OK', 'CONNECT_ERRORS', 'FAILURES', 'LAST_SEEN', 'BLOCKED'],
    rows.map((h) => [
      h.ip,
      cell(h),
      h.totalConnections,
      h.successes,
      h.sumConnectErrors,
      failures(h),
      h.lastSeen,
      h.blocked ? 'yes' : '',
    ]),
  );
}

/** GET /api/fleet, as far as `moat hosts --fleet` reads it. */
interface FleetTotals {
  instances: Array<{ instance: string; state: string }>;
  totals: Array<LedgerRow & { instances: number }>;
}

export async function ops(command: string, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      'token-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      failing: { type: 'boolean', default: false },
      fleet: { type: 'boolean', default: false },
      for: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(OPS_HELP);
    return 0;
  }
  const base = (values.url ?? process.env.MOAT_URL ?? 'http://127.0.0.1:6034').replace(/\/$/, '');
  const token = (
    values['token-file'] !== undefined
      ? readFileSync(values['token-file'], 'utf8')
      : (process.env.MOAT_TOKEN ?? '')
  ).trim();
  if (token === '') throw new OpsError('no token: set MOAT_TOKEN or pass --token-file');
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new OpsError(`cannot reach moat at ${base}: ${(e as Error).cause ?? (e as Error).message}`);
    }
    const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok)
      throw new OpsError(`${method} ${path}: ${res.status} ${String(data.error ?? res.statusText)}`);
    return data;
  };
  const out = (data: unknown, table: () => string) => {
    process.stdout.write(values.json ? `${JSON.stringify(data, null, 2)}\n` : table());
    return 0;
  };
  const ip = () => {
    const v = positionals[0];
    if (v === undefined) throw new OpsError(`moat ${command}: which address?`);
    return v;
  };

  switch (command) {
    case 'hosts': {
      const keep = (h: LedgerRow) => !values.failing || Object.keys(h.counts).length > 0;
      if (values.fleet) {
        const data = (await call('GET', '/api/fleet')) as unknown as FleetTotals;
        const totals = data.totals.filter(keep);
        const instances = data.instances.map((i) => `${i.instance} (${i.state})`).join(', ');
        return out(
          { instances: data.instances, totals },
          () => `${ledgerTable('INSTANCES', totals, (h) => h.instances)}\ninstances: ${instances}\n`,
        );
      }
      const data = (await call('GET', '/api/hosts')) as { hosts: HostView[] };
      const hosts = data.hosts.filter(keep);
      return out({ hosts }, () => ledgerTable('HOST', hosts, (h) => safe(h.host)));
    }
    case 'blocked': {
      const data = (await call('GET', '/api/blocked')) as {
        blocked: Array<{ ip: string; reason: string; by: string; since: string; until: string | null }>;
      };
      return out(data, () =>
        formatTable(
          ['IP', 'REASON', 'BY', 'SINCE', 'UNTIL'],
          data.blocked.map((b) => [b.ip, safe(b.reason), safe(b.by), b.since, b.until ?? 'until unblocked']),
        ),
      );
    }
    case 'block': {
      const seconds = values.for === undefined ? undefined : duration(values.for);
      const data = await call('POST', '/api/block', { ip: ip(), seconds });
      return out(data, () => `blocked ${ip()}${seconds === undefined ? '' : ` for ${values.for}`}\n`);
    }
    case 'unblock': {
      const data = await call('POST', '/api/unblock', { ip: ip() });
      return out(data, () => (data.unblocked ? `unblocked ${ip()}\n` : `${ip()} was not blocked\n`));
    }
    case 'flush-hosts': {
      const data = await call('POST', '/api/flush-hosts');
      return out(data, () => 'host ledger flushed; automatic blocks lifted\n');
    }
    case 'status': {
      const data = (await call('GET', '/api/status')) as { status: Record<string, number> };
      return out(data, () => formatTable(['Variable_name', 'Value'], Object.entries(data.status)));
    }
    case 'sessions': {
      const data = (await call('GET', '/api/sessions')) as {
        sessions: Array<Record<string, string | number | null>>;
      };
      return out(data, () =>
        formatTable(
          ['ID', 'USER', 'HOST', 'DB', 'COMMAND', 'TIME', 'STATE', 'TLS'],
          data.sessions.map((s) => [
            s.id,
            safe(s.user),
            safe(s.host),
            safe(s.db),
            s.command,
            s.timeSeconds,
            s.state,
            s.tls,
          ]),
        ),
      );
    }
    case 'report':
      return report(call, values.json);
  }
  throw new OpsError(`unknown command ${command}`);
}

function failures(h: Pick<HostView, 'counts'>): string {
  return Object.entries(h.counts)
    .map(([c, n]) => `${c}:${n}`)
    .join(' ');
}

/** `30s`, `10m`, `1h`, `2d` (or plain seconds) in seconds. */
export function duration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (m === null) throw new OpsError(`--for ${text}: expected a number with s, m, h or d, e.g. 1h`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
}

type Call = (method: 'GET' | 'POST', path: string) => Promise<Record<string, unknown>>;

/** Hosts that only ever failed, handshake errors, refusals by rule, users under login delay. */
async function report(call: Call, json: boolean): Promise<number> {
  const { hosts } = (await call('GET', '/api/hosts')) as { hosts: HostView[] };
  const { failedLogins } = (await call('GET', '/api/failed-logins')) as {
    failedLogins: Array<{ userHost: string; failedAttempts: number }>;
  };
  const { blocked } = (await call('GET', '/api/blocked')) as {
    blocked: Array<{ ip: string; reason: string }>;
  };
  const failing = (h: HostView) => Object.values(h.counts).reduce((a, b) => a + b, 0);
  const sections = {
    onlyFailed: hosts.filter((h) => h.successes === 0 && failing(h) > 0),
    handshakeErrors: hosts.filter((h) => (h.counts.handshake ?? 0) > 0),
    refusedByRules: hosts.filter((h) => (h.counts['host-acl'] ?? 0) > 0),
    delayedUsers: failedLogins,
    blocked,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(sections, null, 2)}\n`);
    return 0;
  }
  // Host names come from PTR records and user names from clients: escaped for the terminal.
  const hostRows = (list: HostView[], count: (h: HostView) => number) =>
    list.map((h) => [safe(h.ip), safe(h.host), count(h), h.totalConnections, h.firstSeen, h.lastSeen]);
  const HOST_HEAD = ['IP', 'HOST', 'COUNT', 'CONNECTIONS', 'FIRST_SEEN', 'LAST_SEEN'];
  const parts = [
    ['Hosts whose connections all failed (none ever succeeded)', hostRows(sections.onlyFailed, failing)],
    [
      'Hosts with handshake errors (port scans, broken monitors, wrong protocol)',
      hostRows(sections.handshakeErrors, (h) => h.counts.handshake ?? 0),
    ],
    ['Hosts refused by address rules', hostRows(sections.refusedByRules, (h) => h.counts['host-acl'] ?? 0)],
  ] as const;
  let text = '';
  for (const [title, rows] of parts) {
    text += `\n${title}: ${rows.length}\n`;
    if (rows.length > 0) text += formatTable(HOST_HEAD, rows);
  }
  text += `\nUsers under login delay (connection control): ${failedLogins.length}\n`;
  if (failedLogins.length > 0) {
    text += formatTable(
      ['USERHOST', 'FAILED_ATTEMPTS'],
      failedLogins.map((f) => [safe(f.userHost), f.failedAttempts]),
    );
  }
  text += `\nBlocked hosts: ${blocked.length}\n`;
  if (blocked.length > 0)
    text += formatTable(
      ['IP', 'REASON'],
      blocked.map((b) => [safe(b.ip), safe(b.reason)]),
    );
  process.stdout.write(text.slice(1));
  return 0;
}
