// Debian's headless Chromium for the dashboard tests, through playwright-core. The flags keep it
// off the network it cannot reach here (background networking, component updates, sync, QUIC):
// without them it opens connections that this machine refuses, many at a time.
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
