// gantry dashboard: what every page shares (the API, elements, formats,
// charts, downloads). Plain ES modules, no build step; see README.md here.
'use strict';

export const view = document.getElementById('view');
// The form's dataset choices; 'table' is the CTGAN-class model on an uploaded CSV.
export const KINDS = ['sine', 'circle', 'ring8', 'grid25', 'two_moons', 'spiral', 'swiss_roll', 'user', 'table'];
export const KIND_LABELS = { user: 'user (points file)', table: 'table (CSV upload)' };
// Type overrides of a table job (TableSource's repeated fields).
export const OVERRIDES = ['categorical', 'integer', 'continuous', 'datetime', 'boolean'];
// Exposed for tests and measurements: when each epoch's point was drawn.
window.gantryStats = { epochs: [] };


// ---- API ----------------------------------------------------------------

// Who is signed in (GET /v1/server's principal and role; both '' on a
// server without credentials, where everyone may do everything).
let callerPromise = null;
export function caller() {
  if (!callerPromise) {
    callerPromise = api('/v1/server')
      .then((info) => ({ principal: info.principal || '', role: info.role || '' }))
      .catch(() => ({ principal: '', role: '' }));
  }
  return callerPromise;
}
// Why `who` may not cancel or delete `job` (the server's rule, shown
// before the server refuses), or '' when it may.
export function mayNotChange(who, job) {
  if (!who.role || who.role === 'admin') return '';
  if (who.role === 'viewer') return 'viewers only read';
  return job.owner === who.principal ? '' : `members act on their own jobs only (this one is ${job.owner || 'nobody'}'s)`;
}

// The JSON body of `path`, or an Error with the server's message. With
// options.withResponse: { body, etag, status }.
export async function api(path, options = {}) {
  const { withResponse, ...init } = options;
  const res = await fetch(path, { credentials: 'same-origin', ...init });
  if (res.status === 401) { location.href = '/login'; throw new Error('sign in first'); }
  const text = await res.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    // Not JSON (e.g. a proxy's page, or 413 for a body over --max-message-bytes).
    throw new Error(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  }
  if (!res.ok) {
    const err = new Error(body.error ? body.error.message : `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return withResponse ? { body, etag: res.headers.get('ETag') || '', status: res.status } : body;
}

export const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
export const stateName = (s) => (s || 'JOB_STATE_UNSPECIFIED').replace('JOB_STATE_', '');
export const kindName = (k) => (k || 'DATASET_KIND_SINE').replace('DATASET_KIND_', '').toLowerCase();
export const isTable = (spec) => Boolean(spec && spec.dataset && spec.dataset.kind === 'DATASET_KIND_TABLE');
export const typeName = (t) => (t || 'COLUMN_TYPE_UNSPECIFIED').replace('COLUMN_TYPE_', '').toLowerCase();
export const ended = (s) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(s);
export const fmt = (v, digits = 4) => (v === undefined || v === null || Number.isNaN(Number(v)) ? '–' : Number(v).toFixed(digits));

export function age(ts) {
  if (!ts) return '–';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

export function stateBadge(state) { return el('span', { class: `state ${state}`, 'data-state': state }, state); }

export function progress(done, total) {
  const pct = total ? Math.min(100, (100 * done) / total) : 0;
  const bar = el('div', { class: 'progress', title: `${done}/${total}` }, el('div'));
  bar.firstChild.style.width = `${pct}%`;
  return bar;
}

// ---- Charts and downloads ---------------------------------------------------

export const COLORS = { d: '#3358d4', g: '#e8590c', q: '#0c8a5f', real: 'rgba(120,130,150,0.35)', fake: '#d6336c' };

export function lossChart(canvas) {
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: [
      { label: 'loss D (mean)', data: [], borderColor: COLORS.d, backgroundColor: COLORS.d, yAxisID: 'loss' },
      { label: 'loss G (mean)', data: [], borderColor: COLORS.g, backgroundColor: COLORS.g, yAxisID: 'loss' },
      { label: 'quality (SW1, lower is better)', data: [], borderColor: COLORS.q, backgroundColor: COLORS.q,
        yAxisID: 'quality', borderDash: [5, 3] },
    ] },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      elements: { point: { radius: 0 }, line: { borderWidth: 2 } },
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'epoch' } },
        loss: { type: 'linear', position: 'left', title: { display: true, text: 'loss' } },
        quality: { type: 'linear', position: 'right', grid: { drawOnChartArea: false },
          title: { display: true, text: 'quality' } },
      },
    },
  });
}

export function scatterChart(canvas) {
  return new Chart(canvas, {
    type: 'scatter',
    data: { datasets: [
      { label: 'real data', data: [], backgroundColor: COLORS.real, pointRadius: 2 },
      { label: 'generated (latest epoch)', data: [], backgroundColor: COLORS.fake, pointRadius: 3 },
    ] },
    // Default parsing: with parsing: false Chart.js takes the data as sorted
    // by x and would clip the axis to the first and last points.
    options: { animation: false, maintainAspectRatio: false,
      scales: { x: { type: 'linear' }, y: { type: 'linear' } } },
  });
}

export function toXY(points, ax, ay) {
  const dim = Math.max(1, num(points && points.dim));
  const v = (points && points.values) || [];
  const out = [];
  for (let i = 0; i + dim <= v.length; i += dim) {
    out.push({ x: Number(v[i + ax]), y: dim > 1 ? Number(v[i + ay]) : 0 });
  }
  return out;
}

// Draws a vertical line per marked epoch (the best, the one shown) on a line chart.
export const epochMarkers = {
  id: 'epochMarkers',
  afterDatasetsDraw(chart, _args, opts) {
    const { ctx, chartArea: a, scales: { x } } = chart;
    (opts.lines || []).forEach((m, row) => {
      const px = x.getPixelForValue(m.x);
      if (!Number.isFinite(px) || px < a.left - 1 || px > a.right + 1) return;
      ctx.save();
      ctx.strokeStyle = m.color;
      ctx.fillStyle = m.color;
      ctx.lineWidth = 1.5;
      ctx.setLineDash(m.dash || []);
      ctx.beginPath();
      ctx.moveTo(px, a.top);
      ctx.lineTo(px, a.bottom);
      ctx.stroke();
      ctx.font = '600 11px system-ui, sans-serif';
      const right = px > a.right - 90;
      ctx.textAlign = right ? 'right' : 'left';
      ctx.fillText(m.label, px + (right ? -4 : 4), a.top + 11 + 13 * row);
      ctx.restore();
    });
  },
};

export async function download(url, accept, fallbackName) {
  const res = await fetch(url, { credentials: 'same-origin', headers: accept ? { Accept: accept } : {} });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  }
  const blob = await res.blob();
  const m = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
  const a = el('a', { href: URL.createObjectURL(blob), download: m ? m[1] : fallbackName });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}



// A table job's two views: its training (the job page) and its report.
export function jobTabs(id, active) {
  const href = `#/jobs/${encodeURIComponent(id)}`;
  const tab = (key, label, to, linkId) => el('a', { href: to, id: linkId, class: key === active ? 'tab active' : 'tab',
    'aria-current': key === active ? 'page' : null }, label);
  return el('nav', { class: 'tabs', 'aria-label': 'job views' },
    tab('training', 'Training', href, 'training-link'), tab('report', 'Report', `${href}/report`, 'report-link'));
}


export const has = (o, k) => Boolean(o) && o[k] !== undefined && o[k] !== null;
export const pct = (v, digits = 1) => (v === undefined || v === null || !Number.isFinite(Number(v)) ? '–'
  : `${(100 * Number(v)).toFixed(digits)}%`);
export const scoreLevel = (v) => (v >= 0.8 ? 'ok' : v >= 0.6 ? 'warn' : 'bad');
// Finite or null: proto JSON writes NaN as "NaN", unset optionals are absent.
export const finite = (v) => (v === undefined || v === null || !Number.isFinite(Number(v)) ? null : Number(v));

// ---- Metrics, alarms, specs ---------------------------------------------------

// proto field names (select_by's values) to the JSON API's lowerCamelCase.
export const camel = (s) => String(s || '').replace(/_([a-z0-9])/g, (_m, c) => c.toUpperCase());
// The held-out metrics of a point job and of a table job, as select_by names them.
export const POINT_METRICS = ['sliced_w1', 'mmd', 'precision', 'recall', 'density', 'coverage'];
export const TABLE_METRICS = ['quality', 'column_shapes', 'column_pairs', 'column_distance', 'dcr_share', 'utility'];
const LOWER_IS_BETTER = new Set(['sliced_w1', 'mmd', 'column_distance', 'dcr_share']);
export const lowerIsBetter = (metric) => LOWER_IS_BETTER.has(metric);
// The job's select_by (the server's default when the spec leaves it out).
export const selectBy = (spec) => (spec && spec.selectBy) || (isTable(spec) ? 'quality' : 'sliced_w1');
// The job's best value of its select_by metric, or null before an evaluation.
export function bestValue(job) {
  if (!num(job.bestEpoch) || !job.bestMetrics) return null;
  return finite(job.bestMetrics[camel(selectBy(job.spec))]);
}
// Orders jobs best first by their own select_by (jobs without a value last).
export function byBest(a, b) {
  const va = bestValue(a);
  const vb = bestValue(b);
  if (va === null || vb === null) return (va === null) - (vb === null);
  return lowerIsBetter(selectBy(a.spec)) ? va - vb : vb - va;
}
export const fmtMetric = (v) => {
  const x = finite(v);
  if (x === null) return '–';
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : x.toFixed(4);
};

// A badge for a job's alarms (Alarm: kind, epoch, message), its messages as the title; null when none.
export function alarmBadge(alarms) {
  const list = alarms || [];
  if (!list.length) return null;
  const kinds = [...new Set(list.map((a) => a.kind || 'alarm'))];
  return el('span', { class: 'alarm', 'data-alarms': list.length, role: 'img',
    'aria-label': `alarms: ${kinds.join(', ')}`,
    title: list.map((a) => `epoch ${num(a.epoch)}: ${a.kind}: ${a.message}`).join('\n') },
  `⚠ ${kinds.join(', ')}`);
}

// A spec flattened to [key, value] pairs (proto field names, dotted), a user
// data set's points summarised, never dumped.
export function flattenSpec(spec, prefix = '', out = []) {
  for (const [k, v] of Object.entries(spec || {})) {
    const key = prefix + k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (k === 'points' && v && typeof v === 'object') {
      const dim = num(v.dim);
      const rows = dim ? (v.values || []).length / dim : 0;
      out.push([key, `${rows} points of dimension ${dim}`]);
    } else if (k === 'sizes' && Array.isArray(v)) {
      out.push([prefix.replace(/\.$/, ''), v.join(', ')]);
    } else if (Array.isArray(v)) {
      out.push([key, v.join(', ')]);
    } else if (v && typeof v === 'object') {
      flattenSpec(v, `${key}.`, out);
    } else {
      let s = String(v);
      if (k === 'kind') s = kindName(v);
      out.push([key, s]);
    }
  }
  return out;
}

// A duration in seconds as "1h 2m", "3m 4s", "5.2s".
export function duration(s) {
  if (!Number.isFinite(s) || s < 0) return '–';
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
}
export const when = (ts) => (ts ? new Date(ts).toLocaleString() : '–');

// Sets a scatter chart's axes so that one unit spans as many pixels on x as
// on y (equal aspect), around every dataset's points.
// `points` (optional) sets the span instead (e.g. shared by several charts).
// Two passes: the first pass's tick labels change the axes' width and so the
// chart area; the second pass fits the area as it settled.
export function equalAspect(chart, points = null, pad = 0.05) {
  aspectPass(chart, points, pad);
  aspectPass(chart, points, pad);  // the second pass: the ticks' width settled
}
function aspectPass(chart, points, pad) {
  let x0 = Infinity; let x1 = -Infinity; let y0 = Infinity; let y1 = -Infinity;
  for (const list of points ? [points] : chart.data.datasets.map((ds) => ds.data)) {
    for (const p of list) {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
      x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y);
    }
  }
  const sx = chart.options.scales.x;
  const sy = chart.options.scales.y;
  if (!Number.isFinite(x0)) { delete sx.min; delete sx.max; delete sy.min; delete sy.max; chart.update('none'); return; }
  const a = chart.chartArea;
  const w = a ? Math.max(1, a.right - a.left) : 1;
  const h = a ? Math.max(1, a.bottom - a.top) : 1;
  let dx = Math.max(x1 - x0, 1e-9) * (1 + 2 * pad);
  let dy = Math.max(y1 - y0, 1e-9) * (1 + 2 * pad);
  // units per pixel: the larger one wins on both axes.
  const upp = Math.max(dx / w, dy / h);
  dx = upp * w; dy = upp * h;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  Object.assign(sx, { min: cx - dx / 2, max: cx + dx / 2 });
  Object.assign(sy, { min: cy - dy / 2, max: cy + dy / 2 });
  // The axes' ends are where the aspect put them, not round numbers: no labels there.
  for (const sc of [sx, sy]) {
    sc.ticks = { ...(sc.ticks || {}), callback: (v, i, ticks) => (i === 0 || i === ticks.length - 1 ? '' : Number(v.toPrecision(6))) };
  }
  chart.update('none');
  chart.canvas.parentNode.dataset.aspect = (((sx.max - sx.min) / w) / ((sy.max - sy.min) / h)).toFixed(3);
}
// Distinct colours for the jobs of a comparison.
export const PALETTE = ['#3358d4', '#e8590c', '#0c8a5f', '#d6336c', '#7048e8', '#1098ad', '#f08c00', '#5c940d',
  '#c2255c', '#495057'];
