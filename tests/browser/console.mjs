// Drives the tracemart console in headless Chromium, the way a person would use it:
// search, open a trace, read its waterfall and span details, then the services table, the
// service map, the traces linked to a trace, a trace larger than one answer and the
// diagnosis. Keeps a screenshot of each page.
//
//   node tests/browser/console.mjs <ui-url> <trace-id> <out-dir> [<failed-trace-id>] [<linked-trace-id>]
//        [<large-trace-id> <shown>/<total>]
//
// <linked-trace-id>: a trace whose span links to a span of <trace-id>.
// <large-trace-id>: a trace of <total> spans, of which an answer of the console holds <shown>.
//
// Exits 0 when every check passes; otherwise prints what failed and exits 1. Uses Debian's
// /usr/bin/chromium (or $CHROMIUM) through playwright-core: no browser download.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, drive, step } from './session.mjs';

const [ui, traceId, outDir, failedId, linkedId, largeId, largeCounts] = process.argv.slice(2);
if (!ui || !traceId || !outDir) {
  console.error('usage: node console.mjs <ui-url> <trace-id> <out-dir> [<failed-trace-id>] [<linked-trace-id>]');
  process.exit(2);
}
const SERVICES = ['order-service', 'user-service', 'product-service', 'inventory-service'];
const TIMEOUT = 30_000;
mkdirSync(outDir, { recursive: true });

async function shot(page, name) {
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`  screenshot ${path}`);
}

await drive({ timeout: TIMEOUT, failureShot: join(outDir, 'failure.png') }, async (page) => {
  // 1. Search: the form, then the order's trace among the results.
  step('search');
  await page.goto(`${ui}/`);
  await page.getByTestId('search-form').waitFor();
  await page.getByTestId('f-service').locator('option[value="order-service"]').waitFor({ state: 'attached' });
  // The page's own first search may still be rendering the form on a loaded machine and
  // swallow a click: submit until the search is in the URL (a few tries at most).
  for (let tries = 0; tries < 5 && !page.url().includes('service=order-service'); tries++) {
    await page.getByTestId('f-service').selectOption('order-service');
    await page.getByTestId('search-submit').click();
    await page.waitForURL(/service=order-service/, { timeout: 2000 }).catch(() => {});
  }
  const row = page.locator(`[data-testid="result-row"][data-trace-id="${traceId}"]`);
  await row.waitFor();
  check(page.url().includes('service=order-service'), `the search is in the URL (${page.url()})`);
  const rows = await page.getByTestId('result-row').count();
  check(rows >= 1, 'at least one result');
  const errRows = await page.locator('[data-testid="result-row"]:has([data-testid="error-count"])').count();
  console.log(`  ${rows} results, ${errRows} with errors`);
  await shot(page, '1-search');

  // 2. Open the trace from its row: the waterfall with every service, logs, span details.
  step('open trace');
  await row.click();
  await page.waitForURL(`**/trace/${traceId}`);
  await page.getByTestId('waterfall-row').first().waitFor();
  const services = await page.getByTestId('waterfall-row').evaluateAll((els) => els.map((e) => e.dataset.service));
  console.log(`  ${services.length} spans: ${[...new Set(services)].join(', ')}`);
  for (const s of SERVICES) check(services.includes(s), `a waterfall row of ${s}`);
  const title = await page.getByTestId('trace-title').textContent();
  check(title.includes('order-service'), `the title names the root service (${title})`);
  const logs = await page.getByTestId('log-row').count();
  console.log(`  ${logs} log rows`);
  check(logs > 0, 'log rows in the waterfall');
  const details = page.getByTestId('span-details');
  check((await details.getByTestId('span-title').textContent()).length > 0, 'the first span is selected');
  // Select a downstream span: the details follow.
  const inventory = page.locator('[data-testid="waterfall-row"][data-service="inventory-service"]').first();
  await inventory.click();
  await page.waitForFunction(() => document.querySelector('[data-testid="span-details"]')?.textContent.includes('inventory-service'));
  check(await inventory.evaluate((e) => e.classList.contains('selected')), 'the clicked row is selected');
  await shot(page, '2-trace');

  // 3. Services: a row per service with its rate, errors and latency.
  step('services');
  await page.getByTestId('nav-services').click();
  await page.waitForURL('**/services');
  await page.getByTestId('service-row').first().waitFor();
  const svcRows = await page.getByTestId('service-row').evaluateAll((els) => els.map((e) => e.dataset.service));
  console.log(`  services: ${svcRows.join(', ')}`);
  for (const s of SERVICES) check(svcRows.includes(s), `a services-table row for ${s}`);
  await page.locator('[data-testid="service-row"][data-service="order-service"]').click();
  await page.getByTestId('operation-row').first().waitFor();
  await shot(page, '3-services');

  // 4. Service map: a node per service, edges from order to the services it calls.
  step('service map');
  await page.getByTestId('nav-map').click();
  await page.waitForURL('**/map');
  await page.getByTestId('map-node').first().waitFor();
  const nodes = await page.getByTestId('map-node').evaluateAll((els) => els.map((e) => e.dataset.service));
  const edges = await page.getByTestId('map-edge').evaluateAll((els) => els.map((e) => `${e.dataset.parent}->${e.dataset.child}`));
  console.log(`  nodes: ${nodes.join(', ')}; edges: ${edges.join(', ')}`);
  for (const s of SERVICES) check(nodes.includes(s), `a map node for ${s}`);
  for (const s of SERVICES.slice(1)) check(edges.includes(`order-service->${s}`), `a map edge order-service->${s}`);
  await shot(page, '4-map');

  // 5. A trace opened by its URL (the link `up` prints), with the back button to the map.
  step('trace by URL');
  await page.goto(`${ui}/trace/${traceId}`);
  await page.getByTestId('waterfall-row').first().waitFor();
  await page.goBack();
  await page.getByTestId('map-node').first().waitFor();

  // 6. A failed order's trace: its error spans are marked.
  if (failedId) {
    step('failed trace');
    await page.goto(`${ui}/trace/${failedId}`);
    await page.getByTestId('waterfall-row').first().waitFor();
    const marked = await page.locator('[data-testid="waterfall-row"] .wf-bar.err').count();
    console.log(`  ${marked} spans marked as errors`);
    check(marked > 0, 'error spans are marked in the waterfall');
    check((await page.getByTestId('trace-errors').textContent()) === `${marked} error${marked === 1 ? '' : 's'}`, 'the header counts the errors');
    await page.locator('[data-testid="waterfall-row"]:has(.wf-bar.err)').first().click();
    await page.waitForFunction(() => document.querySelector('[data-testid="span-details"]')?.textContent.includes('ERROR'));
    await shot(page, '5-failed-trace');
  }

  // 7. Linked traces: the order's trace and the one that follows it through a span link, on
  // one time axis; a row opens its trace, whose consumer span's details link back.
  if (linkedId) {
    step('linked traces');
    await page.goto(`${ui}/trace/${traceId}`);
    await page.getByTestId('waterfall-row').first().waitFor();
    const section = page.getByTestId('linked-traces');
    const linkedRow = page.locator(`[data-testid="linked-trace"][data-trace-id="${linkedId}"]`);
    await linkedRow.waitFor();
    check(await section.isVisible(), 'the Linked traces section shows');
    const listed = await page.getByTestId('linked-trace').evaluateAll((els) => els.map((e) => `${e.dataset.traceId}${e.dataset.current ? '*' : ''}`));
    console.log(`  linked traces: ${listed.join(', ')}`);
    check(listed.includes(`${traceId}*`), 'the current trace is listed and highlighted');
    check(listed.includes(linkedId), 'the linked trace is listed');
    check(listed.indexOf(`${traceId}*`) < listed.indexOf(linkedId), 'in start order: the order before what follows it');
    check((await linkedRow.textContent()).includes('payment-service'), 'the row names its root service');
    // The root span is selected: the consumer span that links to it is listed, by name.
    const from = page.locator(`[data-testid="span-linked-from"] [data-testid="span-link"][data-trace-id="${linkedId}"]`);
    await from.waitFor();
    check((await from.textContent()).includes('payment-service'), 'the root span lists the span linked to it');
    await shot(page, '6-linked-traces');
    await linkedRow.click();
    await page.waitForURL(`**/trace/${linkedId}`);
    await page.getByTestId('waterfall-row').first().waitFor();
    await page.locator(`[data-testid="linked-trace"][data-trace-id="${linkedId}"][data-current="true"]`).waitFor();
    const back = page.locator(`[data-testid="span-links"] [data-testid="span-link"][data-trace-id="${traceId}"]`);
    await back.waitFor();
    check((await back.textContent()).includes('order-service'), 'the span link names the linked trace');
    await back.click();
    await page.waitForURL(`**/trace/${traceId}`);
    await page.getByTestId('waterfall-row').first().waitFor();
  }

  // 8. A trace larger than one answer: its earliest spans, and a notice saying how many of all.
  if (largeId && largeCounts) {
    step('truncated trace');
    const [shown, total] = largeCounts.split('/');
    await page.goto(`${ui}/trace/${largeId}`);
    const notice = page.getByTestId('trace-truncated');
    await notice.waitFor();
    const text = await notice.textContent();
    console.log(`  ${text}`);
    check(text.includes(`Showing ${shown} of ${total} spans`), `the notice gives both counts (${text})`);
    const drawn = await page.getByTestId('waterfall-row').count();
    check(drawn === Number(shown), `the waterfall draws the spans it has (${drawn})`);
    await shot(page, '7-truncated-trace');
  }

  // 9. Diagnosis: the page answers, with a culprit or with nothing standing out (one
  // failing order is too few to name anyone).
  step('diagnosis');
  await page.getByTestId('nav-diagnose').click();
  await page.waitForURL('**/diagnose');
  await page.locator('[data-testid="diag-none"], [data-testid="diag-culprit"]').first().waitFor();
  console.log(`  ${await page.getByTestId('diagnosis').textContent()}`);
  await shot(page, '8-diagnosis');
});
