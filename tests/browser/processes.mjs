// Drives the console's Processes page in headless Chromium, as an operator would: the six
// processes of `up` ready, an action refused without the operator's token, then payment
// stopped and started and inventory restarted with it, each seen in the table. Keeps a
// screenshot of each step.
//
//   node tests/browser/processes.mjs <ui-url> <operator-token> <out-dir>
//
// Exits 0 when every check passes; otherwise prints what failed and exits 1. Uses Debian's
// /usr/bin/chromium (or $CHROMIUM) through playwright-core.

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [ui, token, outDir] = process.argv.slice(2);
if (!ui || !token || !outDir) {
  console.error('usage: node processes.mjs <ui-url> <operator-token> <out-dir>');
  process.exit(2);
}
const PROCESSES = ['console', 'user', 'product', 'inventory', 'payment', 'order'];
const TIMEOUT = 45_000;
mkdirSync(outDir, { recursive: true });
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

const step = (what) => console.log(`- ${what}`);
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}
const stateOf = (page, name) => page.getByTestId(`proc-state-${name}`).textContent();
const waitState = (page, name, state) => page.waitForFunction(
  ([n, s]) => document.querySelector(`[data-testid="proc-state-${n}"]`)?.textContent === s, [name, state]);

const profile = mkdtempSync(join(tmpdir(), 'tracemart-chromium-'));
let context;
const problems = [];
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, args: ARGS, viewport: { width: 1400, height: 900 }, timeout: TIMEOUT,
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // The refused action is expected to log its 401; other errors are problems.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('401')) problems.push(`console error: ${m.text()}`);
  });

  step('the processes, from the navigation');
  await page.goto(`${ui}/search`);
  await page.getByTestId('nav-processes').click();
  await page.waitForURL('**/processes');
  for (const name of PROCESSES) await waitState(page, name, 'ready');
  const log = await page.getByTestId('proc-log-order').textContent();
  check(log.length > 0 && !log.includes('(no log lines)'), `order's last log lines are shown (${log.slice(0, 80)})`);
  await page.screenshot({ path: join(outDir, 'processes-1-ready.png'), fullPage: true });

  step('stop without a token: refused');
  await page.getByTestId('proc-stop-payment').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="proc-status"]')?.textContent.includes('401'));
  check(await stateOf(page, 'payment') === 'ready', 'payment still runs');

  step('stop payment with the operator token');
  await page.getByTestId('proc-token').fill(token);
  await page.getByTestId('proc-stop-payment').click();
  await waitState(page, 'payment', 'stopped');
  check(await page.getByTestId('proc-pid-payment').textContent() === '-', 'a stopped process has no pid');
  check(await page.getByTestId('proc-start-payment').isEnabled(), 'start is offered');
  await page.screenshot({ path: join(outDir, 'processes-2-stopped.png'), fullPage: true });

  step('start payment');
  await page.getByTestId('proc-start-payment').click();
  await waitState(page, 'payment', 'ready');

  step('restart inventory');
  const pid = await page.getByTestId('proc-pid-inventory').textContent();
  await page.getByTestId('proc-restart-inventory').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="proc-restarts-inventory"]')?.textContent === '1');
  await waitState(page, 'inventory', 'ready');
  check(await page.getByTestId('proc-pid-inventory').textContent() !== pid, 'a new pid after the restart');
  await page.screenshot({ path: join(outDir, 'processes-3-restarted.png'), fullPage: true });

  check(problems.length === 0, `no errors in the page:\n  ${problems.join('\n  ')}`);
  console.log('ok');
} catch (e) {
  console.error(e.message);
  if (problems.length) console.error(`page problems:\n  ${problems.join('\n  ')}`);
  const page = context && context.pages()[0];
  if (page) await page.screenshot({ path: join(outDir, 'processes-failure.png'), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
