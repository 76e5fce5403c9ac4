// tracemart console: the metrics page. Lists every metric the console scraped, with its labels,
// and charts the chosen one over time (rate of counters, quantiles of histograms, sum of
// gauges) with label filters and a split by one label; exemplars are points that open their
// trace. Its state is in the URL: /metrics?name=..&agg=..&by=..&labels={..}&lookback=..
// Uses app.js's helpers (h, $, api, show, navigate, color, fmtMs).
'use strict';

// The metrics list of the last visit, by name.
let metricsByName = new Map();

function metricsState() {
  const q = new URLSearchParams(location.search);
  let labels = {};
  try { labels = JSON.parse(q.get('labels') || '{}') || {}; } catch (_) { labels = {}; }
  return { name: q.get('name') || '', agg: q.get('agg') || '', by: q.get('by') || '', labels, lookback: q.get('lookback') || '15m' };
}

// Replaces the page's state (without a history entry per control change) and redraws.
function setMetricsState(change) {
  const s = { ...metricsState(), ...change };
  const q = new URLSearchParams();
  if (s.name) q.set('name', s.name);
  if (s.agg) q.set('agg', s.agg);
  if (s.by) q.set('by', s.by);
  if (Object.keys(s.labels).length) q.set('labels', JSON.stringify(s.labels));
  q.set('lookback', s.lookback);
  history.replaceState(null, '', `/metrics?${q}`);
  showMetrics();
}

async function showMetrics() {
  show('metrics');
  const status = $('#metrics-status');
  let list;
  try {
    list = await api('/api/console/metrics');
  } catch (err) {
    status.textContent = err.message;
    status.classList.add('error');
    return;
  }
  status.classList.remove('error');
  metricsByName = new Map(list.data.map((m) => [m.name, m]));
  const state = metricsState();
  status.textContent = list.data.length ? `${list.data.length} metrics, scraped from the services' /metrics`
    : 'No metrics yet: the console scrapes every service\'s /metrics (console.metrics_scrape_interval_secs).';
  renderMetricList(list.data, state.name);
  const metric = metricsByName.get(state.name);
  if (!metric) return $('#metric-detail').replaceChildren();
  await renderMetric(metric, state);
}

function renderMetricList(metrics, selected) {
  const filter = $('#metric-filter').value.trim().toLowerCase();
  $('#metric-list').replaceChildren(...metrics
    .filter((m) => !filter || m.name.toLowerCase().includes(filter) || m.help.toLowerCase().includes(filter))
    .map((m) => h('tr', {
      'data-testid': 'metric-row', 'data-metric': m.name, class: m.name === selected ? 'clickable selected' : 'clickable',
      onclick: () => navigate(`/metrics?${new URLSearchParams({ name: m.name, lookback: metricsState().lookback })}`),
    },
    h('td', { class: 'wrap' }, h('div', { class: 'mono', text: m.name }),
      h('div', { class: 'muted small', text: m.help }),
      h('div', { class: 'muted small', 'data-testid': 'metric-labels', text: Object.keys(m.labels).length ? `labels: ${Object.keys(m.labels).join(', ')}` : '' })),
    h('td', {}, h('span', { class: 'pill', text: m.type })))));
}

document.querySelector('#metric-filter').addEventListener('input', () => {
  renderMetricList([...metricsByName.values()], metricsState().name);
});

// The chosen metric: its controls, chart and exemplars.
async function renderMetric(metric, state) {
  const box = $('#metric-detail');
  const agg = metric.aggregations.includes(state.agg) ? state.agg : metric.aggregations[0];
  const q = new URLSearchParams({ name: metric.name, agg, lookback: state.lookback });
  if (state.by) q.set('by', state.by);
  if (Object.keys(state.labels).length) q.set('labels', JSON.stringify(state.labels));
  let result;
  try {
    result = (await api(`/api/console/metrics/query?${q}`)).data;
  } catch (err) {
    box.replaceChildren(h('p', { class: 'status error', text: err.message }));
    return;
  }
  const select = (testid, value, options, onchange) => h('select', { 'data-testid': testid, onchange: (e) => onchange(e.target.value) },
    options.map(([v, text]) => h('option', { value: v, text, selected: v === value ? 'selected' : null })));
  const filters = Object.entries(metric.labels).map(([key, values]) => h('label', {}, key,
    select(`metric-label-${key}`, state.labels[key] || '', [['', 'any'], ...values.map((v) => [v, v])], (v) => {
      const labels = { ...state.labels };
      if (v) labels[key] = v; else delete labels[key];
      setMetricsState({ labels });
    })));
  box.replaceChildren(
    h('h3', {}, h('span', { class: 'mono', text: metric.name }), ' ', h('span', { class: 'pill', text: metric.type }),
      h('span', { class: 'muted', text: ` ${metric.help}` })),
    h('div', { class: 'row-tools metric-tools' },
      h('label', {}, 'Show', select('metric-agg', agg, metric.aggregations.map((a) => [a, aggName(a)]), (v) => setMetricsState({ agg: v }))),
      h('label', {}, 'Split by', select('metric-by', state.by, [['', 'nothing'], ...Object.keys(metric.labels).map((k) => [k, k])], (v) => setMetricsState({ by: v }))),
      h('label', {}, 'Window', select('metric-lookback', state.lookback,
        [['5m', '5 minutes'], ['15m', '15 minutes'], ['1h', '1 hour'], ['6h', '6 hours'], ['24h', '24 hours']], (v) => setMetricsState({ lookback: v }))),
      ...filters),
    metricChart(result),
    exemplarList(result));
}

const aggName = (a) => ({ rate: 'rate per second', sum: 'value (sum)' }[a] || `${a} (quantile)`);
const isQuantile = (agg) => /^p\d+$/.test(agg);

// The unit of the chart's values, and how to write one.
function valueFormat(result) {
  if (result.agg === 'rate') return { unit: '/s', fmt: (v) => `${fmtNumber(v)}/s` };
  if (result.unit === 'seconds' || result.name.endsWith('_seconds')) return { unit: 'seconds', fmt: (v) => fmtMs(v * 1000) };
  return { unit: result.unit, fmt: (v) => `${fmtNumber(v)}${result.unit ? ` ${result.unit}` : ''}` };
}

function fmtNumber(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(a >= 1e4 ? 1 : 2)}k`;
  if (a >= 10) return v.toFixed(1);
  return v.toPrecision(3);
}

// A line chart with labelled axes; exemplars (on a quantile chart, where their values share
// the axis) are points that open their trace.
function metricChart(result) {
  const W = 1000, H = 260, L = 80, R = 16, T = 12, B = 28;
  const { unit, fmt } = valueFormat(result);
  const t1 = result.times[result.times.length - 1];
  const t0 = result.times[0] - result.step_ms;
  const exemplars = isQuantile(result.agg) ? result.exemplars.filter((e) => e.time_ms >= t0) : [];
  const values = result.lines.flatMap((l) => l.values.filter((v) => v !== null));
  const max = Math.max(1e-12, ...values, ...exemplars.map((e) => e.value)) * 1.05;
  const x = (t) => L + (W - L - R) * (t - t0) / Math.max(t1 - t0, 1);
  const y = (v) => H - B - (H - T - B) * (v / max);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const times = [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0));
  const label = (line) => line.group === null || line.group === undefined ? result.name : `${result.by}=${line.group || '(none)'}`;
  const paths = result.lines.map((line) => {
    // A gap where a step has no value.
    let d = '';
    line.values.forEach((v, i) => {
      if (v === null) return;
      const pen = i > 0 && line.values[i - 1] !== null ? 'L' : 'M';
      d += `${pen}${x(result.times[i]).toFixed(1)},${y(v).toFixed(1)}`;
    });
    // A value with no neighbour is a dot: a path of one point draws nothing.
    const alone = line.values.map((v, i) => [v, i]).filter(([v, i]) => v !== null
      && (i === 0 || line.values[i - 1] === null) && (i === line.values.length - 1 || line.values[i + 1] === null));
    return h('g', {}, h('path', { d, fill: 'none', stroke: color(label(line)), 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke', 'data-testid': 'metric-line' },
      h('title', { text: label(line) })),
    alone.map(([v, i]) => h('circle', { cx: x(result.times[i]), cy: y(v), r: 3, fill: color(label(line)) },
      h('title', { text: `${label(line)}: ${fmt(v)} at ${new Date(result.times[i]).toLocaleTimeString()}` }))));
  });
  const dots = exemplars.map((e) => h('circle', {
    cx: x(e.time_ms), cy: y(e.value), r: 4, class: 'exemplar', 'data-testid': 'exemplar', 'data-trace-id': e.trace_id,
    onclick: () => navigate(`/trace/${e.trace_id}`),
  }, h('title', { text: `trace ${e.trace_id}: ${fmt(e.value)} (open the trace)` })));
  return h('div', { class: 'chart metric-chart', 'data-testid': 'metric-chart' },
    h('div', { class: 'legend' }, result.lines.map((l) => h('span', { 'data-testid': 'metric-legend' },
      h('i', { style: `background:${color(label(l))}` }), label(l))),
      exemplars.length ? h('span', {}, h('i', { class: 'exemplar-key' }), 'exemplar (opens its trace)') : null),
    values.length ? null : h('p', { class: 'muted', 'data-testid': 'metric-empty', text: 'No values in this window for this choice.' }),
    h('svg', { viewBox: `0 0 ${W} ${H}`, 'data-testid': 'metric-svg' },
      ticks.flatMap((v) => [
        h('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#eef0f3' }),
        h('text', { x: L - 6, y: y(v) + 4, 'font-size': 13, fill: '#6b7280', 'text-anchor': 'end', 'data-testid': 'metric-y-tick', text: fmt(v) })]),
      h('text', { x: 12, y: T + (H - T - B) / 2, 'font-size': 13, fill: '#6b7280', transform: `rotate(-90 12 ${T + (H - T - B) / 2})`, 'text-anchor': 'middle', 'data-testid': 'metric-unit', text: unit || 'value' }),
      h('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#c9ced6' }),
      times.map((t, i) => h('text', { x: x(t), y: H - 8, 'font-size': 13, fill: '#6b7280', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', text: new Date(t).toLocaleTimeString() })),
      paths, dots));
}

// The newest exemplars, as links to their traces.
function exemplarList(result) {
  const shown = result.exemplars.slice(0, 10);
  if (!shown.length) return h('p', { class: 'muted', 'data-testid': 'exemplars-none', text: 'No exemplars in this window.' });
  const { fmt } = valueFormat({ ...result, agg: 'value' });
  return h('div', { class: 'exemplars' }, h('h4', { text: `Exemplars (newest ${shown.length} of ${result.exemplars.length})` }),
    h('table', {}, h('tbody', {}, shown.map((e) => h('tr', { onclick: () => navigate(`/trace/${e.trace_id}`) },
      h('td', {}, h('a', { href: `/trace/${e.trace_id}`, 'data-nav': '', 'data-testid': 'exemplar-link', class: 'mono', text: e.trace_id })),
      h('td', { class: 'num', text: fmt(e.value) }),
      h('td', { text: new Date(e.time_ms).toLocaleTimeString() }),
      h('td', { class: 'muted', text: Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(' ') }))))));
}
