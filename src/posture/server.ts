// Server settings that decide how much a login attempt or a session can do: connection-error
// blocking (and whether moat's own blocking stands in for it), name resolution, LOCAL INFILE,
// file access, TLS, and the logging of failed logins. Fixes are option-file lines, which last
// across restarts; most can also be SET GLOBAL for the running server.

import { networking } from './bypass.ts';
import type { CheckContext } from './context.ts';
import type { ServerFacts } from './facts.ts';
import { type Finding, type FixKind, passed, type Severity } from './finding.ts';

const on = (v: string | null | undefined): boolean => v === 'ON' || v === '1';

export function serverFindings(facts: ServerFacts, ctx: CheckContext): Finding[] {
  const v = facts.variables;
  const cfg = ctx.config;
  const out: Finding[] = [];
  const add = (
    id: string,
    ok: boolean,
    seen: string,
    bad: { severity: Severity; why: string; fix: string; fixKind?: FixKind },
  ): void => {
    if (ok) out.push(passed({ id, area: 'server', subject: 'server', seen }));
    else out.push({ id, area: 'server', subject: 'server', seen, fixKind: 'option', ...bad });
  };

  const mce = v.get('max_connect_errors') ?? '?';
  const moatBlocks = cfg.guard.max_connect_errors;
  add(
    'server.max-connect-errors',
    moatBlocks > 0,
    `max_connect_errors=${mce}; moat's guard.max_connect_errors=${moatBlocks}${moatBlocks > 0 ? ' (moat blocks)' : ' (off)'}`,
    {
      severity: 'fail',
      why: "Behind moat the server sees only moat's address, and moat finishes every handshake it opens, so the server's counter never blocks a client: with moat's blocking off, nothing stops a host that keeps failing handshakes.",
      fix: 'guard.max_connect_errors: 100',
      fixKind: 'config',
    },
  );

  add(
    'server.name-resolve',
    on(v.get('skip_name_resolve')),
    `skip_name_resolve=${v.get('skip_name_resolve') ?? '?'}`,
    {
      severity: 'warn',
      why: "Each connection waits on reverse and forward DNS, whoever controls an address's reverse zone decides which host-name patterns it matches, and a slow DNS server stalls logins. moat resolves names itself without delaying a connection.",
      fix: 'skip-name-resolve',
    },
  );

  add(
    'server.local-infile',
    !on(v.get('local_infile')),
    `local_infile=${v.get('local_infile') ?? '?'}${cfg.localInfile ? "; moat's localInfile: true" : ''}`,
    {
      // moat refuses LOAD DATA LOCAL unless localInfile is on: then only direct clients are exposed.
      severity: cfg.localInfile ? 'fail' : 'warn',
      why: 'LOAD DATA LOCAL lets the server (or whoever controls a session through SQL injection) read files from the client machine.',
      fix: 'local-infile=0',
    },
  );

  // MariaDB: empty means no restriction (NULL is not possible). MySQL: NULL disables file
  // operations, empty means no restriction. The check's client shows NULL as null.
  const raw = v.has('secure_file_priv') ? v.get('secure_file_priv') : undefined;
  const sfp = raw === 'NULL' && facts.flavor === 'mysql' ? null : raw;
  add(
    'server.secure-file-priv',
    sfp === null || (sfp !== undefined && sfp !== ''),
    `secure_file_priv=${sfp === null ? 'NULL' : sfp === '' ? "'' (any directory)" : (sfp ?? '?')}`,
    {
      severity: 'warn',
      why: "An account with the FILE privilege reads and writes any file the server can (LOAD_FILE, SELECT … INTO OUTFILE): keys, other databases, web roots. Restrict it to one directory of its own (create it, owned by the server's user).",
      fix: facts.flavor === 'mysql' ? 'secure-file-priv=NULL' : 'secure-file-priv=/var/lib/mysql-files',
    },
  );

  const haveSsl = v.get('have_ssl');
  const tls = facts.tlsOffered || haveSsl === 'YES';
  const crosses = ctx.path.kind === 'remote';
  add(
    'server.tls',
    tls,
    `TLS ${tls ? 'offered' : 'not offered'}${haveSsl === undefined ? '' : ` (have_ssl=${haveSsl})`}`,
    {
      severity: crosses ? 'fail' : 'warn',
      why: crosses
        ? 'moat reaches the server across a network: without TLS the sessions and login scrambles cross it in clear.'
        : 'Without TLS any login that crosses a network (direct clients, a moat on another host later) is in clear.',
      fix: 'ssl-cert=<certificate file>\nssl-key=<its key file>',
    },
  );

  const rst = v.get('require_secure_transport');
  const net = networking(facts);
  add(
    'server.secure-transport',
    !net || on(rst),
    net ? `require_secure_transport=${rst ?? '?'}` : 'skip_networking=ON: unix socket only',
    {
      severity: 'warn',
      why: `Plain TCP logins are accepted, so a client that reaches the server directly may send its session in clear. The unix socket counts as secure; over TCP moat then needs backend.tls.mode: require or verify${cfg.backend.address.kind === 'tcp' && cfg.backend.tls.mode === 'off' ? ' (it is off now)' : ''}.`,
      fix: 'require-secure-transport=ON',
    },
  );

  const versions = v.get('tls_version');
  if (versions !== undefined && versions !== null) {
    const old = versions.split(',').filter((t) => /^TLSv1(\.[01])?$/.test(t.trim()));
    add('server.tls-version', old.length === 0, `tls_version=${versions}`, {
      severity: 'warn',
      why: `${old.join(' and ')} ${old.length > 1 ? 'are' : 'is'} deprecated (RFC 8996) and open to downgrade attacks; moat itself speaks TLS 1.2+ only.`,
      fix: 'tls-version=TLSv1.2,TLSv1.3',
    });
  }

  if (facts.flavor === 'mariadb') {
    const lw = v.get('log_warnings');
    add('server.log-failed-logins', Number(lw ?? 0) >= 2, `log_warnings=${lw ?? '?'}`, {
      severity: 'warn',
      why: "MariaDB writes failed logins (Access denied) to its error log only at log_warnings >= 2: attempts that bypass moat leave no trace otherwise (moat's audit log records the ones through it).",
      fix: 'log-warnings=2',
    });
  } else {
    const lev = v.get('log_error_verbosity');
    add('server.log-failed-logins', Number(lev ?? 0) >= 3, `log_error_verbosity=${lev ?? '?'}`, {
      severity: 'warn',
      why: "MySQL writes failed logins (Access denied) to its error log only at log_error_verbosity 3: attempts that bypass moat leave no trace otherwise (moat's audit log records the ones through it).",
      fix: 'log-error-verbosity=3',
    });
  }
  return out;
}
