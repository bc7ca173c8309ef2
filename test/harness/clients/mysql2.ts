// The scenario with mysql2 (promise API), in the test's own process.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
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

function options(o: ResolvedOptions, user: string, password: string, database: string | undefined) {
  const t = o.target;
  return {
    ...('socket' in t ? { socketPath: t.socket } : { host: t.host, port: t.port }),
    user,
    password,
    database,
    multipleStatements: true,
    connectTimeout: o.timeoutMs,
    // Quirk: mysql2 checks the chain by default but the name only with verifyIdentity, and for an
    // IP address it sets no servername, so Node checks the name 'localhost', not the IP dialled.
    ssl: o.tls ? { ca: readFileSync(o.tls.ca), verifyIdentity: true } : undefined,
  };
}

export async function run(o: ResolvedOptions): Promise<RawResult> {
  const steps = new Set(o.steps);
  const conn = await mysql.createConnection(options(o, o.user, o.password, o.database));
  try {
    const q = async (sql: string): Promise<RawRow[]> => (await conn.query(sql))[0] as RawRow[];
    const out: RawResult = { currentUser: await currentUser(q) };
    if (steps.has('select')) out.select = await q(SELECT_SQL);
    if (steps.has('prepared')) {
      const stmt = await conn.prepare(PREPARED_SQL);
      out.prepared = [];
      for (const p of PREPARED_PARAMS) out.prepared.push((await stmt.execute([p]))[0] as RawRow[]);
      await stmt.close();
    }
    if (steps.has('multi')) out.multi = (await conn.query(MULTI_SQL))[0] as unknown as RawRow[][];
    if (steps.has('bigRow')) {
      const big = String((await q(BIG_ROW_SQL))[0]?.big);
      out.bigRow = { length: big.length, sha256: createHash('sha256').update(big).digest('hex') };
    }
    if (steps.has('tls')) {
      const status = await q("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      // After the SSLRequest mysql2 swaps its stream for the TLSSocket.
      const stream = (conn as unknown as { connection: { stream: Partial<TLSSocket> } }).connection.stream;
      out.tls = { server: Boolean(status[0]?.Value), client: stream.encrypted === true };
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

async function failCode(opts: mysql.ConnectionOptions): Promise<number> {
  try {
    const conn = await mysql.createConnection(opts);
    await conn.end();
  } catch (err) {
    return (err as { errno?: number }).errno ?? -1;
  }
  throw new Error(`mysql2: connecting as ${opts.user} to ${opts.database} unexpectedly succeeded`);
}
