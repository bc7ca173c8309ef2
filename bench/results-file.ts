// Results of the flood and memory benchmarks: bench/results/<name>-latest.json, and a copy named
// after the start time (as bench/report.ts's writeJson does for `npm run bench`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeResults(dir: string, name: string, data: object, startedAt: Date): string[] {
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(data, null, 2) + '\n';
  const latest = join(dir, `${name}-latest.json`);
  const stamped = join(dir, `${name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(latest, text);
  writeFileSync(stamped, text);
  return [latest, stamped];
}
