// Every client of the matrix under a PROTECTING profile whose list holds what they send: the
// held-back path (each COM_QUERY / COM_STMT_PREPARE read whole, judged, fed back through the relay)
// is invisible to them: rows, prepared statements, multi-results, the 20 MB row, change user (to
// an account of the same group) and TLS give exactly what they gave while the profile recorded,
// and nothing is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CLIENTS, comparable, runScenario, type ScenarioResult } from '../harness/clients.ts';
import { testBackend } from '../harness/env.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
let moat: RunningMoat;

before(async () => {
  moat = await startMoat(backend);
});
after(async () => {
  await moat?.stop();
});

test('every client, plain and over TLS, is served unchanged in PROTECTING once its statements are listed', async () => {
  const fw = moat.gateway.sqlFirewall!;
  fw.setGroupMode('apps', 'RECORDING');
  fw.setMember('apps', 'app@%', true);
  fw.setMember('apps', 'app2@%', true);
  const variants = CLIENTS.flatMap((client) => [false, true].map((tls) => ({ client, tls })));
  const run = (client: (typeof CLIENTS)[number], tls: boolean) =>
    runScenario(
      client,
      { host: moat.host, port: moat.port },
      { ...app, tls: tls ? { ca: backend.certs.ca } : undefined },
    );
  const recorded = new Map<string, ScenarioResult>();
  for (const { client, tls } of variants) recorded.set(`${client}/${tls}`, await run(client, tls));
  // The last events of the recording runs are in before the mode changes.
  await new Promise((r) => setTimeout(r, 200));
  fw.setGroupMode('apps', 'PROTECTING');
  for (const { client, tls } of variants) {
    const via = await run(client, tls);
    const reference = recorded.get(`${client}/${tls}`)!;
    assert.deepEqual(comparable(via, reference), comparable(reference, via), `${client} tls=${tls}`);
    assert.deepEqual(via.errors, { wrongPassword: 1045, noSuchDb: 1049 });
  }
  assert.equal(fw.counters.denied, 0, 'nothing refused');
  assert.ok(fw.counters.granted > 50, `statements were judged (${fw.counters.granted})`);
});
