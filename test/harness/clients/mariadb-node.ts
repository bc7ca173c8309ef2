// The scenario with the mariadb Node connector, in the test's own process.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mariadb, { type ConnectionConfig } from 'mariadb';
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
} from '../clients.ts';

function options(
  o: ResolvedOptions,
  user: string,
  password: string,
  database: string | undefined,
): ConnectionConfig {
  const t = o.target;
  return {
    ...('socket' in t ? { socketPath: t.socket } : { host: t.host, port: t.port }),
    user,
    password,
    database,
    multipleStatements: true,
    connectTimeout: o.timeoutMs,
    // Quirk: the connector upgrades with tls.connect({ socket }) and no servername, so Node checks
    // the certificate's name against 'localhost' whatever host was dialled.
    ssl: o.tls ? { ca: readFileSync(o.tls.ca) } : undefined,
  };
}

export async function run(o: ResolvedOptions): Promise<RawResult> {
  const steps = new Set(o.steps);
  const conn = await mariadb.createConnection(options(o, o.user, o.password, o.database));
  try {
    const q = async (sql: string): Promise<RawRow[]> => [...((await conn.query(sql)) as RawRow[])];
    const out: RawResult = { currentUser: await currentUser(q) };
    if (steps.has('select')) out.select = await q(SELECT_SQL);
    if (steps.has('prepared')) {
      const stmt = await conn.prepare(PREPARED_SQL);
      out.prepared = [];
      for (const p of PREPARED_PARAMS) out.prepared.push([...((await stmt.execute([p])) as RawRow[])]);
      stmt.close();
    }
    if (steps.has('multi')) {
      out.multi = ((await conn.query(MULTI_SQL)) as RawRow[][]).map((rs) => [...rs]);
    }
    if (steps.has('bigRow')) {
      const big = String((await q(BIG_ROW_SQL))[0]?.big);
      out.bigRow = { length: big.length, sha256: createHash('sha256').update(big).digest('hex') };
    }
    if (steps.has('tls')) {
      const status = await q("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      // The connector keeps its socket private: no client-side view of TLS.
      out.tls = { server: Boolean(status[0]?.Value), client: null };
    }
    if (steps.has('changeUser')) {
      await conn.changeUser({ user: o.changeUserTo.user, password: o.changeUserTo.password });
      out.changeUser = await currentUser(q);
    }
    if (steps.has('errors')) {
      out.errors = {
        wrongPassword: await failCode(options(o, o.user, `wrong-${o.password}`, o.database)),
        noSuchDb: await failCode(options(o, o.user, o.password, NO_SUCH_DB)),
      };
    }
    return out;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

async function currentUser(q: (sql: string) => Promise<RawRow[]>): Promise<string> {
  return String((await q('SELECT CURRENT_USER() AS u'))[0]?.u);
}

async function failCode(opts: ConnectionConfig): Promise<number> {
  try {
    const conn = await mariadb.createConnection(opts);
    await conn.end();
  } catch (err) {
    return (err as { errno?: number }).errno ?? -1;
  }
  throw new Error(`mariadb: connecting as ${opts.user} to ${opts.database} unexpectedly succeeded`);
}
