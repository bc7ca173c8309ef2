// Connect-rate test: N concurrent loops of connect, authenticate, SELECT 1, quit, for T seconds.
// This is the path where moat does the most work per byte (own greeting, auth switch, backend
// connect, ledger), so it is measured apart from the steady-state query relay.
import mysql from 'mysql2/promise';
import { connectQueryQuit, type Endpoint } from './mysql-client.ts';

export type ConnectClient = 'raw' | 'mysql2';

export type ConnectResult = {
  cycles: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  p95Ms: number;
};

async function mysql2Cycle(ep: Endpoint): Promise<number> {
  const start = process.hrtime.bigint();
  const { host, port, user, password, database } = ep;
  const conn = await mysql.createConnection({ host, port, user, password, database });
  await conn.query('SELECT 1');
  const ns = Number(process.hrtime.bigint() - start);
  await conn.end();
  return ns;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function runConnectRate(
  ep: Endpoint,
  opts: { concurrency: number; seconds: number; client: ConnectClient },
): Promise<ConnectResult> {
  const cycle = opts.client === 'raw' ? connectQueryQuit : mysql2Cycle;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;

  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        latencies.push(await cycle(ep));
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // A refusing target must not turn the loop into a busy spin.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    cycles: latencies.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    seconds,
    perSecond: latencies.length / seconds,
    p95Ms: percentile(latencies, 95) / 1e6,
  };
}
