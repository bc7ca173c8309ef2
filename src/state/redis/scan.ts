// SCAN instead of KEYS: Redis keeps serving other clients between the batches.
import type { Redis } from 'ioredis';

export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return [...new Set(out)]; // SCAN may return a key twice
}

/** Keys matching `pattern` and their string values (keys that vanished meanwhile are left out). */
export async function scanValues(redis: Redis, pattern: string): Promise<Map<string, string>> {
  const keys = await scanKeys(redis, pattern);
  const out = new Map<string, string>();
  for (let i = 0; i < keys.length; i += 500) {
    const batch = keys.slice(i, i + 500);
    const values = await redis.mget(...batch);
    batch.forEach((k, j) => {
      const v = values[j];
      if (v !== null && v !== undefined) out.set(k, v);
    });
  }
  return out;
}
