// Drives the console's Processes page in headless Chromium, as an operator would: the six
// processes of `up` ready, an action refused without the operator's token, then payment
// stopped and started and inventory restarted with it, each seen in the table. Keeps a
// screenshot of each step.
//
//   node tests/browser/processes.mjs <ui-url> <operator-token> <out-dir>
//
// Exits 0 when every check passes; otherwise prints what failed and exits 1. Uses Debian's
// /usr/bin/chromium (or $CHROMIUM) through playwright-core.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, drive, step } from './session.mjs';

const [ui, token, outDir] = process.argv.slice(2);
if (!ui || !token || !outDir) {
  console.error('usage: node processes.mjs <ui-url> <operator-token> <out-dir>');
  process.exit(2);
}
const PROCESSES = ['console', 'user', 'product', 'inventory', 'payment', 'order'];
const TIMEOUT = 45_000;
mkdirSync(outDir, { recursive: true });
const stateOf = (page, name) => page.getByTestId(`proc-state-${name}`).textContent();
const waitState = (page, name, state) => page.waitForFunction(
  ([n, s]) => document.querySelector(`[data-testid="proc-state-${n}"]`)?.textContent === s, [name, state]);

await drive({
  timeout: TIMEOUT,
  // The refused action is expected to log its 401; other errors are problems.
  expected: (text) => text.includes('401'),
  failureShot: join(outDir, 'processes-failure.png'),
}, async (page) => {
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
});
