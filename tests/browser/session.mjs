// What every browser script here shares: Debian's /usr/bin/chromium (or $CHROMIUM) through
// playwright-core, on a fresh profile, with the page's errors collected; and the scripts'
// step and check lines.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

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

// Chromium with one page of `viewport`'s size. `problems` collects page errors, console errors
// (but those `expected` accepts) and failed requests; `close` ends the browser and removes its
// profile.
export async function launch(timeout, expected = () => false, viewport = { width: 1400, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), 'tracemart-chromium-'));
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ARGS,
      viewport,
      timeout,
    });
  } catch (e) {
    removeProfile();
    throw e;
  }
  context.setDefaultTimeout(timeout);
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected(m.text())) problems.push(`console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  const close = async () => {
    await context.close().catch(() => {});
    removeProfile();
  };
  return { page, problems, close };
}

// One browser session of a script: `body(page)`, then that the page raised no errors. On a
// failure it prints why, with the page's problems, keeps a screenshot at `failureShot` and
// sets the exit code to 1; the browser is closed whatever happens.
export async function drive({ timeout, expected, viewport, failureShot }, body) {
  let session;
  try {
    session = await launch(timeout, expected, viewport);
    await body(session.page);
    check(session.problems.length === 0, `no errors in the page:\n  ${session.problems.join('\n  ')}`);
    console.log('ok');
  } catch (e) {
    console.error(e.message);
    if (session && session.problems.length) console.error(`page problems:\n  ${session.problems.join('\n  ')}`);
    if (session) await session.page.screenshot({ path: failureShot, fullPage: true }).catch(() => {});
    process.exitCode = 1;
  } finally {
    if (session) await session.close();
  }
}
