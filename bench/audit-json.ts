// Micro-benchmark (not a test): what one JSON-lines audit record costs to serialise into the
// bytes of a batch, before (JSON.stringify of each record + the escape pass, the strings joined
// and turned into a Buffer: the writer and file output up to 2026-12-08) and after
// (encodeJsonLines: the compiled serializer writing the whole batch into one Buffer). Records
// are sysbench-like Query events built by fromCommand.
//
//   node bench/audit-json.ts [--records 2000] [--rounds 200]
import { parseArgs } from 'node:util';
import type { AuditEvent } from '../src/audit/event.ts';
import { fromCommand } from '../src/audit/from-events.ts';
import { jsonLine, jsonLines } from '../src/audit/sinks/json.ts';
import { pointSelectEvent } from './point-select-event.ts';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '200' } },
});
const N = Number(values.records);
const ROUNDS = Number(values.rounds);

const records: AuditEvent[] = Array.from({ length: N }, (_, i) =>
  fromCommand(pointSelectEvent(i), 'bench-host'),
);
const out: string[] = new Array(N);
/** The old path: a string per record, joined, one Buffer. */
function before(batch: readonly AuditEvent[]): Buffer {
  for (let i = 0; i < batch.length; i++) out[i] = `${jsonLine(batch[i])}\n`;
  return Buffer.from(out.join(''));
}
const noError = () => {
  throw new Error('a record failed');
};
// As a sink writes: its format's encode, whose one Buffer is reused from batch to batch.
const format = jsonLines();
const after = (batch: readonly AuditEvent[]) => format.encode!(batch, noError).data;

/** ns per record over ROUNDS batches of N records. */
function measure(encode: (batch: readonly AuditEvent[]) => Buffer): { ns: number; bytes: number } {
  let bytes = 0;
  const start = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) bytes += encode(records).length;
  const ns = Number(process.hrtime.bigint() - start) / (ROUNDS * N);
  return { ns, bytes };
}

// Same bytes, or the comparison means nothing.
if (!Buffer.from(before(records)).equals(after(records))) throw new Error('the two serializers differ');

// Warm both up, then alternate so that drift hits both alike; the median of five runs each.
measure(before);
measure(after);
const b: number[] = [];
const a: number[] = [];
for (let k = 0; k < 5; k++) {
  b.push(measure(before).ns);
  a.push(measure(after).ns);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const mb = median(b);
const ma = median(a);
console.log(`audit JSON line, ${N} records per batch × ${ROUNDS} batches, batch joined into one Buffer`);
console.log(`before  JSON.stringify + escapes, join, Buffer.from  ${mb.toFixed(0).padStart(5)} ns/record`);
console.log(
  `after   encodeJsonLines (compiled, one Buffer)  ${ma.toFixed(0).padStart(5)} ns/record  (${(mb / ma).toFixed(2)}× faster)`,
);
