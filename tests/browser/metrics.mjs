// Drives the console's metrics page in headless Chromium: the list of every metric the API
// returns, a histogram's quantile chart with its axes, a label filter, an exemplar point that
// opens its trace, and a counter's rate. Keeps a screenshot of each chart.
//
//   node tests/browser/metrics.mjs <ui-url> <exemplar-trace-id> <out-dir>
//
// <exemplar-trace-id>: a trace of an order request, an exemplar of the order service's
// http_request_duration_seconds. Exits 0 when every check passes; otherwise prints what
// failed and exits 1. Uses Debian's /usr/bin/chromium (or $CHROMIUM) through playwright-core.

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [ui, traceId, outDir] = process.argv.slice(2);
if (!ui || !traceId || !outDir) {
  console.error('usage: node metrics.mjs <ui-url> <exemplar-trace-id> <out-dir>');
  process.exit(2);
}
const TIMEOUT = 30_000;
const HISTOGRAM = 'http_request_duration_seconds';
const COUNTER = 'orders_created';
mkdirSync(outDir, { recursive: true });

// As in console.mjs: the machine's network is closed.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

const log = (what) => console.log(`- ${what}`);
function expect(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

const profile = mkdtempSync(join(tmpdir(), 'tracemart-chromium-'));
let browser;
const errors = [];
try {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, args: ARGS, viewport: { width: 1400, height: 900 }, timeout: TIMEOUT,
  });
  browser.setDefaultTimeout(TIMEOUT);
  const page = browser.pages()[0] || await browser.newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console error: ${m.text()}`); });
  const fromApi = (path) => page.evaluate(async (p) => (await fetch(p)).json(), path);

  // 1. The list: every metric the API has, from the nav link.
  log('metrics list');
  await page.goto(`${ui}/`);
  await page.getByTestId('nav-metrics').click();
  await page.waitForURL('**/metrics');
  await page.locator(`[data-testid="metric-row"][data-metric="${HISTOGRAM}"]`).waitFor();
  const listed = await page.getByTestId('metric-row').evaluateAll((els) => els.map((e) => e.dataset.metric));
  const api = (await fromApi('/api/console/metrics')).data.map((m) => m.name);
  expect(api.every((n) => listed.includes(n)), `every metric of the API is listed (${api.length} in the API, ${listed.length} listed)`);
  await page.getByTestId('metric-filter').fill('orders_');
  const filtered = await page.getByTestId('metric-row').evaluateAll((els) => els.map((e) => e.dataset.metric));
  expect(filtered.length > 0 && filtered.every((n) => n.includes('orders_')), `the filter keeps orders_ metrics (${filtered})`);
  await page.getByTestId('metric-filter').fill('');

  // 2. The histogram: its default quantile, of the order service, with axes and exemplars.
  log('histogram quantile with an exemplar');
  await page.locator(`[data-testid="metric-row"][data-metric="${HISTOGRAM}"]`).click();
  await page.waitForURL(new RegExp(`name=${HISTOGRAM}`));
  await page.getByTestId('metric-chart').waitFor();
  expect(await page.getByTestId('metric-agg').inputValue() === 'p50', 'a histogram shows p50 first');
  await page.getByTestId('metric-label-job').selectOption('order');
  await page.waitForURL(/labels=/);
  const dot = page.locator(`[data-testid="exemplar"][data-trace-id="${traceId}"]`).first();
  await dot.waitFor({ state: 'attached' });
  const unit = await page.getByTestId('metric-unit').textContent();
  expect(unit === 'seconds', `the value axis says seconds (${unit})`);
  const ticks = await page.getByTestId('metric-y-tick').allTextContents();
  expect(ticks.length === 5 && ticks.slice(1).every((t) => /\d(µs|ms|s)$/.test(t)), `value ticks as durations (${ticks})`);
  const path = await page.getByTestId('metric-line').first().getAttribute('d');
  expect(path && path.startsWith('M'), `a line is drawn (${path})`);
  // What the chart draws is what the API answers for the same choice.
  const q = new URL(page.url()).searchParams;
  const answer = (await fromApi(`/api/console/metrics/query?${new URLSearchParams({ name: HISTOGRAM, agg: 'p50', labels: q.get('labels'), lookback: q.get('lookback') })}`)).data;
  const points = answer.lines[0].values.filter((v) => v !== null).length;
  const drawn = (path.match(/[ML]/g) || []).length;
  expect(drawn === points, `the line has a point per value of the API (${drawn} of ${points})`);
  await page.screenshot({ path: join(outDir, '1-metrics.png'), fullPage: true });

  // 3. The exemplar opens its trace.
  log('exemplar opens its trace');
  await dot.dispatchEvent('click');
  await page.waitForURL(`**/trace/${traceId}`);
  await page.getByTestId('waterfall-row').first().waitFor();

  // 4. A counter's rate per second.
  log('counter rate');
  await page.goto(`${ui}/metrics?name=${COUNTER}`);
  await page.getByTestId('metric-chart').waitFor();
  expect(await page.getByTestId('metric-agg').inputValue() === 'rate', 'a counter shows its rate first');
  const rateTicks = await page.getByTestId('metric-y-tick').allTextContents();
  expect(rateTicks.every((t) => t.endsWith('/s')), `rate ticks per second (${rateTicks})`);
  await page.getByTestId('metric-line').first().waitFor({ state: 'attached' });
  await page.getByTestId('metric-by').selectOption('job');
  await page.waitForURL(/by=job/);
  await page.locator('[data-testid="metric-legend"]', { hasText: 'job=' }).first().waitFor();
  const legend = await page.getByTestId('metric-legend').allTextContents();
  expect(legend.includes('job=order'), `split by job: a line of the order service (${legend})`);
  await page.screenshot({ path: join(outDir, '2-metrics-rate.png'), fullPage: true });

  expect(errors.length === 0, `no errors in the page:\n  ${errors.join('\n  ')}`);
  console.log('ok');
} catch (e) {
  console.error(e.message);
  if (errors.length) console.error(`page problems:\n  ${errors.join('\n  ')}`);
  const page = browser && browser.pages()[0];
  if (page) await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
