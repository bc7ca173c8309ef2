// Micro-benchmark (not a test): the detector's cost per sysbench point select (distinct ids, so
// the text cache mostly misses), with clean verdicts remembered by text only (events without a
// digest, as before 2026-12-08) and shared by digest. The digest is computed before timing: the
// follower computes it for every statement anyway.
//
//   node bench/detect-memo.ts [--statements 20000]
import { parseArgs } from 'node:util';
import { detectConfigSchema } from '../src/detect/config.ts';
import { Detector } from '../src/detect/detector.ts';
import type { CommandEvent } from '../src/model/events.ts';
import { pointSelectEvent } from './point-select-event.ts';

const { values } = parseArgs({ options: { statements: { type: 'string', default: '20000' } } });
const N = Number(values.statements);
const events: CommandEvent[] = Array.from({ length: N }, (_, i) => pointSelectEvent(i));
const byText = events.map((e) => ({ ...e, digest: null }));
// Learning over quickly, as on a moat that has run a while.
const config = detectConfigSchema.parse({ rules: { 'new-table': { learnStatements: 10, learnSeconds: 0 } } });

function measure(list: readonly CommandEvent[]): number {
  const d = new Detector(config);
  for (let i = 0; i < Math.min(2000, list.length); i++) d.observe(list[i]!);
  const start = process.hrtime.bigint();
  for (let r = 0; r < 5; r++) for (const e of list) d.observe(e);
  return Number(process.hrtime.bigint() - start) / (5 * list.length);
}

const t: number[] = [];
const s: number[] = [];
for (let k = 0; k < 3; k++) {
  t.push(measure(byText));
  s.push(measure(events));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`detector, ${N} point selects × 5, medians of 3`);
console.log(`clean verdicts by text    ${median(t).toFixed(0).padStart(5)} ns/statement`);
console.log(`shared by digest          ${median(s).toFixed(0).padStart(5)} ns/statement`);
