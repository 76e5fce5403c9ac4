// tracemart console: a dependency-free single-page app over the Jaeger and /api/console APIs.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const $ = (sel) => document.querySelector(sel);

// h('div', {class: 'x', text: 'y', onclick: f, 'data-testid': 'z'}, child...). Text is never
// parsed as HTML: span names and attributes come from telemetry.
function h(tag, attrs, ...kids) {
  const svg = ['svg', 'g', 'circle', 'line', 'path', 'text', 'rect', 'polyline', 'defs', 'marker', 'title'].includes(tag);
  const el = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style' && !svg) el.style.cssText = v;
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const msg = body && body.errors && body.errors[0] ? body.errors[0].msg : res.statusText;
    throw new Error(`${res.status}: ${msg}`);
  }
  return body;
}

function fmtDur(us) {
  if (us === null || us === undefined) return '';
  if (us < 1000) return `${us}µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}
const fmtMs = (ms) => fmtDur(Math.round(ms * 1000));
const fmtTime = (us) => new Date(us / 1000).toLocaleString();
const fmtPct = (r) => `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)}%`;
const fmtRate = (r) => (r >= 10 ? r.toFixed(0) : r > 0 && r < 0.1 ? r.toPrecision(2) : r.toFixed(2));

// A service's colour: any hue but red's (20..340), which marks errors.
function color(name) {
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${20 + hash % 320}, 55%, 55%)`;
}

// The width a chart gets: its container's, so that text in it is not stretched.
const chartWidth = (el) => Math.max(600, Math.round((el && el.clientWidth) || document.querySelector('main').clientWidth - 40));

// Axis ticks for 0..max: three round values with the chart's unit.
function ticks(max) {
  const raw = max / 2;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  return [0, step, 2 * step];
}

// Axes of a chart W x H with margins L (left) and B (bottom): y ticks with `fmt`, the start,
// middle and end times of the x axis, and the axes' titles.
function axes({ W, H, L, B, T, max, fmt, t0, t1, yTitle, xTitle }) {
  const y = (v) => H - B - (H - B - T) * (v / max);
  // Within a minute, times after the first are offsets from it (seconds would all read alike).
  const time = (us) => (us > t0 && t1 - t0 < 60e6 ? `+${fmtDur(Math.round(us - t0))}` : new Date(us / 1000).toLocaleTimeString());
  return h('g', { class: 'axes', 'data-testid': 'chart-axes' },
    h('line', { x1: L, x2: L, y1: T, y2: H - B, class: 'axis' }),
    h('line', { x1: L, x2: W - 8, y1: H - B, y2: H - B, class: 'axis' }),
    ticks(max).filter((v) => v <= max * 1.001).flatMap((v) => [
      h('line', { x1: L, x2: W - 8, y1: y(v), y2: y(v), class: 'grid' }),
      h('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'tick', text: fmt(v) })]),
    [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']].map(([t, anchor], i) => h('text', {
      x: L + (W - 8 - L) * i / 2, y: H - B + 14, 'text-anchor': anchor, class: 'tick', text: time(t) })),
    h('text', { x: 4, y: T - 10, class: 'axis-title', 'data-testid': 'y-title', text: yTitle }),
    h('text', { x: W - 8, y: H - 2, 'text-anchor': 'end', class: 'axis-title', 'data-testid': 'x-title', text: xTitle }));
}

// A service's colour, as a dot before its name.
const dot = (service) => h('i', { class: 'dot', style: `background:${color(service)}` });

function setStatus(text, isError) {
  const el = $('#search-status');
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

// ---------------------------------------------------------------- routing

function navigate(url) {
  history.pushState(null, '', url);
  route();
}

function show(view) {
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
  for (const a of document.querySelectorAll('.top nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `/${view}`);
  }
}

function route() {
  const path = location.pathname;
  const m = path.match(/^\/trace\/([0-9a-fA-F]{1,32})\/?$/);
  if (m) return showTrace(m[1].toLowerCase());
  if (path.startsWith('/services')) return showServices();
  if (path.startsWith('/map')) return showMap();
  if (path.startsWith('/diagnose')) return showDiagnosis();
  if (path.startsWith('/processes')) return showProcesses();
  if (path.startsWith('/metrics')) return showMetrics();
  if (path.startsWith('/logs')) return showLogs();
  return showSearch();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);

$('#goto').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('#goto-id').value.trim();
  if (/^[0-9a-fA-F]{1,32}$/.test(id)) navigate(`/trace/${id.toLowerCase()}`);
});

// ---------------------------------------------------------------- search

let servicesLoaded = false;

async function loadServices(selected) {
  const sel = $('#f-service');
  if (!servicesLoaded) {
    const body = await api('/api/services');
    for (const s of body.data || []) sel.append(h('option', { value: s, text: s }));
    servicesLoaded = true;
  }
  sel.value = selected || '';
}

async function loadOperations(service, selected) {
  const sel = $('#f-operation');
  sel.replaceChildren(h('option', { value: '', text: 'All operations' }));
  if (service) {
    const body = await api(`/api/services/${encodeURIComponent(service)}/operations`);
    for (const op of body.data || []) sel.append(h('option', { value: op, text: op }));
  }
  sel.value = selected || '';
}

$('#f-service').addEventListener('change', (e) => loadOperations(e.target.value).catch((err) => setStatus(err.message, true)));

// "k=v k2=v2" or a JSON object -> the JSON object Jaeger's `tags` parameter takes.
function tagsParam(text) {
  text = text.trim();
  if (!text) return '';
  if (text.startsWith('{')) return text;
  const tags = {};
  for (const part of text.match(/(?:[^\s"]+|"[^"]*")+/g) || []) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`attribute filter "${part}" should be key=value`);
    tags[part.slice(0, i)] = part.slice(i + 1).replace(/^"|"$/g, '');
  }
  return JSON.stringify(tags);
}

$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const params = new URLSearchParams();
  for (const [k, v] of form.entries()) if (v !== '') params.set(k, v);
  navigate(`/search?${params}`);
});

async function showSearch() {
  show('search');
  const params = new URLSearchParams(location.search);
  const form = $('#search-form');
  try {
    await loadServices(params.get('service'));
    await loadOperations(params.get('service'), params.get('operation'));
  } catch (err) {
    setStatus(err.message, true);
  }
  for (const name of ['minDuration', 'maxDuration', 'status', 'tags', 'lookback', 'limit']) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
  await runSearch(params);
}

async function runSearch(params) {
  const q = new URLSearchParams();
  for (const k of ['service', 'operation', 'minDuration', 'maxDuration', 'status', 'limit']) {
    if (params.get(k)) q.set(k, params.get(k));
  }
  const lookback = params.has('lookback') ? params.get('lookback') : '1h';
  if (lookback) q.set('lookback', lookback);
  if (!q.has('limit')) q.set('limit', '50');
  try {
    const tags = tagsParam(params.get('tags') || '');
    if (tags) q.set('tags', tags);
  } catch (err) {
    setStatus(err.message, true);
    return;
  }
  setStatus('Searching…');
  const started = performance.now();
  let body;
  try {
    body = await api(`/api/console/traces?${q}`);
  } catch (err) {
    setStatus(err.message, true);
    $('#results').replaceChildren();
    $('#scatter').replaceChildren();
    return;
  }
  const traces = body.data || [];
  setStatus(`${traces.length} trace${traces.length === 1 ? '' : 's'} in ${Math.round(performance.now() - started)} ms`
    + (traces.length ? ' — click one to open its waterfall' : ''));
  renderResults(traces);
  renderScatter(traces);
}

function renderResults(traces) {
  const max = Math.max(1, ...traces.map((t) => t.duration_us));
  $('#results').replaceChildren(...traces.map((t) => {
    const open = (e) => { if (!e.target.closest('a')) navigate(`/trace/${t.trace_id}`); };
    return h('tr', { class: 'clickable', 'data-testid': 'result-row', 'data-trace-id': t.trace_id, onclick: open },
      h('td', {},
        h('a', { href: `/trace/${t.trace_id}`, 'data-nav': '', text: `${t.root_service}: ${t.root_operation}` }),
        h('div', { class: 'mono muted', text: t.trace_id })),
      h('td', { text: fmtTime(t.start_us) }),
      h('td', {},
        h('div', { text: fmtDur(t.duration_us) }),
        h('div', { style: `height:4px;background:${t.error_count ? 'var(--err)' : 'var(--accent)'};width:${Math.max(2, 100 * t.duration_us / max)}%` })),
      h('td', { class: 'num' }, `${t.span_count}`,
        t.truncated ? h('span', { class: 'pill', title: 'spans beyond the per-trace limit were dropped', text: ` +${t.dropped_spans} dropped` }) : null,
        t.error_count ? h('span', { class: 'pill err', 'data-testid': 'error-count', title: 'failed requests', text: ` ${t.error_count} failed` }) : null),
      h('td', {}, t.services.map((s) => h('span', { class: `pill${s.errors ? ' err' : ''}` },
        dot(s.service), `${s.service} ${s.spans}`))));
  }));
}

function renderScatter(traces) {
  const box = $('#scatter');
  if (!traces.length) return box.replaceChildren();
  const W = chartWidth(box), H = 170, L = 64, B = 30, T = 26, R = 8;
  const t0 = Math.min(...traces.map((t) => t.start_us));
  const t1 = Math.max(...traces.map((t) => t.start_us));
  const max = ticks(Math.max(...traces.map((t) => t.duration_us), 1))[2];
  const x = (t) => L + 6 + (t1 === t0 ? (W - R - L - 12) / 2 : (W - R - L - 12) * (t.start_us - t0) / (t1 - t0));
  const y = (t) => H - B - (H - B - T) * (t.duration_us / max);
  box.replaceChildren(h('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H },
    axes({ W, H, L, B, T, max, fmt: fmtDur, t0, t1, yTitle: 'duration', xTitle: 'trace start time (red: a request failed)' }),
    traces.map((t) => h('circle', {
      cx: x(t), cy: y(t), r: 5, fill: t.error_count ? 'var(--err)' : 'var(--accent)', 'fill-opacity': 0.7,
      'data-testid': 'scatter-point', onclick: () => navigate(`/trace/${t.trace_id}`),
    }, h('title', { text: `${t.root_service}: ${t.root_operation} — ${fmtDur(t.duration_us)}` })))));
}

// ---------------------------------------------------------------- trace

let currentTrace = null;

async function showTrace(id) {
  show('trace');
  $('#goto-id').value = id;
  $('#trace-header').replaceChildren(h('p', { class: 'muted', text: `Loading trace ${id}…` }));
  $('#waterfall').replaceChildren();
  renderLinked(null);
  $('#span-details').replaceChildren(h('p', { class: 'muted', text: 'Select a span to see its attributes, events, links, resource and logs.' }));
  let trace, logs, related;
  try {
    // The linked traces are an extra: the page works without them.
    const [t, l, r] = await Promise.all([api(`/api/traces/${id}`), api(`/api/console/traces/${id}/logs`),
      api(`/api/console/traces/${id}/related`).catch(() => null)]);
    trace = t.data[0];
    logs = l.data || [];
    related = r;
  } catch (err) {
    $('#trace-header').replaceChildren(
      h('h2', { text: `Trace ${id}` }),
      h('p', { class: 'status error', 'data-testid': 'trace-error', text: err.message.startsWith('404') ? 'Trace not found (it may not have arrived yet, or retention removed it).' : err.message }));
    return;
  }
  currentTrace = { trace, logs };
  renderLinked(related);
  renderTrace();
}

$('#show-logs').addEventListener('change', () => currentTrace && renderTrace());

// A trace with more spans than one answer holds (or than the console stores of one trace)
// comes with its earliest spans only: say so, above the waterfall.
function truncationNotice(trace) {
  const shown = trace.spans.length;
  const dropped = trace.totalSpans - trace.storedSpans;
  return h('p', { class: 'notice', 'data-testid': 'trace-truncated' },
    h('b', { text: `Showing ${shown} of ${trace.totalSpans} spans` }),
    `: the earliest by start time.${dropped > 0 ? ` The console stored ${trace.storedSpans} and dropped ${dropped} beyond its limit per trace.` : ''}`);
}

function spanTree(trace) {
  const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
  const children = new Map();
  const roots = [];
  for (const s of trace.spans) {
    const parent = (s.references || []).find((r) => r.refType === 'CHILD_OF' && byId.has(r.spanID));
    if (parent) {
      if (!children.has(parent.spanID)) children.set(parent.spanID, []);
      children.get(parent.spanID).push(s);
    } else roots.push(s);
  }
  const order = [];
  const visit = (s, depth) => {
    order.push({ span: s, depth });
    for (const c of (children.get(s.spanID) || []).sort((a, b) => a.startTime - b.startTime)) visit(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.startTime - b.startTime)) visit(r, 0);
  return order;
}

// A span with links to other traces, or that spans of other traces link to.
const isLinked = (s) => (s.references || []).some((r) => r.refType !== 'CHILD_OF') || linksTo(s.traceID, s.spanID).length > 0;
const isError = (s) => (s.tags || []).some((t) => t.key === 'error' && (t.value === true || t.value === 'true'));

function renderTrace() {
  const { trace, logs } = currentTrace;
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const end = Math.max(...trace.spans.map((s) => s.startTime + s.duration));
  const total = Math.max(end - start, 1);
  const order = spanTree(trace);
  const service = (s) => trace.processes[s.processID]?.serviceName || '?';
  const root = order[0].span;
  const services = [...new Set(trace.spans.map(service))];
  const errors = trace.spans.filter(isError).length;

  $('#trace-header').replaceChildren(
    h('h2', { 'data-testid': 'trace-title', text: `${service(root)}: ${root.operationName}` }),
    h('div', { class: 'muted' },
      h('span', { class: 'mono', text: trace.traceID }), ' · ', fmtTime(start), ' · ',
      h('b', { 'data-testid': 'trace-duration', text: fmtDur(total) }), ` · ${trace.spans.length} spans · ${services.length} services`,
      errors ? [' · ', h('span', { class: 'pill err', 'data-testid': 'trace-errors', text: `${errors} error${errors === 1 ? '' : 's'}` })] : '',
      ' · ', `${logs.length} log lines`, ' · ',
      h('a', { href: `/api/traces/${trace.traceID}`, target: '_blank', text: 'JSON' })),
    trace.truncated ? truncationNotice(trace) : '');
  $('#trace-legend').replaceChildren(...services.map((s) => h('span', {}, h('i', { style: `background:${color(s)}` }), s)));

  const pct = (us) => `${(100 * (us - start) / total).toFixed(3)}%`;
  const logsBySpan = new Map();
  const known = new Set(trace.spans.map((s) => s.spanID));
  for (const l of logs) {
    const key = known.has(l.span_id) ? l.span_id : '';
    if (!logsBySpan.has(key)) logsBySpan.set(key, []);
    logsBySpan.get(key).push(l);
  }
  const withLogs = $('#show-logs').checked;
  // A label beside a mark at `at` percent: to its right, or to its left near the right edge.
  const beside = (at, gap) => (at > 85 ? `right:calc(${100 - at}% + ${gap}px)` : `left:calc(${at}% + ${gap}px)`);
  const logRow = (l, depth) => h('div', { class: 'wf-log', 'data-testid': 'log-row' },
    h('div', { class: 'wf-name', style: `padding-left:${22 + depth * 14}px` }, h('span', { class: `sev-${l.severity}`, text: `${l.severity || 'LOG'} ` }), h('span', { text: l.body, title: l.body })),
    h('div', { class: 'wf-track' }, h('div', { class: 'wf-tick', style: `left:${pct(Math.min(Math.max(l.time, start), end))}` }),
      h('span', { class: 'wf-label', style: beside(100 * (Math.min(Math.max(l.time, start), end) - start) / total, 6), text: `+${fmtDur(l.time - start)}` })));
  const rows = [];
  for (const { span, depth } of order) {
    const err = isError(span);
    const left = 100 * (span.startTime - start) / total;
    const right = left + 100 * span.duration / total;
    // The duration goes after the bar, before it when the bar ends near the edge, or inside
    // it when the bar spans (nearly) the whole trace.
    const label = right <= 85 ? `left:calc(${right}% + 4px)`
      : left >= 15 ? `right:calc(${100 - left}% + 4px)` : `right:calc(${100 - right}% + 4px);color:#fff`;
    const row = h('div', {
      class: 'wf-row', 'data-testid': 'waterfall-row', 'data-span-id': span.spanID, 'data-service': service(span),
      onclick: () => selectSpan(span, row),
    },
    h('div', { class: 'wf-name', style: `padding-left:${8 + depth * 14}px`, title: `${service(span)} ${span.operationName}` },
      err ? h('span', { class: 'err-mark', title: 'failed', text: '✕ ' }) : null,
      h('span', { style: `color:${color(service(span))}`, text: `${service(span)} ` }), h('b', { text: span.operationName }),
      isLinked(span) ? h('span', { class: 'wf-link', 'data-testid': 'span-linked', title: 'linked to or from another trace (see its details)', text: ' ⇄' }) : null),
    h('div', { class: 'wf-track' },
      h('div', { class: `wf-bar${err ? ' err' : ''}`, 'data-testid': err ? 'error-bar' : null, title: err ? 'failed' : null, style: `left:${left}%;width:${Math.max(100 * span.duration / total, 0.2)}%;background-color:${color(service(span))}` }),
      h('span', { class: 'wf-label', style: label, text: fmtDur(span.duration) })));
    rows.push(row);
    if (withLogs) rows.push(...(logsBySpan.get(span.spanID) || []).map((l) => logRow(l, depth)));
  }
  if (withLogs && logsBySpan.has('')) rows.push(...logsBySpan.get('').map((l) => logRow(l, 0)));
  $('#waterfall').replaceChildren(...rows);
  const first = rows.find((r) => r.classList.contains('wf-row'));
  if (first) first.click();
}

function kvTable(entries) {
  if (!entries.length) return h('p', { class: 'muted', text: 'none' });
  return h('table', { class: 'kv' }, entries.map(([k, v]) => h('tr', {}, h('td', { text: k }), h('td', { class: 'mono', text: typeof v === 'object' ? JSON.stringify(v) : String(v) }))));
}

// A link to span `spanId` of trace `traceId`: the trace's name when it is stored, and the ids.
function linkRef(traceId, spanId) {
  const t = linkedTrace(traceId);
  return h('div', { class: 'link-ref' },
    h('a', { href: `/trace/${traceId}`, 'data-nav': '', 'data-testid': 'span-link', 'data-trace-id': traceId,
      text: t ? linkedName(t) : `linked trace${linkedTraces && !linkedTraces.truncated ? ' (not stored)' : ''}` }),
    h('div', { class: 'mono muted', text: `${traceId} / ${spanId}` }));
}

function selectSpan(span, row) {
  for (const r of document.querySelectorAll('.wf-row.selected')) r.classList.remove('selected');
  row.classList.add('selected');
  const { trace, logs } = currentTrace;
  const start = Math.min(...trace.spans.map((s) => s.startTime));
  const proc = trace.processes[span.processID] || { serviceName: '?', tags: [] };
  const parent = (span.references || []).find((r) => r.refType === 'CHILD_OF');
  const links = (span.references || []).filter((r) => r.refType !== 'CHILD_OF');
  const spanLogs = logs.filter((l) => l.span_id === span.spanID);
  const incoming = linksTo(trace.traceID, span.spanID);
  $('#span-details').replaceChildren(
    h('h3', { 'data-testid': 'span-title', text: span.operationName }),
    kvTable([
      ['service', proc.serviceName], ['span id', span.spanID], ['parent', parent ? parent.spanID : '(root)'],
      ['start', `+${fmtDur(span.startTime - start)}`], ['duration', fmtDur(span.duration)],
      ['status', isError(span) ? 'ERROR' : ((span.tags || []).find((t) => t.key === 'otel.status_code')?.value || 'UNSET')],
    ]),
    h('h4', { text: 'Attributes' }), h('div', { 'data-testid': 'span-attributes' }, kvTable((span.tags || []).map((t) => [t.key, t.value]))),
    h('h4', { text: `Events (${(span.logs || []).length})` }),
    h('div', { 'data-testid': 'span-events' }, (span.logs || []).map((ev) => {
      const name = ev.fields.find((f) => f.key === 'event');
      return h('div', {}, h('b', { text: `+${fmtDur(ev.timestamp - start)} ${name ? name.value : ''}` }),
        kvTable(ev.fields.filter((f) => f.key !== 'event').map((f) => [f.key, f.value])));
    })),
    h('h4', { text: `Links (${links.length})` }),
    h('div', { 'data-testid': 'span-links' }, links.map((l) => linkRef(l.traceID, l.spanID))),
    ...(incoming.length ? [h('h4', { text: `Linked from (${incoming.length})` }),
      h('div', { 'data-testid': 'span-linked-from' }, incoming.map(({ trace: t, link }) => linkRef(t.trace_id, link.from_span_id)))] : []),
    h('h4', { text: `Logs (${spanLogs.length})` }),
    h('div', { 'data-testid': 'span-logs' }, spanLogs.map((l) => h('div', { class: 'mono' },
      `+${fmtDur(l.time - start)} ${l.severity} `, h('span', { text: l.body }),
      Object.keys(l.attributes || {}).length ? kvTable(Object.entries(l.attributes)) : null))),
    h('h4', { text: 'Resource' }),
    h('div', { 'data-testid': 'span-resource' }, kvTable([['service.name', proc.serviceName], ...(proc.tags || []).map((t) => [t.key, t.value])])));
}

// ---------------------------------------------------------------- services

$('#svc-lookback').addEventListener('change', () => showServices());

async function showServices() {
  show('services');
  const lookback = $('#svc-lookback').value;
  const tbody = $('#services-table');
  let body;
  try {
    body = await api(`/api/console/services?lookback=${lookback}`);
  } catch (err) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'status error', text: err.message })));
    return;
  }
  const selected = new URLSearchParams(location.search).get('service');
  tbody.replaceChildren(...body.data.map(({ service, stats }) => h('tr', {
    class: 'clickable', 'data-testid': 'service-row', 'data-service': service, 'data-errors': stats.errors,
    onclick: () => navigate(`/services?service=${encodeURIComponent(service)}`),
  },
  h('td', {}, h('span', { class: 'pill' }, dot(service), service)),
  h('td', { class: 'num', text: stats.count }),
  h('td', { class: 'num', 'data-testid': 'rate-now', title: `per second over the last ${stats.step_s}s`, text: fmtRate(stats.current_rate_per_s ?? 0) }),
  h('td', { class: 'num', 'data-testid': 'rate-avg', text: fmtRate(stats.rate_per_s) }),
  h('td', { class: 'num', style: stats.errors ? 'color:var(--err)' : '', title: `${stats.errors} failed of ${stats.count}`, text: fmtPct(stats.error_ratio) }),
  h('td', { class: 'num', text: fmtMs(stats.p50_ms) }), h('td', { class: 'num', text: fmtMs(stats.p95_ms) }),
  h('td', { class: 'num', text: fmtMs(stats.p99_ms) }))));
  const detail = $('#service-detail');
  detail.replaceChildren();
  if (selected) await serviceDetail(selected, lookback, new URLSearchParams(location.search).get('operation'));
}

async function serviceDetail(service, lookback, operation) {
  const detail = $('#service-detail');
  const q = new URLSearchParams({ service, lookback });
  if (operation) q.set('operation', operation);
  const [series, ops] = await Promise.all([
    api(`/api/console/stats?${q}`),
    api(`/api/console/services/${encodeURIComponent(service)}/operations?lookback=${lookback}`),
  ]);
  const points = series.data;
  const title = operation ? `${service}: ${operation}` : `${service} (requests: entry spans)`;
  const step = points.length > 1 ? (points[1].time - points[0].time) / 1e6 : 0;
  detail.replaceChildren(
    h('h3', {}, title, ' ', h('a', { href: `/search?${new URLSearchParams({ service, ...(operation ? { operation } : {}), lookback })}`, 'data-nav': '', text: 'search traces →' })),
    lineChart(`Requests per second (over each ${step}s step)`, points, [['rate', (p) => p.stats.rate_per_s, 'var(--accent)']], (v) => `${fmtRate(v)}/s`),
    lineChart('Failed requests, share', points, [['errors', (p) => p.stats.error_ratio, 'var(--err)']], fmtPct),
    lineChart('Latency p50 / p95 / p99', points, [
      ['p50', (p) => p.stats.p50_ms, '#2e9d5b'], ['p95', (p) => p.stats.p95_ms, '#d69e2e'], ['p99', (p) => p.stats.p99_ms, '#d93b3b'],
    ], fmtMs),
    h('h3', { text: 'Operations' }),
    h('table', { class: 'stats' },
      h('thead', {}, h('tr', {}, ['Operation', 'Spans', 'Rate/s avg', 'Failed spans', 'p50', 'p95', 'p99'].map((t) => h('th', { text: t })))),
      h('tbody', { 'data-testid': 'operations-table' }, ops.data.map(({ operation: op, stats }) => h('tr', {
        class: 'clickable', 'data-testid': 'operation-row',
        onclick: () => navigate(`/services?${new URLSearchParams({ service, operation: op })}`),
      },
      h('td', { text: op }), h('td', { class: 'num', text: stats.count }), h('td', { class: 'num', text: fmtRate(stats.rate_per_s) }),
      h('td', { class: 'num', style: stats.errors ? 'color:var(--err)' : '', text: fmtPct(stats.error_ratio) }),
      h('td', { class: 'num', text: fmtMs(stats.p50_ms) }), h('td', { class: 'num', text: fmtMs(stats.p95_ms) }),
      h('td', { class: 'num', text: fmtMs(stats.p99_ms) }))))));
}

function lineChart(title, points, series, fmt) {
  const W = chartWidth($('#service-detail')) - 24, H = 180, L = 72, B = 30, T = 26, R = 8;
  const top = Math.max(0, ...points.flatMap((p) => series.map(([, f]) => f(p))));
  // Nothing to draw: a scale of 0..1 rather than one of nothing.
  const max = top > 0 ? ticks(top)[2] : 1;
  const x = (i) => L + (W - R - L) * (points.length < 2 ? 0.5 : i / (points.length - 1));
  const y = (v) => H - B - (H - B - T) * (v / max);
  const t0 = points.length ? points[0].time : 0;
  const t1 = points.length ? points[points.length - 1].time : 0;
  return h('div', { class: 'chart', 'data-testid': 'chart' },
    h('h4', {}, title, ' ', series.map(([name, , c]) => h('span', { style: `color:${c}`, text: ` ■ ${name}` })), ` (max ${fmt(top)})`),
    h('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H },
      axes({ W, H, L, B, T, max, fmt, t0, t1, yTitle: title.split(' (')[0], xTitle: 'time (each point: the step starting then)' }),
      series.map(([name, f, c]) => h('polyline', {
        fill: 'none', stroke: c, 'stroke-width': 2,
        points: points.map((p, i) => `${x(i)},${y(f(p))}`).join(' '),
      }, h('title', { text: name })))));
}

// ---------------------------------------------------------------- diagnosis

$('#diag-since').addEventListener('change', () => showDiagnosis());

async function showDiagnosis() {
  show('diagnose');
  const box = $('#diagnosis');
  let d;
  try {
    d = await api(`/api/diagnose?since=${$('#diag-since').value}`);
  } catch (err) {
    box.replaceChildren(h('p', { class: 'status error', text: err.message }));
    return;
  }
  const t = d.traces;
  const counts = h('p', { class: 'muted', text: `${t.window} traces in the window (${t.window_failing} failing), ${t.baseline} in the baseline (${t.baseline_failing} failing).` });
  if (!d.found) {
    return box.replaceChildren(counts, h('p', { 'data-testid': 'diag-none', text: 'Nothing stands out: no new failures, and nothing slower than before.' }));
  }
  const c = d.culprit;
  box.replaceChildren(counts,
    h('h3', { 'data-testid': 'diag-culprit' }, 'Likely culprit: ', dot(c.service), `${c.service} `, h('code', { text: c.operation }), ` (${c.signal})`),
    h('ol', { class: 'diag' }, d.candidates.map((k) => h('li', { 'data-testid': 'diag-candidate', 'data-service': k.service },
      h('div', { text: k.summary }),
      h('div', { class: 'muted' }, 'Examples: ', k.example_traces.map((id) => h('a', { href: `/trace/${id}`, 'data-nav': '', class: 'mono', text: `${id.slice(0, 12)} ` })))))));
}

// ---------------------------------------------------------------- service map

$('#map-lookback').addEventListener('change', () => showMap());

// The map's columns: each service's longest path from a service nobody calls, over calls and
// then messages. Messages often go both ways (a saga's reply), so an edge that would close a
// cycle is left out of the layout (it is still drawn). The walk starts at services nobody
// calls, those that call others first, so that a request's entry point sits leftmost.
function mapDepths(nodes, edges) {
  const names = nodes.map((n) => n.service);
  const out = new Map(names.map((s) => [s, []]));
  const calledBy = new Map(names.map((s) => [s, 0]));
  const calling = new Map(names.map((s) => [s, 0]));
  const ordered = [...edges.filter((e) => e.kind !== 'message'), ...edges.filter((e) => e.kind === 'message')];
  for (const e of ordered) {
    if (e.parent === e.child || !out.has(e.parent) || !out.has(e.child)) continue;
    out.get(e.parent).push(e);
    if (e.kind !== 'message') {
      calledBy.set(e.child, calledBy.get(e.child) + 1);
      calling.set(e.parent, calling.get(e.parent) + 1);
    }
  }
  const starts = [...names].sort((a, b) => calledBy.get(a) - calledBy.get(b) || calling.get(b) - calling.get(a));
  const state = new Map(); // 1: on the walk's path, 2: done
  const kept = [];
  const visit = (s) => {
    state.set(s, 1);
    for (const e of out.get(s)) {
      if (state.get(e.child) === 1) continue;
      kept.push(e);
      if (!state.has(e.child)) visit(e.child);
    }
    state.set(s, 2);
  };
  for (const s of starts) if (!state.has(s)) visit(s);
  const depth = new Map(names.map((s) => [s, 0]));
  for (let pass = 0; pass < names.length; pass++) {
    for (const e of kept) depth.set(e.child, Math.max(depth.get(e.child), depth.get(e.parent) + 1));
  }
  return depth;
}

async function showMap() {
  show('map');
  const box = $('#service-map');
  let body;
  try {
    body = await api(`/api/console/map?lookback=${$('#map-lookback').value}`);
  } catch (err) {
    box.replaceChildren(h('p', { class: 'status error', text: err.message }));
    return;
  }
  const { nodes, edges } = body;
  if (!nodes.length) return box.replaceChildren(h('p', { class: 'muted', text: 'No services yet.' }));
  const depth = mapDepths(nodes, edges);
  const layers = [];
  for (const n of nodes) (layers[depth.get(n.service)] ||= []).push(n);
  const W = 1000, colW = W / Math.max(layers.length, 1);
  const H = Math.max(300, 110 * Math.max(...layers.map((l) => (l ? l.length : 0))));
  const pos = new Map();
  layers.forEach((layer, i) => (layer || []).forEach((n, j) => pos.set(n.service, { x: colW * (i + 0.5), y: (H / layer.length) * (j + 0.5) })));
  // Nodes are rounded boxes wide enough for a service name; edges end at their borders.
  const HW = 78, HH = 22;
  const toBorder = (ux, uy) => Math.min(ux ? HW / Math.abs(ux) : Infinity, uy ? HH / Math.abs(uy) : Infinity);
  // Labels go on top of every line, each on a backing box, moved down from any label it
  // would overlap (a call and a message between the same services, crossing edges).
  const placed = [];
  const labelEls = [];
  const placeLabel = (text, lx, ly, e) => {
    const w = text.length * 6.2 + 10, hgt = 16;
    let y = ly;
    for (let tries = 0; tries < 8 && placed.some((b) => Math.abs(b.x - lx) < (b.w + w) / 2 && Math.abs(b.y - y) < hgt); tries++) y += hgt + 2;
    placed.push({ x: lx, y, w });
    labelEls.push(h('g', { class: 'edge-label-box', 'data-testid': 'map-edge-label', 'data-parent': e.parent, 'data-child': e.child },
      h('rect', { x: lx - w / 2, y: y - 12, width: w, height: hgt, rx: 3 }),
      h('text', { class: `edge-label${e.errors ? ' err' : ''}`, x: lx, y, text })));
  };
  const edgeEls = edges.map((e) => {
    const a = pos.get(e.parent), b = pos.get(e.child);
    if (!a || !b) return null;
    const message = e.kind === 'message';
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
    const ux = dx / len, uy = dy / len, r = toBorder(ux, uy);
    const x1 = a.x + ux * r, y1 = a.y + uy * r, x2 = b.x - ux * (r + 6), y2 = b.y - uy * (r + 6);
    // Messages bend to their left: the two directions of a request/reply pair (a saga) and a
    // call along the same pair of services each keep a line of their own.
    const bend = message ? 40 : 0;
    const cx = (x1 + x2) / 2 + uy * bend, cy = (y1 + y2) / 2 - ux * bend;
    const label = `${e.calls} ${message ? 'message' : 'call'}${e.calls === 1 ? '' : 's'}`;
    // A quadratic curve passes halfway to its control point: the label sits on the curve's
    // middle, over its line.
    placeLabel(`${label} · ${fmtPct(e.error_ratio)} failed`, (x1 + x2) / 2 + (uy * bend) / 2, (y1 + y2) / 2 - (ux * bend) / 2 + 4, e);
    return h('g', { 'data-testid': 'map-edge', 'data-parent': e.parent, 'data-child': e.child, 'data-kind': e.kind || 'call' },
      h('path', { class: `edge${message ? ' message' : ''}${e.errors ? ' err' : ''}`, d: `M${x1},${y1} Q${cx},${cy} ${x2},${y2}`, 'stroke-width': 1.5 + Math.min(4, Math.log10(e.calls + 1)), 'marker-end': `url(#arrow${e.errors ? '-err' : ''})` }));
  });
  const nodeEls = nodes.map((n) => {
    const p = pos.get(n.service);
    return h('g', {
      class: `node${n.stats.errors ? ' err' : ''}`, 'data-testid': 'map-node', 'data-service': n.service, 'data-errors': n.stats.errors,
      transform: `translate(${p.x},${p.y})`, style: 'cursor:pointer',
      onclick: () => navigate(`/services?service=${encodeURIComponent(n.service)}`),
    },
    h('rect', { x: -HW, y: -HH, width: 2 * HW, height: 2 * HH, rx: 10 }),
    h('text', { y: 5, 'font-weight': 600, text: n.service }),
    h('text', { class: 'node-stats', y: HH + 16, text: `${fmtRate(n.stats.current_rate_per_s ?? 0)}/s now · ${fmtRate(n.stats.rate_per_s)}/s avg` }),
    h('text', { class: 'node-stats', y: HH + 30, text: `${fmtPct(n.stats.error_ratio)} failed · p95 ${fmtMs(n.stats.p95_ms)}` }));
  });
  const marker = (id, fill) => h('marker', { id, viewBox: '0 0 10 10', refX: 5, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' },
    h('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill }));
  box.replaceChildren(h('svg', { viewBox: `0 0 ${W} ${H + 30}` },
    h('defs', {}, marker('arrow', '#9aa4b8'), marker('arrow-err', '#d93b3b')), edgeEls, nodeEls, labelEls));
}

route();
