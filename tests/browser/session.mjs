// What the browser scripts share: Chromium's flags, the checks, and a launched page that
// collects the page's own errors.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const TIMEOUT = 30_000;

// The machine's network is closed: without these flags Chromium waits on connections it
// tries to make by itself (updates, sync, QUIC probes).
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

export const step = (what) => console.log(`- ${what}`);
export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

// Chromium (Debian's, or $CHROMIUM) in a fresh profile; `problems` gathers the page's errors.
export async function launch(viewport, problems) {
  const profile = mkdtempSync(join(tmpdir(), 'tracemart-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport,
    timeout: TIMEOUT,
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  return { profile, context, page };
}
