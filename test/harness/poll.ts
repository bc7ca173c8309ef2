// Waiting for something another process does (a block propagating, a failover, a table written):
// poll every 25 ms, fail with what was awaited when it takes longer than `ms`.
import { setTimeout as sleep } from 'node:timers/promises';

export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
