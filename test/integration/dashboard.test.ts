// The dashboard page in Debian's headless Chromium against a moat with traffic from several hosts:
// the token from the URL fragment, the hosts table's failure badges, sorting, text and "only
// failing" filters, one-click unblock (checked in the guard itself), the outcomes chart, live
// sessions, auto-refresh, sign-out and a wrong token. Writes a full-page screenshot to
// test/output/dashboard.png. Script errors and CSP violations on the page fail the run.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type mysql from 'mysql2/promise';
import type { Browser, Page } from 'playwright-core';

import { launchChromium } from '../harness/chromium.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom, mysqlFrom, sendGarbage } from '../harness/hosts.ts';
import { type RunningMoat, startMoat } from '../harness/moat.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';

const backend = testBackend();
const app = { ...backend.users.app, database: backend.database };
const TOKEN = 'dashboard-test-token-4711';
const SCREENSHOT = fileURLToPath(new URL('../output/dashboard.png', import.meta.url));

const GARBAGE = '127.0.5.1'; // two handshake errors
const GUESSER = '127.0.5.2'; // one wrong password
const HOLDER = '127.0.5.3'; // logged in, session kept open
const BLOCKED = '127.0.5.4'; // logged in once, then blocked by hand, then refused once
const LATE = '127.0.5.5'; // a wrong password after the page is open (auto-refresh)

const POSTURE_PW_ENV = 'MOAT_DASHBOARD_POSTURE_PW';
process.env[POSTURE_PW_ENV] = backend.users.root.password;

let moat: RunningMoat;
let redis: RedisServer;
let browser: Browser;
let page: Page;
let base = '';
let held: mysql.Connection | undefined;
const pageErrors: string[] = [];

function login(from: string, password: string = app.password): Promise<mysql.Connection> {
  return mysqlFrom(moat, from, { ...app, password, connectTimeout: 5000 });
}

/** The MySQL error code a login from `from` gets (0 when it succeeds). */
function loginCode(from: string, password: string = app.password): Promise<number> {
  return loginCodeFrom(moat, from, { ...app, password, connectTimeout: 5000 });
}

function garbage(from: string): Promise<Buffer> {
  return sendGarbage(moat, from);
}

const hostIps = (p: Page) => p.locator('#hosts tbody tr[data-ip] td:first-child').allTextContents();
const hostRow = (p: Page, ip: string) => p.locator(`#hosts tbody tr[data-ip="${ip}"]`);

before(async () => {
  const launching = launchChromium();
  // Not left unhandled while the traffic below runs; awaited (and thrown) further down.
  launching.catch(() => {});
  redis = await startRedis();
  moat = await startMoat(backend, {
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
    guard: { connection_control_failed_connections_threshold: 1 },
    // moat check against the harness server, as root over its socket (the password from the env).
    posture: { user: 'root', passwordEnv: POSTURE_PW_ENV, endpoint: `unix:${backend.socket}`, intervalMs: 0 },
    // A fleet of one on a private redis-server: the page shows whether the shared state is up.
    state: { store: 'redis', instance: 'dash', redis: { url: redis.url, namespace: 'dashboard' } },
  });
  const a = moat.gateway.httpAddress;
  assert.ok(a !== null && a.kind === 'tcp');
  base = `http://${a.host}:${a.port}`;

  await garbage(GARBAGE);
  await garbage(GARBAGE);
  assert.equal(await loginCode(GUESSER, 'wrong'), 1045);
  held = await login(HOLDER);
  await held.query('SELECT 1');
  assert.equal(await loginCode(BLOCKED), 0);
  moat.gateway.guard.block(BLOCKED, 'test', null);
  assert.equal(await loginCode(BLOCKED), 1129);

  browser = await launching;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(5000);
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // The browser's own request for /favicon.ico is not the page's doing (the server has none).
    if (m.location().url.endsWith('/favicon.ico')) return;
    if (m.type() === 'error' || m.type() === 'warning') {
      pageErrors.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
    }
  });
});

after(async () => {
  await browser?.close();
  await held?.end();
  await moat?.stop();
  await redis?.stop();
});

test('the token in the URL fragment signs in and leaves the address bar', async () => {
  await page.goto(`${base}/#token=${TOKEN}`);
  await hostRow(page, GARBAGE).waitFor();
  assert.equal(page.url(), `${base}/`);
  assert.equal(await page.evaluate('sessionStorage.getItem("moat.token")'), TOKEN);
  assert.equal(await page.locator('#signin').isVisible(), false);
  assert.match((await page.locator('#refreshed').textContent()) ?? '', /^Updated \d\d:\d\d:\d\d/);
});

test('hosts: connections, failure classes as badges, the blocked badge', async () => {
  assert.deepEqual((await hostIps(page)).sort(), [GARBAGE, GUESSER, HOLDER, BLOCKED]);
  const badges = (ip: string) => hostRow(page, ip).locator('td.badges .badge').allTextContents();
  assert.deepEqual(await badges(GARBAGE), ['handshake 2']);
  assert.deepEqual(await badges(GUESSER), ['authentication 1']);
  assert.deepEqual(await badges(HOLDER), []);
  assert.deepEqual(await badges(BLOCKED), ['host-blocked 1']);
  // IP, host, connections (total / current), failures, SUM_CONNECT_ERRORS, first, last, blocked
  const cells = await hostRow(page, GARBAGE).locator('td').allTextContents();
  assert.equal(cells.length, 8);
  assert.deepEqual([cells[1], cells[2], cells[4], cells[7]], ['—', '2 / 0', '2', '']);
  assert.equal(await hostRow(page, HOLDER).locator('td').nth(2).textContent(), '1 / 1');
  assert.equal(await hostRow(page, BLOCKED).locator('td').nth(7).textContent(), 'blocked');
  assert.equal(await page.locator('#hosts th[aria-sort]').count(), 1);
});

test('sorting by a column header toggles the order and aria-sort', async () => {
  const ipHeader = page.locator('#hosts th[data-key="ip"]');
  await ipHeader.getByRole('button').click();
  assert.deepEqual(await hostIps(page), [GARBAGE, GUESSER, HOLDER, BLOCKED]);
  assert.equal(await ipHeader.getAttribute('aria-sort'), 'ascending');
  await ipHeader.getByRole('button').click();
  assert.deepEqual(await hostIps(page), [BLOCKED, HOLDER, GUESSER, GARBAGE]);
  assert.equal(await ipHeader.getAttribute('aria-sort'), 'descending');
  // Counts sort largest first; ties in address order.
  await page.getByRole('button', { name: 'Failures' }).click();
  assert.deepEqual(await hostIps(page), [GARBAGE, GUESSER, BLOCKED, HOLDER]);
  assert.equal(await page.locator('#hosts th[data-key="failures"]').getAttribute('aria-sort'), 'descending');
  assert.equal(await ipHeader.getAttribute('aria-sort'), null);
});

test('filtering by text and by "only failing hosts"', async () => {
  await page.getByLabel('Filter hosts by IP or host name').fill('0.5.2');
  assert.deepEqual(await hostIps(page), [GUESSER]);
  await page.getByLabel('Filter hosts by IP or host name').fill('192.0.2.');
  assert.deepEqual(await hostIps(page), []);
  assert.equal(await page.locator('#hosts tbody tr.empty').textContent(), 'No host matches the filter.');
  await page.getByLabel('Filter hosts by IP or host name').fill('');
  await page.getByLabel('only failing hosts').check();
  assert.deepEqual(await hostIps(page), [GARBAGE, GUESSER, BLOCKED]);
  await page.getByLabel('only failing hosts').uncheck();
  assert.equal((await hostIps(page)).length, 4);
});

test('failed logins, live sessions, the outcomes chart; a screenshot', async (t) => {
  const failed = await page.locator('#failed-logins tbody tr').allTextContents();
  assert.deepEqual(failed, [`'${app.user}'@'${GUESSER}'1`]);
  const session = page.locator('#sessions tbody tr', { hasText: HOLDER });
  assert.equal(await session.count(), 1);
  assert.equal(await session.locator('td').nth(1).textContent(), app.user);
  const bars = page.locator('#chart svg rect.bar');
  assert.ok((await bars.count()) > 0);
  for (const series of ['ok', 'failed', 'refused']) {
    assert.ok((await page.locator(`#chart svg rect.bar.${series}`).count()) > 0, series);
  }
  assert.match(
    (await page.locator('#chart svg').getAttribute('aria-label')) ?? '',
    /last 60 minutes: 2 ok, 3 failed, 1 refused/,
  );
  assert.deepEqual(await page.locator('.legend li').allTextContents(), ['ok', 'failed', 'refused by policy']);

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  writeFileSync(SCREENSHOT, await page.screenshot({ fullPage: true }));
  t.diagnostic(`screenshot: ${SCREENSHOT}`);
});

test('posture: failing and warning findings with their fixes; Check now runs it again', async () => {
  const rows = page.locator('#posture tbody tr[data-id]');
  await rows.first().waitFor();
  const findings = await moat.gateway.posture!.run();
  const open = findings.findings.filter((f) => f.severity !== 'pass');
  assert.equal(await rows.count(), open.length, 'one row per failing or warning finding');
  const first = open[0]!;
  const row = page.locator(`#posture tbody tr[data-id="${first.id}"]`).first();
  assert.equal(await row.locator('.badge').first().textContent(), first.severity);
  assert.ok(((await row.locator('code.fix').first().textContent()) ?? '').length > 0, 'the fix is shown');
  assert.match((await page.locator('#posture-meta').textContent()) ?? '', /^checked .* · \d+ passed$/);
  const before = moat.gateway.posture!.last.checkedAt;
  await page.getByRole('button', { name: 'Check now' }).click();
  await page.getByRole('button', { name: 'Check now' }).and(page.locator(':enabled')).waitFor();
  assert.ok((moat.gateway.posture!.last.checkedAt ?? 0) > (before ?? 0), 'the button ran the check');
});

test('the shared state: up, then down with what waits for Redis, then up again', async () => {
  const stat = page.locator('#stats .stat', { hasText: 'Shared state' });
  await stat.locator('dd', { hasText: /^up$/ }).waitFor();
  await redis.kill();
  await stat.locator('dd', { hasText: /^down · \d+ waiting$/ }).waitFor();
  assert.match((await stat.getAttribute('class')) ?? '', /\bbad\b/);
  await redis.restart();
  await stat.locator('dd', { hasText: /^up$/ }).waitFor({ timeout: 10_000 });
});

test('Unblock lifts the block in the guard and the page shows it', async () => {
  assert.notEqual(moat.gateway.guard.blocker.blocked(BLOCKED, Date.now()), null);
  await page.getByRole('button', { name: `Unblock ${BLOCKED}` }).click();
  await page.locator(`#blocked tbody tr[data-ip="${BLOCKED}"]`).waitFor({ state: 'detached' });
  assert.equal(moat.gateway.guard.blocker.blocked(BLOCKED, Date.now()), null);
  assert.equal(await page.locator('#blocked tbody tr.empty').textContent(), 'No host is blocked.');
  assert.equal(await hostRow(page, BLOCKED).locator('td').nth(7).textContent(), '');
});

test('auto-refresh shows new traffic without a reload', async () => {
  assert.equal(await loginCode(LATE, 'wrong'), 1045);
  await hostRow(page, LATE).waitFor({ timeout: 6000 });
  assert.deepEqual(await hostRow(page, LATE).locator('.badge').allTextContents(), ['authentication 1']);
});

test('sign out, a wrong token, then the right one typed in', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#signin').waitFor();
  assert.equal(await page.locator('#dashboard').isVisible(), false);
  assert.equal(await page.locator('#hosts tbody tr').count(), 0);
  assert.equal(await page.evaluate('sessionStorage.getItem("moat.token")'), null);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const other = await context.newPage();
  other.setDefaultTimeout(5000);
  await other.goto(`${base}/#token=wrong-token`);
  await other.locator('#signin').waitFor();
  assert.equal(await other.locator('#signin input[type="password"]').isVisible(), true);
  assert.equal(await other.locator('#dashboard').isVisible(), false);
  await other.getByText('That token was not accepted.').waitFor();
  assert.equal(await other.evaluate('sessionStorage.getItem("moat.token")'), null);

  await other.getByLabel('Token').fill(TOKEN);
  await other.getByRole('button', { name: 'Sign in' }).click();
  await hostRow(other, GARBAGE).waitFor();
  assert.equal(await other.locator('#signin').isVisible(), false);
  await context.close();
});

test('no script errors or CSP violations on the page', () => {
  assert.deepEqual(pageErrors, []);
});
