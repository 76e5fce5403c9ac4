// Drives the console's metrics page in headless Chromium: the list of every metric the API
// returns, a histogram's quantile chart with its axes, a label filter, an exemplar point that
// opens its trace, and a counter's rate. Keeps a screenshot of each chart.
//
//   node tests/browser/metrics.mjs <ui-url> <exemplar-trace-id> <out-dir>
//
// <exemplar-trace-id>: a trace of an order request, an exemplar of the order service's
// http_request_duration_seconds. Exits 0 when every check passes; otherwise prints what
// failed and exits 1.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, drive, step } from './session.mjs';

const [ui, traceId, outDir] = process.argv.slice(2);
if (!ui || !traceId || !outDir) {
  console.error('usage: node metrics.mjs <ui-url> <exemplar-trace-id> <out-dir>');
  process.exit(2);
}
const TIMEOUT = 30_000;
const HISTOGRAM = 'http_request_duration_seconds';
const COUNTER = 'orders_created';
mkdirSync(outDir, { recursive: true });

await drive({ timeout: TIMEOUT, failureShot: join(outDir, 'failure.png') }, async (page) => {
  const fromApi = (path) => page.evaluate(async (p) => (await fetch(p)).json(), path);

  // 1. The list: every metric the API has, from the nav link.
  step('metrics list');
  await page.goto(`${ui}/`);
  await page.getByTestId('nav-metrics').click();
  await page.waitForURL('**/metrics');
  await page.locator(`[data-testid="metric-row"][data-metric="${HISTOGRAM}"]`).waitFor();
  const listed = await page.getByTestId('metric-row').evaluateAll((els) => els.map((e) => e.dataset.metric));
  const api = (await fromApi('/api/console/metrics')).data.map((m) => m.name);
  check(api.every((n) => listed.includes(n)), `every metric of the API is listed (${api.length} in the API, ${listed.length} listed)`);
  await page.getByTestId('metric-filter').fill('orders_');
  const filtered = await page.getByTestId('metric-row').evaluateAll((els) => els.map((e) => e.dataset.metric));
  check(filtered.length > 0 && filtered.every((n) => n.includes('orders_')), `the filter keeps orders_ metrics (${filtered})`);
  await page.getByTestId('metric-filter').fill('');

  // 2. The histogram: its default quantile, of the order service, with axes and exemplars.
  step('histogram quantile with an exemplar');
  await page.locator(`[data-testid="metric-row"][data-metric="${HISTOGRAM}"]`).click();
  await page.waitForURL(new RegExp(`name=${HISTOGRAM}`));
  await page.getByTestId('metric-chart').waitFor();
  check(await page.getByTestId('metric-agg').inputValue() === 'p50', 'a histogram shows p50 first');
  await page.getByTestId('metric-label-job').selectOption('order');
  await page.waitForURL(/labels=/);
  const dot = page.locator(`[data-testid="exemplar"][data-trace-id="${traceId}"]`).first();
  await dot.waitFor({ state: 'attached' });
  const unit = await page.getByTestId('metric-unit').textContent();
  check(unit === 'seconds', `the value axis says seconds (${unit})`);
  const ticks = await page.getByTestId('metric-y-tick').allTextContents();
  check(ticks.length === 5 && ticks.slice(1).every((t) => /\d(µs|ms|s)$/.test(t)), `value ticks as durations (${ticks})`);
  const path = await page.getByTestId('metric-line').first().getAttribute('d');
  check(path && path.startsWith('M'), `a line is drawn (${path})`);
  // What the chart draws is what the API answers for the same choice.
  const q = new URL(page.url()).searchParams;
  const answer = (await fromApi(`/api/console/metrics/query?${new URLSearchParams({ name: HISTOGRAM, agg: 'p50', labels: q.get('labels'), lookback: q.get('lookback') })}`)).data;
  const points = answer.lines[0].values.filter((v) => v !== null).length;
  const drawn = (path.match(/[ML]/g) || []).length;
  check(drawn === points, `the line has a point per value of the API (${drawn} of ${points})`);
  await page.screenshot({ path: join(outDir, '1-metrics.png'), fullPage: true });

  // 3. The exemplar opens its trace.
  step('exemplar opens its trace');
  await dot.dispatchEvent('click');
  await page.waitForURL(`**/trace/${traceId}`);
  await page.getByTestId('waterfall-row').first().waitFor();

  // 4. A counter's rate per second.
  step('counter rate');
  await page.goto(`${ui}/metrics?name=${COUNTER}`);
  await page.getByTestId('metric-chart').waitFor();
  check(await page.getByTestId('metric-agg').inputValue() === 'rate', 'a counter shows its rate first');
  const rateTicks = await page.getByTestId('metric-y-tick').allTextContents();
  check(rateTicks.every((t) => t.endsWith('/s')), `rate ticks per second (${rateTicks})`);
  await page.getByTestId('metric-line').first().waitFor({ state: 'attached' });
  await page.getByTestId('metric-by').selectOption('job');
  await page.waitForURL(/by=job/);
  await page.locator('[data-testid="metric-legend"]', { hasText: 'job=' }).first().waitFor();
  const legend = await page.getByTestId('metric-legend').allTextContents();
  check(legend.includes('job=order'), `split by job: a line of the order service (${legend})`);
  await page.screenshot({ path: join(outDir, '2-metrics-rate.png'), fullPage: true });
});
