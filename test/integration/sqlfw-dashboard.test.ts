// The dashboard's SQL firewall card in Debian's headless Chromium: a profile in DETECTING meets a
// statement its list lacks (mysql2 through moat), and the card lists the digest with its profile,
// mode and count, as text (markup in a statement stays text). With the firewall off the card is
// hidden and the page asks without an error.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import mysql from 'mysql2/promise';

import { launchChromium } from '../harness/chromium.ts';
import { testBackend } from '../harness/env.ts';
import { startMoat } from '../harness/moat.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const TOKEN = 'sqlfw-dashboard-token';

async function page(enabled: boolean) {
  const moat = await startMoat(backend, {
    sqlFirewall: { enabled },
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
  });
  const browser = await launchChromium();
  const p = await (await browser.newContext()).newPage();
  p.setDefaultTimeout(5000);
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => {
    if (!m.location().url.endsWith('/favicon.ico') && (m.type() === 'error' || m.type() === 'warning'))
      errors.push(m.text());
  });
  const a = moat.gateway.httpAddress;
  assert.ok(a !== null && a.kind === 'tcp');
  return {
    moat,
    p,
    errors,
    open: () => p.goto(`http://127.0.0.1:${a.port}/#token=${TOKEN}`),
    close: async () => {
      await browser.close();
      await moat.stop();
    },
  };
}

test('the SQL firewall card lists unlisted digests; hidden when the firewall is off', async () => {
  const on = await page(true);
  try {
    const fw = on.moat.gateway.sqlFirewall!;
    fw.setUserMode('app@%', 'RECORDING');
    const c = await mysql.createConnection({ ...app, host: on.moat.host, port: on.moat.port });
    await c.query('SELECT name FROM t WHERE id = 1');
    await on.moat.waitForEvent((e) => e.statement === 'SELECT name FROM t WHERE id = 1');
    fw.setUserMode('app@%', 'DETECTING');
    await c.query("SELECT name FROM t WHERE name = '<b>x</b>' OR id = 2");
    await c.query("SELECT name FROM t WHERE name = '<i>y</i>' OR id = 3");
    await on.moat.waitForEvent((e) => e.statement?.includes('<i>y</i>') === true);
    await c.end();
    await on.open();
    await on.p.locator('#sqlfw-card').waitFor({ state: 'visible' });
    const rows = on.p.locator('#sqlfw-report tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1, 'one digest for both statements');
    const cells = await rows.first().locator('td').allTextContents();
    assert.equal(cells[0], 'app@%');
    assert.equal(cells[1], 'DETECTING');
    assert.match(cells[2]!, /WHERE NAME = \? OR `id` = \?$/);
    assert.equal(cells[3], '2');
    assert.equal(await on.p.locator('#sqlfw-report b, #sqlfw-report i').count(), 0);
    assert.deepEqual(on.errors, []);
  } finally {
    await on.close();
  }
  const off = await page(false);
  try {
    await off.open();
    await off.p.locator('#dashboard').waitFor({ state: 'visible' });
    await off.p.locator('#hosts tbody tr').first().waitFor();
    assert.equal(await off.p.locator('#sqlfw-card').isVisible(), false);
    assert.deepEqual(off.errors, []);
  } finally {
    await off.close();
  }
});
