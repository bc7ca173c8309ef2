// The scenario with the `mariadb` command-line client. One run does every query step (its output
// in XML, which, unlike --batch text, keeps result sets apart and NULL distinct from 'NULL'); the
// two failing logins of the errors step are runs of their own. The password travels in MYSQL_PWD.
import { createHash } from 'node:crypto';
import {
  BIG_ROW_SQL,
  MULTI_SQL,
  NO_SUCH_DB,
  PREPARED_PARAMS,
  PREPARED_SQL,
  type RawResult,
  type RawRow,
  type ResolvedOptions,
  SELECT_SQL,
  spawnWithEnv,
} from '../clients.ts';

export const MARIADB_CLI = '/usr/bin/mariadb';

function argv(o: ResolvedOptions, user: string, database: string | undefined): string[] {
  const t = o.target;
  return [
    MARIADB_CLI,
    '--no-defaults',
    '--batch',
    '--raw',
    '--xml',
    '--default-character-set=utf8mb4',
    // The client's own limit on what it reads, 16 MiB by default: too small for the big row.
    '--max-allowed-packet=64M',
    `--connect-timeout=${Math.ceil(o.timeoutMs / 1000)}`,
    `--user=${user}`,
    ...('socket' in t
      ? ['--protocol=SOCKET', `--socket=${t.socket}`]
      : ['--protocol=TCP', `--host=${t.host}`, `--port=${t.port}`]),
    // 10.11 clients do not verify the server certificate unless told to (11.4+ do by default).
    ...(o.tls ? ['--ssl', `--ssl-ca=${o.tls.ca}`, '--ssl-verify-server-cert'] : ['--skip-ssl']),
    ...(database ? [`--database=${database}`] : []),
  ];
}

function env(password: string): Record<string, string> {
  const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };
  if (password) e.MYSQL_PWD = password;
  return e;
}

const marker = (step: string): string => `SELECT '${step}' AS moat_step;`;

function script(o: ResolvedOptions): string {
  const steps = new Set(o.steps);
  const sql = [marker('currentUser'), 'SELECT CURRENT_USER() AS u;'];
  if (steps.has('select')) sql.push(marker('select'), `${SELECT_SQL};`);
  if (steps.has('prepared')) {
    sql.push(marker('prepared'), `PREPARE moat_s FROM '${PREPARED_SQL}';`);
    for (const p of PREPARED_PARAMS) sql.push(`SET @moat_p = ${p};`, 'EXECUTE moat_s USING @moat_p;');
    sql.push('DEALLOCATE PREPARE moat_s;');
  }
  // The CLI splits its input at the delimiter and sends each statement alone; with another
  // delimiter both SELECTs go in one COM_QUERY (the CLI always sets CLIENT_MULTI_STATEMENTS).
  if (steps.has('multi')) sql.push(marker('multi'), 'DELIMITER //', `${MULTI_SQL}//`, 'DELIMITER ;');
  if (steps.has('bigRow')) sql.push(marker('bigRow'), `${BIG_ROW_SQL};`);
  // \s (status) prints the client's own view, "SSL: Cipher in use is ..." or "SSL: Not in use".
  if (steps.has('tls')) sql.push(marker('tls'), "SHOW SESSION STATUS LIKE 'Ssl_cipher';", '\\s');
  return sql.join('\n') + '\n';
}

export async function run(o: ResolvedOptions): Promise<RawResult> {
  const steps = new Set(o.steps);
  const errors = steps.has('errors')
    ? Promise.all([failCode(o, `wrong-${o.password}`, o.database), failCode(o, o.password, NO_SUCH_DB)])
    : undefined;
  const { code, stdout, stderr } = await spawnWithEnv(argv(o, o.user, o.database), env(o.password), {
    timeoutMs: o.timeoutMs,
    input: script(o),
  });
  if (code !== 0) throw new Error(`mariadb CLI exited with ${code}: ${stderr.trim()}`);
  const byStep = new Map<string, RawRow[][]>();
  let current: RawRow[][] = [];
  for (const rs of parseXml(stdout)) {
    const step = rs.length === 1 ? rs[0]?.moat_step : undefined;
    if (typeof step === 'string') {
      current = [];
      byStep.set(step, current);
    } else {
      current.push(rs);
    }
  }
  const get = (step: string): RawRow[][] => {
    const sets = byStep.get(step);
    if (!sets)
      throw new Error(`mariadb CLI: no output for step ${step}:\n${stdout.slice(0, 2000)}\n${stderr}`);
    return sets;
  };
  const out: RawResult = { currentUser: String(get('currentUser')[0]?.[0]?.u) };
  if (steps.has('select')) out.select = get('select')[0];
  if (steps.has('prepared')) out.prepared = get('prepared');
  if (steps.has('multi')) out.multi = get('multi');
  if (steps.has('bigRow')) {
    const big = String(get('bigRow')[0]?.[0]?.big);
    out.bigRow = { length: big.length, sha256: createHash('sha256').update(big).digest('hex') };
  }
  if (steps.has('tls')) {
    const ssl = /^SSL:\s*(.*)$/m.exec(stdout)?.[1];
    if (ssl === undefined) throw new Error(`mariadb CLI: no SSL line in \\s output:\n${stdout.slice(-2000)}`);
    out.tls = { server: Boolean(get('tls')[0]?.[0]?.Value), client: ssl.startsWith('Cipher in use') };
  }
  // The CLI has no change-user command (COM_CHANGE_USER is not reachable from it).
  if (steps.has('changeUser')) out.changeUser = null;
  if (errors) {
    const [wrongPassword, noSuchDb] = await errors;
    out.errors = { wrongPassword, noSuchDb };
  }
  return out;
}

async function failCode(o: ResolvedOptions, password: string, database: string | undefined): Promise<number> {
  const { code, stderr } = await spawnWithEnv(argv(o, o.user, database), env(password), {
    timeoutMs: o.timeoutMs,
    input: 'SELECT 1;\n',
  });
  const m = /^ERROR (\d+)/m.exec(stderr);
  if (code === 0 || !m) throw new Error(`mariadb CLI: expected a login error, got exit ${code}: ${stderr}`);
  return Number(m[1]);
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (all, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(Number(e[1] === 'x' ? `0${e.slice(1)}` : e.slice(1)));
    return ENTITIES[e] ?? all;
  });
}

/** The result sets of `mariadb --xml` output, in order; NULL is <field ... xsi:nil="true" />. */
export function parseXml(xml: string): RawRow[][] {
  const sets: RawRow[][] = [];
  for (const rs of xml.matchAll(/<resultset\b[^>]*?(?:\/>|>([\s\S]*?)<\/resultset>)/g)) {
    const rows: RawRow[] = [];
    for (const r of (rs[1] ?? '').matchAll(/<row>([\s\S]*?)<\/row>/g)) {
      const row: RawRow = {};
      for (const f of (r[1] ?? '').matchAll(
        /<field name="([^"]*)"(?:\s+xsi:nil="true"\s*\/>|>([\s\S]*?)<\/field>)/g,
      )) {
        row[decodeXml(f[1] ?? '')] = f[2] === undefined ? null : decodeXml(f[2]);
      }
      rows.push(row);
    }
    sets.push(rows);
  }
  return sets;
}
