// tracemart console: the "Processes" page. Under `tracemart up`, each child (the services and
// this console) with its state, pid, uptime, restarts, ports and last log lines, and buttons
// to stop, start and restart it. Actions need the operator's token (`tracemart token admin`):
// typed here and kept in this browser, or the cookie of the `?token=` link printed at start.
// Uses app.js's helpers (h, $, api).
'use strict';

const PROC_TOKEN_KEY = 'tracemart.operatorToken';
const PROC_REFRESH_MS = 2000;
const PROC_LOG_LINES = 8;
let procTimer = null;

function procUptime(ms) {
  if (!ms) return '-';
  const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

// A JSON log line as "time level message"; any other line as it is.
function procLogLine(line) {
  try {
    const r = JSON.parse(line);
    if (r && r.message !== undefined) return `${r.timestamp || ''} ${r.level || ''} ${r.message}`;
  } catch (_) { /* not JSON */ }
  return line;
}

function procStatus(text, isError) {
  const el = $('#proc-status');
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

async function procAction(name, action) {
  const token = $('#proc-token').value.trim();
  localStorage.setItem(PROC_TOKEN_KEY, token);
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  procStatus(`${action} ${name}...`);
  for (const b of document.querySelectorAll('#proc-table button')) b.disabled = true;
  try {
    // This console cannot wait for its own stop (it holds the request): asked without waiting.
    const own = name === 'console';
    const res = await fetch(`/api/processes/${encodeURIComponent(name)}/${action}${own ? '?wait=false' : ''}`, { method: 'POST', headers });
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const msg = body && body.errors && body.errors[0] ? body.errors[0].msg : res.statusText;
      throw new Error(`${res.status}: ${msg}`);
    }
    procStatus(own ? `console: ${action} asked; this page reconnects when it is back`
      : `${name}: ${body.state}${body.pid ? `, pid ${body.pid}` : ''}`);
  } catch (e) {
    procStatus(`${action} ${name} failed: ${e.message}`, true);
  }
  await loadProcesses();
}

function procRow(p) {
  const button = (action, enabled) => h('button', {
    'data-testid': `proc-${action}-${p.name}`, disabled: !enabled,
    onclick: () => procAction(p.name, action), text: action[0].toUpperCase() + action.slice(1),
  });
  const running = p.state !== 'stopped';
  return [
    h('tr', { 'data-testid': `proc-row-${p.name}`, 'data-state': p.state },
      h('td', {}, h('b', { text: p.name })),
      h('td', {}, h('span', { class: `proc-state proc-${p.state}`, 'data-testid': `proc-state-${p.name}`, text: p.state })),
      h('td', { class: 'num', 'data-testid': `proc-pid-${p.name}`, text: p.pid || '-' }),
      h('td', { class: 'num', text: procUptime(p.started_at_ms) }),
      h('td', { class: 'num', 'data-testid': `proc-restarts-${p.name}`, text: p.restarts }),
      h('td', { class: 'mono', text: p.ports.join(', ') }),
      h('td', { class: 'muted', text: p.state === 'ready' ? 'ready' : (p.last_exit || '') }),
      h('td', { class: 'proc-actions' }, button('stop', running), button('start', !running), button('restart', true))),
    h('tr', { class: 'proc-log-row' },
      h('td', { colspan: 8 }, h('pre', { class: 'proc-log', 'data-testid': `proc-log-${p.name}`,
        text: p.log.length ? p.log.map(procLogLine).join('\n') : '(no log lines)' }))),
  ];
}

async function loadProcesses() {
  try {
    const body = await api(`/api/processes?lines=${PROC_LOG_LINES}`);
    $('#proc-table').replaceChildren(...body.processes.flatMap(procRow));
  } catch (e) {
    $('#proc-table').replaceChildren();
    procStatus(e.message, true);
  }
}

async function showProcesses() {
  show('processes');
  const input = $('#proc-token');
  if (!input.value) input.value = localStorage.getItem(PROC_TOKEN_KEY) || '';
  await loadProcesses();
  // Refreshed while the page is on screen; another page stops it.
  clearInterval(procTimer);
  procTimer = setInterval(() => {
    if ($('#view-processes').hidden) clearInterval(procTimer);
    else loadProcesses();
  }, PROC_REFRESH_MS);
}
