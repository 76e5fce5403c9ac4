// The console's figures and looks in headless Chromium: charts with axes and units, map
// labels that do not overlap, failed spans marked whatever their service's colour, rows that
// look clickable, a layout that fits 1024 px on every page, and the Logs page (filters, a line
// opening its trace, the live tail). Keeps a 1280x800 screenshot of each page for the README.
//
//   node tests/browser/figures.mjs <ui-url> <order-url> <out-dir> <failed-trace-id> <failed-request-id>
//
// <failed-trace-id>: a refused order (409), a failed span inside a request that did not fail.
// <failed-request-id>: a trace of one request the payment service failed (503).
// <order-url>: the order service; a request to it during the live tail must show up.
// Exits 0 when every check passes; otherwise prints what failed and exits 1.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, drive, step } from './session.mjs';

const [ui, orderUrl, outDir, failedId, failedRequestId] = process.argv.slice(2);
if (!ui || !orderUrl || !outDir || !failedId || !failedRequestId) {
  console.error('usage: node figures.mjs <ui-url> <order-url> <out-dir> <failed-trace-id> <failed-request-id>');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

// The page fits 1024 px: nothing wider than the window.
async function fits1024(page, what) {
  await page.setViewportSize({ width: 1024, height: 768 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  // What sticks out, to say so.
  const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > 1024 && e.getClientRects().length)
    .slice(0, 4).map((e) => `${e.tagName.toLowerCase()}.${e.className || e.id}`).join(', '));
  check(width <= 1024, `${what} fits 1024 px (${width} px wide: ${wide})`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function shot(page, name) {
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path });
  console.log(`  screenshot ${path}`);
}

const cursorOf = (loc) => loc.evaluate((e) => getComputedStyle(e).cursor);

const TIMEOUT = 30_000;
await drive({
  timeout: TIMEOUT,
  viewport: { width: 1280, height: 800 },
  failureShot: join(outDir, 'figures-failure.png'),
}, async (page) => {
  // Search: the scatter plot has axes with titles and units; rows look clickable.
  step('search');
  await page.goto(`${ui}/search?service=order-service`);
  await page.getByTestId('result-row').first().waitFor();
  const scatter = page.getByTestId('scatter');
  check(await scatter.getByTestId('chart-axes').count() === 1, 'the scatter plot has axes');
  check((await scatter.getByTestId('y-title').textContent()) === 'duration', 'its y axis is the duration');
  check((await scatter.getByTestId('x-title').textContent()).includes('start time'), 'its x axis is the start time');
  const tickTexts = await scatter.locator('.tick').allTextContents();
  check(tickTexts.some((t) => /(µs|ms|s)$/.test(t)), `duration ticks carry units (${tickTexts.join(' ')})`);
  check(await cursorOf(page.getByTestId('result-row').first()) === 'pointer', 'a result row has a pointer cursor');
  const probes = await page.getByTestId('result-row').evaluateAll((els) => els.filter((e) => /\/health|\/metrics|\/openapi/.test(e.textContent)).length);
  check(probes === 0, 'no probe traces among the results');
  // The error rule on search: the refused order is no failed request; the payment's 503 is.
  const failedMark = (id) => page.locator(`[data-testid="result-row"][data-trace-id="${id}"] [data-testid="error-count"]`).count();
  await page.locator(`[data-testid="result-row"][data-trace-id="${failedId}"]`).waitFor();
  check(await failedMark(failedId) === 0, 'a refused order (409) is not listed as failed');
  await fits1024(page, 'search');
  await shot(page, 'search');
  await page.goto(`${ui}/search?service=payment-service`);
  await page.locator(`[data-testid="result-row"][data-trace-id="${failedRequestId}"]`).waitFor();
  check(await failedMark(failedRequestId) === 1, 'the payment\'s failed request is listed as failed');

  // A failed trace: its failed spans are hatched, and no service is drawn in red.
  step('failed trace');
  await page.goto(`${ui}/trace/${failedId}`);
  await page.getByTestId('error-bar').first().waitFor();
  const bars = await page.locator('.wf-bar').evaluateAll((els) => els.map((e) => {
    const s = getComputedStyle(e);
    return { err: e.classList.contains('err'), image: s.backgroundImage, color: s.backgroundColor };
  }));
  check(bars.filter((b) => b.err).every((b) => b.image.includes('repeating-linear-gradient')), 'failed spans are hatched');
  const reddish = bars.filter((b) => {
    const [r, g, bl] = b.color.match(/\d+/g).map(Number);
    return r > 150 && g < 110 && bl < 110;
  });
  check(reddish.length === 0, `no service is coloured red (${reddish.map((b) => b.color).join(', ')})`);
  check(await cursorOf(page.locator('.kv td').first()) !== 'pointer', 'detail tables do not look clickable');
  await fits1024(page, 'a trace');
  await shot(page, 'trace');

  // Services: the current rate beside the average, the rule, charts with axes.
  step('services');
  await page.goto(`${ui}/services?service=order-service`);
  await page.getByTestId('chart').first().waitFor();
  const heads = await page.locator('#view-services thead th').allTextContents();
  check(heads.includes('Rate/s now') && heads.includes('Rate/s avg'), `rate now and average (${heads.join(', ')})`);
  check((await page.getByTestId('error-rule').textContent()).includes('5xx'), 'the error rule is stated');
  const charts = await page.getByTestId('chart').count();
  const chartAxes = await page.locator('[data-testid="chart"] [data-testid="chart-axes"]').count();
  check(charts >= 3 && chartAxes === charts, `every chart has axes (${chartAxes} of ${charts})`);
  const rateTicks = await page.getByTestId('chart').first().locator('.tick').allTextContents();
  check(rateTicks.some((t) => t.endsWith('/s')), `the rate chart's ticks are per second (${rateTicks.join(' ')})`);
  check(await cursorOf(page.getByTestId('service-row').first()) === 'pointer', 'a service row has a pointer cursor');
  const errorsOf = (testId) => page.getByTestId(testId).evaluateAll((els) => Object.fromEntries(els.map((e) => [e.dataset.service, Number(e.dataset.errors)])));
  const servicesErrors = await errorsOf('service-row');
  check(servicesErrors['payment-service'] === 1, `the payment service failed one request (${JSON.stringify(servicesErrors)})`);
  check(servicesErrors['order-service'] === 0, `a refused order is no failure of the order service (${JSON.stringify(servicesErrors)})`);
  await fits1024(page, 'services');
  await shot(page, 'services');

  // Map: edge labels over their lines, none overlapping another.
  step('map');
  await page.goto(`${ui}/map`);
  await page.getByTestId('map-edge-label').first().waitFor();
  const boxes = await page.getByTestId('map-edge-label').evaluateAll((els) => els.map((e) => {
    const r = e.getBoundingClientRect();
    return { l: r.left, r: r.right, t: r.top, b: r.bottom };
  }));
  const overlaps = boxes.filter((a, i) => boxes.some((b, j) => j > i && a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b));
  check(overlaps.length === 0, `edge labels do not overlap (${overlaps.length} do)`);
  const lastIsLabel = await page.locator('#service-map svg > *:last-child').getAttribute('data-testid');
  check(lastIsLabel === 'map-edge-label', 'labels are drawn over the lines');
  const mapErrors = await errorsOf('map-node');
  for (const [service, errors] of Object.entries(servicesErrors)) {
    check(mapErrors[service] === errors, `the map counts ${service}'s failed requests as the services page does (${mapErrors[service]} and ${errors})`);
  }
  await fits1024(page, 'the map');
  await shot(page, 'map');

  // Diagnose: it answers, with a culprit or with nothing standing out.
  step('diagnose');
  await page.goto(`${ui}/diagnose`);
  await page.locator('[data-testid="diag-none"], [data-testid="diag-culprit"]').first().waitFor();
  await fits1024(page, 'diagnose');
  await shot(page, 'diagnose');

  // Logs: newest first, filters, a line opens its trace, live tail.
  step('logs');
  await page.getByTestId('nav-logs').click();
  await page.waitForURL('**/logs');
  await page.getByTestId('logs-row').first().waitFor();
  const times = await page.getByTestId('logs-row').evaluateAll((els) => els.map((e) => e.firstChild.textContent));
  console.log(`  ${times.length} log lines`);
  await page.getByTestId('l-service').selectOption('inventory-service');
  await page.getByTestId('logs-submit').click();
  await page.waitForURL(/service=inventory-service/);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="logs-row"]')].every((r) => r.dataset.service === 'inventory-service'));
  check(await page.getByTestId('logs-row').count() > 0, 'inventory has log lines');
  await page.goto(`${ui}/logs?traceID=${failedId}`);
  await page.getByTestId('logs-row').first().waitFor();
  const ids = await page.getByTestId('logs-row').evaluateAll((els) => els.map((e) => e.dataset.traceId));
  check(ids.every((id) => id === failedId), 'a trace id filter keeps that trace\'s lines');
  const services = await page.getByTestId('logs-row').evaluateAll((els) => [...new Set(els.map((e) => e.dataset.service))]);
  check(services.length > 1, `a trace's lines come from every service on its path (${services.join(', ')})`);
  await page.goto(`${ui}/logs?level=warn`);
  await page.getByTestId('logs-status').filter({ hasText: /log line/ }).waitFor();
  const levels = await page.locator('[data-testid="logs-row"] td.sev').allTextContents();
  check(levels.every((l) => /^(WARN|ERROR|FATAL)/i.test(l)), `warn and above only (${[...new Set(levels)].join(', ')})`);
  await page.goto(`${ui}/logs?q=${encodeURIComponent('request completed')}`);
  await page.getByTestId('logs-row').first().waitFor();
  const bodies = await page.locator('[data-testid="logs-row"] td.msg > span').allTextContents();
  check(bodies.every((b) => b.toLowerCase().includes('request completed')), 'the text filter keeps matching lines');
  check(await cursorOf(page.getByTestId('logs-row').first()) === 'pointer', 'a log line has a pointer cursor');
  await fits1024(page, 'logs');
  await shot(page, 'logs');
  // Live tail: a request made now shows on top within a few seconds.
  await page.goto(`${ui}/logs?service=order-service`);
  await page.getByTestId('logs-status').filter({ hasText: /log line/ }).waitFor();
  await page.getByTestId('l-tail').check();
  const before = await page.getByTestId('logs-row').count();
  const answer = await fetch(`${orderUrl}/tail-check/now`);
  const traceId = answer.headers.get('x-trace-id');
  check(!!traceId, 'the order service answered with a trace id');
  const tailed = page.locator(`[data-testid="logs-row"][data-trace-id="${traceId}"]`).first();
  await tailed.waitFor({ timeout: 20_000 });
  check(await page.getByTestId('logs-row').count() > before, 'the tail added lines');
  await tailed.click();
  await page.waitForURL(`**/trace/${traceId}`);
  await page.getByTestId('waterfall-row').first().waitFor();
  const title = await page.getByTestId('trace-title').textContent();
  check(title.includes('GET /tail-check/{…}'), `an unmatched path is named by its path (${title})`);

  // Metrics: the order service's p95 latency, once two scrapes give it a value.
  step('metrics');
  const chosen = new URLSearchParams({ name: 'http_request_duration_seconds', agg: 'p95', labels: '{"job":"order"}', lookback: '5m' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    await page.goto(`${ui}/metrics?${chosen}`);
    await page.getByTestId('metric-chart').waitFor();
    if (await page.getByTestId('metric-line').count() > 0) break;
    check(Date.now() < deadline, 'the order service\'s latency is charted within 20 s');
    await page.waitForTimeout(500);
  }
  check(await cursorOf(page.getByTestId('metric-row').first()) === 'pointer', 'a metric row has a pointer cursor');
  await fits1024(page, 'metrics');
  await shot(page, 'metrics');

  // Processes: every child of the shop, ready.
  step('processes');
  await page.goto(`${ui}/processes`);
  await page.locator('[data-testid="proc-table"] tr').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('.proc-ready').length >= 6);
  await fits1024(page, 'processes');
  await shot(page, 'processes');
});
