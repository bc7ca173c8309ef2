// What held stays held (issue 16): markup in client-chosen text never becomes markup on the
// dashboard. User names are the client's own bytes; a guesser's names land in the failed-logins
// table. In Debian's headless Chromium: the names show as text, no element or script they carry
// exists or ran, and the page logs no error or CSP violation.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { launchChromium } from '../harness/chromium.ts';
import { testBackend } from '../harness/env.ts';
import { loginCodeFrom } from '../harness/hosts.ts';
import { startMoat } from '../harness/moat.ts';

const backend = testBackend();
const TOKEN = 'dashboard-hostile-token-0815';
const HOSTILE = [
  '<img src=x onerror="document.title=\'pwned-img\'">',
  '<script>document.title="pwned-script"</script>',
  '"><svg onload=document.title=1>',
];

test('client-chosen names render as text, never as markup', async () => {
  const moat = await startMoat(backend, {
    admin: { http: { listen: '127.0.0.1:0', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') } },
    guard: { connection_control_failed_connections_threshold: 1 },
  });
  const browser = await launchChromium();
  try {
    for (const user of HOSTILE)
      assert.equal(
        await loginCodeFrom(moat, '127.0.9.1', { user, password: 'x', connectTimeout: 5000 }),
        1045,
      );
    const a = moat.gateway.httpAddress;
    assert.ok(a !== null && a.kind === 'tcp');
    const page = await (await browser.newContext()).newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (!m.location().url.endsWith('/favicon.ico') && (m.type() === 'error' || m.type() === 'warning'))
        problems.push(m.text());
    });
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(`http://${a.host}:${a.port}/#token=${TOKEN}`);
    const cells = page.locator('#failed-logins tbody td:first-child');
    await cells.first().waitFor({ timeout: 5000 });
    const texts = await cells.allTextContents();
    for (const user of HOSTILE)
      assert.ok(
        texts.some((t) => t.includes(user)),
        `${user} shown as text in ${JSON.stringify(texts)}`,
      );
    assert.equal(
      await page.locator('#failed-logins img, #failed-logins script, #failed-logins svg').count(),
      0,
    );
    assert.doesNotMatch(await page.title(), /pwned|^1$/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await moat.stop();
  }
});
