// tracemart console: the trace page's "Linked traces" section. An asynchronous hop (a message
// consumed from a queue) starts a new trace whose consumer span links to the producer's span,
// so one piece of work is several traces: here they are a row each, in start order, on one
// shared time axis. Uses app.js's helpers (h, color, dot, fmtDur, navigate).
'use strict';

// The answer of /api/console/traces/{id}/related for the trace on screen (null if none).
let linkedTraces = null;

// The related trace `id`, if it is stored and connected to the trace on screen.
function linkedTrace(id) {
  return (linkedTraces ? linkedTraces.traces : []).find((t) => t.trace_id === id) || null;
}

// "service: operation" of a related trace.
const linkedName = (t) => `${t.root_service}: ${t.root_operation}`;

// Links made by other traces' spans to span `spanId` of trace `traceId`: [{trace, link}].
function linksTo(traceId, spanId) {
  return (linkedTraces ? linkedTraces.traces : []).flatMap((t) => t.links
    .filter((l) => l.to_trace_id === traceId && l.to_span_id === spanId)
    .map((link) => ({ trace: t, link })));
}

function renderLinked(related) {
  linkedTraces = related;
  const box = $('#linked-traces');
  const traces = related ? related.traces : [];
  box.hidden = traces.length < 2;
  if (box.hidden) return box.replaceChildren();
  const start = Math.min(...traces.map((t) => t.start_us));
  const end = Math.max(...traces.map((t) => t.start_us + t.duration_us));
  const total = Math.max(end - start, 1);
  const number = new Map(traces.map((t, i) => [t.trace_id, i + 1]));
  const rows = traces.map((t, i) => {
    const left = 100 * (t.start_us - start) / total;
    const right = left + 100 * t.duration_us / total;
    // As in the waterfall: the label after the bar, before it near the right edge, inside it
    // when the bar fills (nearly) the whole axis.
    const label = right <= 80 ? `left:calc(${right}% + 4px)`
      : left >= 20 ? `right:calc(${100 - left}% + 4px)` : `right:calc(${100 - right}% + 4px);color:#fff`;
    // Which rows this trace's spans link to ("#1"), or that the linked trace is not stored.
    const targets = [...new Set(t.links.map((l) => l.to_trace_id))].filter((id) => id !== t.trace_id);
    const follows = targets.map((id) => (number.has(id) ? `#${number.get(id)}` : 'a trace not stored'));
    return h('div', {
      class: `lk-row${t.current ? ' current' : ''}`, 'data-testid': 'linked-trace', 'data-trace-id': t.trace_id,
      'data-current': t.current ? 'true' : null, title: `${linkedName(t)} — ${t.trace_id}`,
      onclick: (e) => { if (!t.current && !e.target.closest('a')) navigate(`/trace/${t.trace_id}`); },
    },
    h('div', { class: 'lk-name' },
      h('span', { class: 'lk-num', text: `#${i + 1}` }), dot(t.root_service),
      t.current ? h('b', { text: linkedName(t) })
        : h('a', { href: `/trace/${t.trace_id}`, 'data-nav': '', text: linkedName(t) }),
      follows.length ? h('span', { class: 'muted', text: ` ← ${follows.join(', ')}` }) : null,
      t.error ? h('span', { class: 'pill err', 'data-testid': 'linked-error', text: ` ${t.error_count} err` }) : null),
    h('div', { class: 'wf-track' },
      h('div', { class: `wf-bar${t.error ? ' err' : ''}`, style: `left:${left}%;width:${Math.max(100 * t.duration_us / total, 0.3)}%;background:${color(t.root_service)}` }),
      h('span', { class: 'wf-label', style: label, text: `+${fmtDur(t.start_us - start)} · ${fmtDur(t.duration_us)}` })));
  });
  const more = related.truncated ? ` (the first ${traces.length}: more are connected)` : '';
  box.replaceChildren(
    h('div', { class: 'lk-head' }, h('b', { text: 'Linked traces' }),
      h('span', { class: 'muted', text: ` · ${traces.length} traces connected by span links${more}, on one time axis; ← names the trace a hop follows` })),
    ...rows);
}
