// sysbench 1.0.20 runner and output parser.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export type SysbenchConn = {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  tables: number;
  tableSize: number;
  /** 'disable': COM_QUERY text protocol; 'auto': server-side prepared statements (COM_STMT_*). */
  psMode: 'disable' | 'auto';
};

export type SysbenchResult = {
  queries: number;
  qps: number;
  transactions: number;
  tps: number;
  p95Ms: number;
  errors: number;
  reconnects: number;
  seconds: number;
};

function commonArgs(c: SysbenchConn): string[] {
  return [
    '--db-driver=mysql',
    // 127.0.0.1, never "localhost": libmariadb takes "localhost" to mean the Unix socket and would
    // silently ignore --mysql-port, bypassing the proxy.
    `--mysql-host=${c.host}`,
    `--mysql-port=${c.port}`,
    `--mysql-user=${c.user}`,
    `--mysql-password=${c.password}`,
    `--mysql-db=${c.database}`,
    '--mysql-ssl=off',
    `--tables=${c.tables}`,
    `--table-size=${c.tableSize}`,
    `--db-ps-mode=${c.psMode}`,
  ];
}

async function sysbench(args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await exec('sysbench', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string; signal?: string };
    // sysbench prints its FATAL lines on stdout; the last of them says what went wrong.
    const lines = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '');
    const why = lines.findLast((l) => /FATAL|error/i.test(l)) ?? lines.at(-1) ?? String(err);
    const how = e.signal ? `killed by ${e.signal}` : `exit ${e.code}`;
    throw new Error(
      `sysbench ${how}: ${why.trim()}\n  sysbench ${args.join(' ')}\n${lines.slice(-8).join('\n')}`,
    );
  }
}

/** Creates and fills the sbtest tables (oltp_common's schema, with its secondary index). */
export async function prepare(c: SysbenchConn): Promise<void> {
  await sysbench(['oltp_read_only', ...commonArgs(c), '--threads=4', 'prepare'], 300_000);
}

export async function run(
  script: 'oltp_point_select' | 'oltp_read_only',
  c: SysbenchConn,
  threads: number,
  seconds: number,
): Promise<SysbenchResult> {
  const out = await sysbench(
    [
      script,
      ...commonArgs(c),
      `--threads=${threads}`,
      `--time=${seconds}`,
      '--events=0',
      '--percentile=95',
      'run',
    ],
    (seconds + 60) * 1000,
  );
  return parse(out);
}

export function parse(out: string): SysbenchResult {
  const num = (re: RegExp, what: string): number => {
    const m = out.match(re);
    if (!m) throw new Error(`sysbench output has no ${what}:\n${out}`);
    return Number(m[1]);
  };
  return {
    queries: num(/^\s+queries:\s+(\d+)/m, 'queries'),
    qps: num(/^\s+queries:\s+\d+\s+\(([\d.]+) per sec/m, 'queries per sec'),
    transactions: num(/^\s+transactions:\s+(\d+)/m, 'transactions'),
    tps: num(/^\s+transactions:\s+\d+\s+\(([\d.]+) per sec/m, 'transactions per sec'),
    p95Ms: num(/^\s+95th percentile:\s+([\d.]+)/m, '95th percentile'),
    errors: num(/^\s+ignored errors:\s+(\d+)/m, 'ignored errors'),
    reconnects: num(/^\s+reconnects:\s+(\d+)/m, 'reconnects'),
    seconds: num(/^\s+total time:\s+([\d.]+)s/m, 'total time'),
  };
}
