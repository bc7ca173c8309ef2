// The follower on a real MariaDB session (bytes in captured.ts), cut at every point of every leg:
// guards the fixture builder's idea of the protocol against the server's.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CapturedStep, STEPS_DEPRECATE_EOF, STEPS_EOF } from './captured.ts';
import { Cap, CLIENT_CAPS } from './fixtures.ts';
import { client, ev, everyCut, follow, type Leg, type Seen, server } from './follow-run.ts';

const EXPECTED: Record<string, Seen[]> = {
  select_t: [ev('Query', 'SELECT id, name, v FROM t ORDER BY id', { rows: 3 })],
  multi_results: [ev('Query', "SELECT 1 AS a; SELECT 'x' AS b, NULL AS c", { rows: 2 })],
  err_mid_multi: [
    ev('Query', 'SELECT 1; SELECT * FROM nope; SELECT 3', {
      rows: 1,
      status: 'ERR',
      errorCode: 1146,
      sqlState: '42S02',
      errorMessage: "Table 'moat_test.nope' doesn't exist",
    }),
  ],
  create_temp: [ev('Query', 'CREATE TEMPORARY TABLE tmp (a INT)')],
  insert_3: [ev('Query', 'INSERT INTO tmp VALUES (1),(2),(3)', { affectedRows: 3 })],
  prepare: [ev('Stmt_prepare', 'SELECT id, name FROM t WHERE id > ? AND name <> ?')],
  execute: [ev('Stmt_execute', 'SELECT id, name FROM t WHERE id > ? AND name <> ?', { rows: 3 })],
  execute_cursor: [ev('Stmt_execute', 'SELECT id, name FROM t WHERE id > ? AND name <> ?')],
  fetch_2: [ev('Stmt_fetch', 'SELECT id, name FROM t WHERE id > ? AND name <> ?', { rows: 2 })],
  fetch_5: [ev('Stmt_fetch', 'SELECT id, name FROM t WHERE id > ? AND name <> ?', { rows: 1 })],
  close: [ev('Stmt_close', 'SELECT id, name FROM t WHERE id > ? AND name <> ?', { status: 'NONE' })],
  field_list: [ev('Field_list', null)],
  statistics: [ev('Statistics', null)],
  local_infile_request: [],
  local_infile_data: [ev('Query', "LOAD DATA LOCAL INFILE 'nums.csv' INTO TABLE tmp", { affectedRows: 2 })],
  pipelined_prepare_execute: [
    ev('Stmt_prepare', 'SELECT ? AS p'),
    ev('Stmt_execute', 'SELECT ? AS p', { rows: 1 }),
  ],
  set_option: [ev('Set_option', null)],
  ping: [ev('Ping', null)],
};

function legsOf(steps: CapturedStep[]): Leg[] {
  return steps.flatMap((s) => [client(Buffer.from(s.client, 'hex')), server(Buffer.from(s.server, 'hex'))]);
}

for (const [deprecateEof, steps] of [
  [false, STEPS_EOF],
  [true, STEPS_DEPRECATE_EOF],
] as const) {
  describe(`captured MariaDB 10.11 session, ${deprecateEof ? 'with' : 'without'} DEPRECATE_EOF`, () => {
    const capabilities = CLIENT_CAPS | (deprecateEof ? Cap.DEPRECATE_EOF : 0);

    test('every step on its own gives its events', () => {
      steps.forEach((step, i) => {
        // The LOCAL INFILE exchange spans two steps: the request, then the client's data.
        if (step.name === 'local_infile_data') return;
        const exchange = step.name === 'local_infile_request' ? steps.slice(i, i + 2) : [step];
        const run = follow(legsOf(exchange), (leg) => [leg.bytes], { capabilities });
        const wanted = EXPECTED[exchange.at(-1)!.name];
        assert.ok(wanted !== undefined, step.name);
        // Statement ids are per session: outside it the executes cannot name their text.
        if (['execute', 'execute_cursor', 'fetch_2', 'fetch_5', 'close'].includes(step.name)) {
          assert.deepEqual(
            run.events,
            wanted.map((e) => ({ ...e, statement: null })),
            step.name,
          );
        } else assert.deepEqual(run.events, wanted, step.name);
        assert.deepEqual(run.lost, [], step.name);
      });
    });

    test('the whole session at every split point of every leg', () => {
      const legs = legsOf(steps);
      const expected = steps.flatMap((s) => EXPECTED[s.name] ?? []);
      for (const { label, cut } of everyCut(legs)) {
        const run = follow(legs, cut, { capabilities });
        assert.deepEqual(run.events, expected, label);
        assert.deepEqual(run.lost, [], label);
      }
    });
  });
}
