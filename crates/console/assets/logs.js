// The Logs page: every service's log records from /api/console/logs, newest first, filtered by
// service, level, time, text, attribute and trace id; each line opens its trace. Live tail
// asks every two seconds for the records stored since (the answer's `cursor`, as `after`).
// Loaded before app.js, whose helpers (h, api, show, navigate, fmtTime) it uses when called.
'use strict';

const LOG_FILTERS = ['service', 'level', 'q', 'attr', 'traceID', 'lookback', 'limit'];
const TAIL_EVERY_MS = 2000;
let logsTail = { timer: null, cursor: null, query: null };

function stopTail() {
  clearTimeout(logsTail.timer);
  logsTail.timer = null;
}

// One record as a table row; the row opens its trace when it has one.
function logRowEl(l) {
  const trace = l.trace_id || '';
  const attrs = Object.entries(l.attributes || {}).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
  return h('tr', {
    'data-testid': 'logs-row', 'data-trace-id': trace, 'data-service': l.service,
    class: trace ? 'clickable' : null, title: trace ? 'open its trace' : null,
    onclick: trace ? (e) => { if (!e.target.closest('a')) navigate(`/trace/${trace}`); } : null,
  },
  h('td', { class: 'mono', text: fmtTime(l.time) }),
  h('td', { class: `sev sev-${l.severity}`, text: l.severity || '' }),
  h('td', {}, dot(l.service), l.service),
  h('td', { class: 'msg' }, h('span', { text: l.body }), attrs ? h('div', { class: 'mono muted', text: attrs }) : null),
  h('td', {}, trace ? h('a', { href: `/trace/${trace}`, 'data-nav': '', class: 'mono', text: trace.slice(0, 12) }) : ''));
}

function logsStatus(text, isError) {
  const el = $('#logs-status');
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

async function loadLogServices(selected) {
  const sel = $('#l-service');
  if (sel.options.length === 1) {
    const body = await api('/api/services');
    for (const s of body.data || []) sel.append(h('option', { value: s, text: s }));
  }
  sel.value = selected || '';
}

async function showLogs() {
  show('logs');
  stopTail();
  const params = new URLSearchParams(location.search);
  const form = $('#logs-form');
  try {
    await loadLogServices(params.get('service'));
  } catch (err) {
    logsStatus(err.message, true);
  }
  for (const name of LOG_FILTERS) if (name !== 'service' && params.has(name)) form.elements[name].value = params.get(name);
  $('#l-tail').checked = params.get('tail') === '1';
  const q = new URLSearchParams();
  for (const name of LOG_FILTERS) if (params.get(name)) q.set(name, params.get(name));
  if (!q.has('lookback')) q.set('lookback', '1h');
  if (!q.has('limit')) q.set('limit', '200');
  logsStatus('Searching…');
  let body;
  try {
    body = await api(`/api/console/logs?${q}`);
  } catch (err) {
    logsStatus(err.message, true);
    $('#logs-table').replaceChildren();
    return;
  }
  const logs = body.data || [];
  $('#logs-table').replaceChildren(...logs.map(logRowEl));
  logsStatus(`${logs.length} log line${logs.length === 1 ? '' : 's'}, newest first`
    + (logs.length ? ' — click one to open its trace' : ''));
  logsTail = { timer: null, cursor: body.cursor, query: q };
  if ($('#l-tail').checked) scheduleTail();
}

function scheduleTail() {
  stopTail();
  logsTail.timer = setTimeout(tailOnce, TAIL_EVERY_MS);
}

// New records go on top; the table keeps at most `limit` rows.
async function tailOnce() {
  if ($('#view-logs').hidden || !$('#l-tail').checked) return stopTail();
  const q = new URLSearchParams(logsTail.query);
  if (logsTail.cursor !== null && logsTail.cursor !== undefined) q.set('after', logsTail.cursor);
  try {
    const body = await api(`/api/console/logs?${q}`);
    const fresh = body.data || [];
    if (fresh.length) {
      const table = $('#logs-table');
      table.prepend(...fresh.map(logRowEl));
      const limit = Number(q.get('limit')) || 200;
      while (table.rows.length > limit) table.lastElementChild.remove();
      logsStatus(`${table.rows.length} log lines, newest first — tailing (${fresh.length} new)`);
    }
    if (body.cursor !== null && body.cursor !== undefined) logsTail.cursor = body.cursor;
  } catch (err) {
    logsStatus(`tail: ${err.message}`, true);
  }
  scheduleTail();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#logs-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(e.target).entries()) if (v !== '') params.set(k, v);
    if ($('#l-tail').checked) params.set('tail', '1');
    navigate(`/logs?${params}`);
  });
  $('#l-tail').addEventListener('change', (e) => {
    const url = new URL(location.href);
    if (e.target.checked) url.searchParams.set('tail', '1'); else url.searchParams.delete('tail');
    history.replaceState(null, '', url);
    if (e.target.checked) scheduleTail(); else stopTail();
  });
});
