// gantry dashboard: a job list, a job page with live charts (Chart.js) fed
// by Server-Sent Events, and a form that submits jobs (point data sets, or a
// table uploaded as CSV). A table job's page shows its columns and samples
// rows with conditions. Talks only to gantryd's JSON API (/v1/...), with the
// session cookie when a token is set.
'use strict';

const view = document.getElementById('view');
// The form's dataset choices; 'table' is the CTGAN-class model on an uploaded CSV.
const KINDS = ['sine', 'circle', 'ring8', 'grid25', 'two_moons', 'spiral', 'swiss_roll', 'user', 'table'];
const KIND_LABELS = { user: 'user (points file)', table: 'table (CSV upload)' };
// Type overrides of a table job (TableSource's repeated fields).
const OVERRIDES = ['categorical', 'integer', 'continuous', 'datetime', 'boolean'];
// Exposed for tests and measurements: when each epoch's point was drawn.
window.gantryStats = { epochs: [] };


// ---- API ----------------------------------------------------------------

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...options });
  if (res.status === 401) { location.href = '/login'; throw new Error('sign in first'); }
  const text = await res.text();
  let body = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    // Not JSON (e.g. a proxy's page, or 413 for a body over --max-message-bytes).
    throw new Error(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  }
  if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  return body;
}

const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
const stateName = (s) => (s || 'JOB_STATE_UNSPECIFIED').replace('JOB_STATE_', '');
const kindName = (k) => (k || 'DATASET_KIND_SINE').replace('DATASET_KIND_', '').toLowerCase();
const isTable = (spec) => Boolean(spec && spec.dataset && spec.dataset.kind === 'DATASET_KIND_TABLE');
const typeName = (t) => (t || 'COLUMN_TYPE_UNSPECIFIED').replace('COLUMN_TYPE_', '').toLowerCase();
const ended = (s) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(s);
const fmt = (v, digits = 4) => (v === undefined || v === null || Number.isNaN(Number(v)) ? '–' : Number(v).toFixed(digits));

function age(ts) {
  if (!ts) return '–';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function stateBadge(state) { return el('span', { class: `state ${state}`, 'data-state': state }, state); }

function progress(done, total) {
  const pct = total ? Math.min(100, (100 * done) / total) : 0;
  const bar = el('div', { class: 'progress', title: `${done}/${total}` }, el('div'));
  bar.firstChild.style.width = `${pct}%`;
  return bar;
}

// ---- Job list -------------------------------------------------------------

// The list's quality: a point job's latest sliced W1 (lower is better); a
// table job's best epoch's quality score (higher is better) once evaluated.
function qualityCell(job, done) {
  const best = job.bestMetrics || {};
  if (isTable(job.spec) && num(job.bestEpoch) && has(best, 'quality')) {
    return el('td', { class: 'num hide-sm', 'data-quality': num(best.quality),
      title: `quality score of the best epoch (${job.bestEpoch}), higher is better` }, pct(best.quality));
  }
  return el('td', { class: 'num hide-sm' }, done ? fmt((job.latest || {}).quality) : '–');
}

function renderList() {
  const body = el('tbody');
  const note = el('p', { class: 'empty' }, 'Loading…');
  const table = el('div', { class: 'table-wrap' }, el('table', { id: 'jobs' },
    el('thead', {}, el('tr', {},
      el('th', {}, 'Job'), el('th', { class: 'hide-sm' }, 'Dataset'), el('th', {}, 'State'),
      el('th', {}, 'Epoch'), el('th', { class: 'num' }, 'Loss D'), el('th', { class: 'num' }, 'Loss G'),
      el('th', { class: 'num hide-sm' }, 'Quality'), el('th', { class: 'hide-sm' }, 'Age'))),
    body));
  view.replaceChildren(el('section', { class: 'card' }, el('h1', {}, 'Jobs'), table, note));

  let stopped = false;
  async function refresh() {
    try {
      const jobs = [];
      let token = '';
      do {
        const page = await api(`/v1/jobs?view=summary&page_size=1000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
        jobs.push(...(page.jobs || []));
        token = page.nextPageToken;
      } while (token);
      if (stopped) return;
      note.textContent = jobs.length ? '' : 'No jobs yet. Submit one with “New job”.';
      body.replaceChildren(...jobs.map((job) => {
        const st = stateName(job.state);
        const latest = job.latest || {};
        const total = num(job.spec && job.spec.epochs);
        const done = num(job.epochsDone);
        const row = el('tr', { 'data-job': job.id, onclick: () => { location.hash = `#/jobs/${job.id}`; } },
          el('td', {}, el('a', { href: `#/jobs/${job.id}` }, job.name || job.id),
            job.name ? el('div', { class: 'muted' }, job.id) : null),
          el('td', { class: 'hide-sm' }, kindName(job.spec && job.spec.dataset && job.spec.dataset.kind)),
          el('td', {}, stateBadge(st)),
          el('td', { class: 'epoch' }, `${done}/${total}`, progress(done, total)),
          el('td', { class: 'num' }, done ? fmt(latest.lossD) : '–'),
          el('td', { class: 'num' }, done ? fmt(latest.lossG) : '–'),
          qualityCell(job, done),
          el('td', { class: 'hide-sm' }, age(job.createTime)));
        return row;
      }));
    } catch (e) {
      note.textContent = `Cannot list jobs: ${e.message}`;
      note.className = 'error';
    }
  }
  refresh();
  const timer = setInterval(refresh, 1000);
  return () => { stopped = true; clearInterval(timer); };
}

// ---- Charts and downloads ---------------------------------------------------

const COLORS = { d: '#3358d4', g: '#e8590c', q: '#0c8a5f', real: 'rgba(120,130,150,0.35)', fake: '#d6336c' };

function lossChart(canvas) {
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

function scatterChart(canvas) {
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

function toXY(points, ax, ay) {
  const dim = Math.max(1, num(points && points.dim));
  const v = (points && points.values) || [];
  const out = [];
  for (let i = 0; i + dim <= v.length; i += dim) {
    out.push({ x: Number(v[i + ax]), y: dim > 1 ? Number(v[i + ay]) : 0 });
  }
  return out;
}

async function download(url, accept, fallbackName) {
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

// ---- Table jobs: columns and sampled rows -----------------------------------

const MAX_SHOWN_ROWS = 2000;

// A number with `decimals` digits (the column's, as the input wrote them),
// else as short as it reads.
function fmtNum(v, decimals) {
  const x = Number(v);
  if (!Number.isFinite(x)) return '–';
  if (decimals !== undefined && decimals !== null) return x.toFixed(Math.min(12, Math.max(0, Number(decimals))));
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

// A datetime column's range travels as seconds since 1970 (UTC).
function fmtTime(seconds, format) {
  const x = Number(seconds);
  if (!Number.isFinite(x)) return '–';
  const iso = new Date(x * 1000).toISOString();
  return /%[HMSTRcs]/.test(format || '') ? iso.slice(0, 19).replace('T', ' ') : iso.slice(0, 10);
}

function columnSummary(c) {
  const t = typeName(c.type);
  if (t === 'categorical' || t === 'boolean') {
    const levels = c.levels || [];
    const shown = levels.slice(0, 6).join(', ') + (levels.length > 6 ? ', …' : '');
    return el('span', { title: levels.slice(0, 100).join(', ') },
      `${levels.length} level${levels.length === 1 ? '' : 's'}`, el('span', { class: 'muted levels' }, shown));
  }
  if (t === 'datetime') return `${fmtTime(c.min, c.datetimeFormat)} .. ${fmtTime(c.max, c.datetimeFormat)}`;
  const d = t === 'integer' ? 0 : c.decimals;
  return `${fmtNum(c.min, d)} .. ${fmtNum(c.max, d)}`;
}

// The effective schema (Job.tableSchema) as a table: name, type, levels or range, missing cells.
function columnsTable(schema) {
  const cols = (schema && schema.columns) || [];
  return el('div', { class: 'table-wrap' }, el('table', { id: 'columns', class: 'data' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Column'), el('th', {}, 'Type'),
      el('th', {}, 'Levels or range'), el('th', { class: 'num' }, 'Missing'))),
    el('tbody', {}, cols.map((c) => {
      const t = typeName(c.type);
      return el('tr', { 'data-column': c.name, 'data-type': t },
        el('td', {}, c.name),
        el('td', {}, t, c.integerCodes ? el('span', { class: 'muted' }, ' (integer codes)') : null),
        el('td', { class: 'summary' }, columnSummary(c)),
        el('td', { class: 'num' }, String(num(c.missing))));
    }))));
}

// "col=value; col=lo..hi" as the samples call's where= values.
function parseConditions(text) {
  return text.split(';').map((c) => c.trim()).filter(Boolean).map((c) => {
    const eq = c.indexOf('=');
    if (eq <= 0) throw new Error(`condition '${c}' is not COLUMN=VALUE or COLUMN=LO..HI`);
    return `${c.slice(0, eq).trim()}=${c.slice(eq + 1).trim()}`;
  });
}

// One cell of a typed column (Rows.columns[i]); null when missing.
function cellText(col, i) {
  if (col.missing && col.missing[i]) return null;
  for (const k of ['strings', 'ints', 'doubles', 'bools']) {
    if (col[k] && col[k].length > i) return String(col[k][i]);
  }
  return '';
}

function rowsTable(rows) {
  const cols = rows.columns || [];
  const n = Math.min(num(rows.count), MAX_SHOWN_ROWS);
  const body = [];
  for (let i = 0; i < n; i++) {
    body.push(el('tr', {}, cols.map((c) => {
      const v = cellText(c, i);
      const t = typeName(c.type);
      const numeric = t === 'continuous' || t === 'integer';
      return v === null ? el('td', { class: 'missing', title: 'missing' })
        : el('td', { class: numeric ? 'num' : null }, v);
    })));
  }
  return el('table', { id: 'sample-rows', class: 'data' },
    el('thead', {}, el('tr', {}, cols.map((c) => el('th', { 'data-column': c.name, title: typeName(c.type) }, c.name)))),
    el('tbody', {}, body));
}

// The "Sample rows" panel of a table job: count, seed, epoch, conditions;
// rows drawn as a table, and the same query as a CSV download.
function samplePanel(id) {
  const field = (label, input) => el('label', {}, label, input);
  const count = el('input', { id: 's-count', type: 'number', min: 1, max: 100000, value: 20 });
  const seed = el('input', { id: 's-seed', type: 'number', min: 0, placeholder: 'random' });
  const epoch = el('select', { id: 's-epoch' }, el('option', { value: 'latest' }, 'latest'),
    el('option', { value: 'best' }, 'best'));
  const where = el('input', { id: 's-where', type: 'text', placeholder: 'col=value; col=lo..hi',
    'aria-label': 'conditions' });
  const fetchBtn = el('button', { type: 'submit', class: 'primary', id: 's-fetch' }, 'Sample rows');
  const csv = el('a', { href: '#', class: 'button', id: 's-csv', role: 'button' }, 'Download CSV');
  const note = el('p', { class: 'muted', id: 's-note' });
  const error = el('p', { class: 'error', role: 'alert', id: 's-error' });
  const wrap = el('div', { class: 'table-wrap rows-wrap', id: 'sample-wrap' });
  const form = el('form', { class: 'job sample', id: 'sample-form' },
    field('Rows', count), field('Seed', seed), field('Epoch', epoch),
    el('label', { class: 'wide' }, 'Conditions (column=value or column=lo..hi, separated by ;)', where),
    el('div', { class: 'wide actions' }, fetchBtn, csv));
  let shownSeed = '';

  // The samples URL for the fields; an empty seed field takes the seed of
  // the rows shown, so that the CSV holds them.
  function url() {
    const q = [`count=${encodeURIComponent(count.value.trim() || '20')}`];
    const s = seed.value.trim() || shownSeed;
    if (s) q.push(`seed=${encodeURIComponent(s)}`);
    if (epoch.value === 'best') q.push('epoch=best');
    for (const c of parseConditions(where.value)) q.push(`where=${encodeURIComponent(c)}`);
    return `/v1/jobs/${encodeURIComponent(id)}/samples?${q.join('&')}`;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    fetchBtn.disabled = true;
    try {
      shownSeed = '';
      const res = await api(url());
      const rows = res.rows || { count: 0, columns: [] };
      shownSeed = String(res.seed || '');
      const n = num(rows.count);
      note.textContent = `${n} row${n === 1 ? '' : 's'} · seed ${res.seed} · epoch ${res.epoch}` +
        (n > MAX_SHOWN_ROWS ? ` · showing the first ${MAX_SHOWN_ROWS}; Download CSV has them all` : '');
      wrap.replaceChildren(rowsTable(rows));
      wrap.dataset.rows = Math.min(n, MAX_SHOWN_ROWS);
    } catch (err) {
      error.textContent = err.message;
    }
    fetchBtn.disabled = false;
  });
  csv.addEventListener('click', (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      download(url(), 'text/csv', `${id}-samples.csv`).catch((err) => { error.textContent = err.message; });
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return el('section', { class: 'card', id: 'sample-panel' }, el('h2', {}, 'Sample rows'), form, error, note, wrap);
}

// ---- Job page ---------------------------------------------------------------

// A table job's two views: its training (the job page) and its report.
function jobTabs(id, active) {
  const href = `#/jobs/${encodeURIComponent(id)}`;
  const tab = (key, label, to, linkId) => el('a', { href: to, id: linkId, class: key === active ? 'tab active' : 'tab',
    'aria-current': key === active ? 'page' : null }, label);
  return el('nav', { class: 'tabs', 'aria-label': 'job views' },
    tab('training', 'Training', href, 'training-link'), tab('report', 'Report', `${href}/report`, 'report-link'));
}


function renderJob(id) {
  const title = el('h1', {}, id);
  const badge = el('span');
  const epochText = el('span', { class: 'epoch' });
  const bar = el('div');
  const message = el('p', { class: 'error', role: 'alert' });
  const cancelBtn = el('button', { class: 'danger', id: 'cancel' }, 'Cancel');
  const deleteBtn = el('button', { class: 'danger', id: 'delete', hidden: true }, 'Delete');
  const samplesBtn = el('button', { id: 'download-samples' }, 'Download samples (CSV)');
  const generatorBtn = el('button', { id: 'download-generator' }, 'Download generator (.pt)');
  const stats = el('div', { class: 'stats' });
  const lossCanvas = el('canvas', { id: 'loss-canvas' });
  const scatterCanvas = el('canvas', { id: 'scatter-canvas' });
  const lossBox = el('div', { class: 'chart-box', id: 'loss-chart', 'data-points': 0 }, lossCanvas);
  const scatterBox = el('div', { class: 'chart-box', id: 'scatter-chart', 'data-points': 0 }, scatterCanvas);
  const axX = el('select', { id: 'axis-x', 'aria-label': 'x coordinate' });
  const axY = el('select', { id: 'axis-y', 'aria-label': 'y coordinate' });
  const axes = el('div', { class: 'axes', hidden: true }, 'coordinates', axX, axY);
  const chartTitle = el('h2', { id: 'loss-title' }, 'Losses and quality by epoch');
  const scatterCard = el('section', { class: 'card', id: 'scatter-card' },
    el('h2', {}, 'Generated points over the real data'), axes, scatterBox);
  const charts = el('div', { class: 'charts' }, el('section', { class: 'card' }, chartTitle, lossBox), scatterCard);
  const tableCards = el('div', { id: 'table-cards', hidden: true });
  const tabs = jobTabs(id, 'training');
  tabs.hidden = true;  // table jobs only

  view.replaceChildren(
    el('section', { class: 'card' }, tabs, title,
      el('div', { class: 'actions' }, badge, epochText),
      bar,
      el('div', { class: 'actions' }, cancelBtn, samplesBtn, generatorBtn, deleteBtn),
      message, stats),
    charts, tableCards);

  const loss = lossChart(lossCanvas);
  const scatter = scatterChart(scatterCanvas);
  let job = null;
  let shownSeq = 0;
  let dataset = null;
  let lastPreview = null;
  let ax = 0;
  let ay = 1;
  let pending = [];   // epoch events not drawn yet
  let frame = 0;
  let source = null;
  let closed = false;
  let table = false;  // a table job: column distance, no scatter, columns and samples
  let tableName = '';

  // A table job's page: the chart's quality is the column distance, drawn
  // on evaluated epochs; the columns and the samples panel replace the scatter.
  function setupTable(j) {
    table = true;
    tabs.hidden = false;
    // Evaluated epochs' quality score (higher is better) and column
    // distance (lower is better), both 0..1 on the right axis.
    const ds = loss.data.datasets[2];
    ds.label = 'quality score (higher is better)';
    ds.pointRadius = 3;
    loss.data.datasets.push({ label: 'column distance (lower is better)', data: [], borderColor: '#7048e8',
      backgroundColor: '#7048e8', yAxisID: 'quality', borderDash: [2, 3], pointRadius: 3 });
    loss.options.scales.quality.title.text = 'quality score, column distance';
    loss.options.scales.quality.suggestedMin = 0;
    loss.options.scales.quality.suggestedMax = 1;
    loss.update('none');
    lossBox.dataset.metric = 'quality,column_distance';
    chartTitle.textContent = 'Losses, quality score and column distance by epoch';
    scatterCard.hidden = true;
    charts.classList.add('single');
    tableCards.replaceChildren(
      el('section', { class: 'card', id: 'columns-card' }, el('h2', {}, 'Columns'), columnsTable(j.tableSchema)),
      samplePanel(id));
    tableCards.hidden = false;
    const tid = j.spec.dataset.table && j.spec.dataset.table.tableId;
    if (tid) {
      api(`/v1/tables/${encodeURIComponent(tid)}`).then((t) => {
        tableName = t.name || '';
        if (job && !closed) showJob(job, shownSeq);
      }).catch(() => {});
    }
  }

  function datasetText(spec, j) {
    if (!isTable(spec)) return kindName(spec.dataset && spec.dataset.kind);
    const tid = (spec.dataset.table && spec.dataset.table.tableId) || '';
    const schema = j.tableSchema || {};
    const cols = (schema.columns || []).length;
    return `table ${tableName ? `${tableName} ` : ''}${tid.slice(0, 12)}… · ` +
      `${num(schema.rows || j.datasetRows)} rows × ${cols} columns`;
  }

  // Shows the job as of event `seq` (a Job's lastSeq, or an event's seq);
  // an older view (e.g. a cancel's answer that arrives after the CANCELLED
  // event) never replaces a newer one.
  function showJob(j, seq = num(j.lastSeq)) {
    if (seq < shownSeq) return;
    shownSeq = seq;
    job = j;
    const st = stateName(j.state);
    title.textContent = j.name ? `${j.name} (${j.id})` : j.id;
    document.title = `${j.name || j.id} · gantry`;
    badge.replaceChildren(stateBadge(st));
    const total = num(j.spec && j.spec.epochs);
    epochText.textContent = `epoch ${num(j.epochsDone)}/${total}`;
    bar.replaceChildren(progress(num(j.epochsDone), total));
    cancelBtn.hidden = ended(st);
    deleteBtn.hidden = !ended(st);
    samplesBtn.disabled = generatorBtn.disabled = num(j.epochsDone) === 0;
    const l = j.latest || {};
    const spec = j.spec || {};
    if (isTable(spec) && !table) setupTable(j);
    let items;
    if (table) {
      // An epoch event carries the best epoch so far; a Job carries it too.
      const bestEpoch = num(l.bestEpoch) || num(j.bestEpoch);
      const best = (num(l.bestEpoch) ? l.bestMetrics : j.bestMetrics) || {};
      items = [
        ['dataset', datasetText(spec, j)],
        ['loss D', fmt(l.lossD)], ['loss G', fmt(l.lossG)],
        // A table's epoch report carries the latest evaluation's quality score.
        ['quality', num(l.epoch) ? pct(num(l.quality)) : '–'],
        ['best epoch', bestEpoch || '–'],
        ['best quality', bestEpoch ? pct(num(best.quality)) : '–'],
        ['best column distance', bestEpoch ? fmt(best.columnDistance) : '–'],
        ['s/epoch', fmt(l.seconds, 3)],
        ['lr', spec.learningRate], ['batch', spec.batchSize], ['seed', spec.seed],
      ];
    } else {
      items = [
        ['dataset', datasetText(spec, j)],
        ['loss D', fmt(l.lossD)], ['loss G', fmt(l.lossG)],
        ['D(real)', fmt(l.dReal, 3)], ['D(fake)', fmt(l.dFake, 3)],
        ['quality', fmt(l.quality)], ['s/epoch', fmt(l.seconds, 3)],
        ['lr', spec.learningRate], ['batch', spec.batchSize], ['seed', spec.seed],
      ];
    }
    if (j.error) items.push(['error', j.error]);
    if (j.stopReason) items.push(['stopped', j.stopReason]);
    stats.replaceChildren(...items.map(([k, v]) => el('div', { class: table && k === 'dataset' ? 'stat wide' : 'stat', 'data-stat': k },
      el('div', { class: 'k' }, k), el('div', { class: 'v' }, v === undefined ? '–' : v))));
  }

  function drawScatter() {
    if (table) return;
    if (dataset) scatter.data.datasets[0].data = toXY(dataset, ax, ay);
    if (lastPreview) scatter.data.datasets[1].data = toXY(lastPreview, ax, ay);
    scatter.update('none');
    scatterBox.dataset.points = scatter.data.datasets[1].data.length;
  }

  function setupAxes(dim) {
    if (dim <= 2 || axX.options.length) return;
    for (let i = 0; i < dim; i++) {
      axX.append(el('option', { value: i }, `x${i}`));
      axY.append(el('option', { value: i }, `x${i}`));
    }
    axX.value = '0'; axY.value = '1';
    axes.hidden = false;
    const change = () => { ax = Number(axX.value); ay = Number(axY.value); drawScatter(); };
    axX.addEventListener('change', change);
    axY.addEventListener('change', change);
  }

  // Draws every pending epoch in one chart update per animation frame.
  function flush() {
    frame = 0;
    if (!pending.length || closed) return;
    const batch = pending;
    pending = [];
    for (const ev of batch) {
      const r = ev.epoch;
      const e = num(r.epoch);
      loss.data.datasets[0].data.push({ x: e, y: num(r.lossD) });
      loss.data.datasets[1].data.push({ x: e, y: num(r.lossG) });
      if (!table) loss.data.datasets[2].data.push({ x: e, y: num(r.quality) });
      else if (r.metrics) {
        loss.data.datasets[2].data.push({ x: e, y: num(r.metrics.quality) });
        loss.data.datasets[3].data.push({ x: e, y: num(r.metrics.columnDistance) });
      }
      if (r.preview && num(r.preview.dim)) { lastPreview = r.preview; setupAxes(num(r.preview.dim)); }
    }
    loss.update('none');
    drawScatter();
    lossBox.dataset.points = loss.data.datasets[0].data.length;
    const drawn = Date.now();
    for (const ev of batch) {
      window.gantryStats.epochs.push({ job: id, epoch: num(ev.epoch.epoch), eventTime: Date.parse(ev.time), drawnAt: drawn });
    }
  }

  function follow() {
    source = new EventSource(`/v1/jobs/${encodeURIComponent(id)}/events`);
    source.onmessage = (msg) => {
      const ev = JSON.parse(msg.data);
      if (ev.epoch) {
        pending.push(ev);
        if (!frame) frame = requestAnimationFrame(flush);
        if (job) showJob({ ...job, epochsDone: ev.epoch.epoch, latest: ev.epoch }, num(ev.seq));
      } else if (ev.state) {
        const st = stateName(ev.state.state);
        if (job) showJob({ ...job, state: ev.state.state, error: ev.state.error || job.error }, num(ev.seq));
        if (ended(st)) {
          source.close();
          api(`/v1/jobs/${encodeURIComponent(id)}`).then(showJob).catch(() => {});
        }
      }
    };
  }

  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    try { showJob(await api(`/v1/jobs/${encodeURIComponent(id)}:cancel`, { method: 'POST' })); message.textContent = ''; }
    catch (e) { message.textContent = e.message; }
    cancelBtn.disabled = false;
  });
  deleteBtn.addEventListener('click', async () => {
    try { await api(`/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' }); location.hash = '#/'; }
    catch (e) { message.textContent = e.message; }
  });
  samplesBtn.addEventListener('click', () => download(
    `/v1/jobs/${encodeURIComponent(id)}/samples?count=1000`, 'text/csv', `${id}-samples.csv`)
    .catch((e) => { message.textContent = e.message; }));
  generatorBtn.addEventListener('click', () => download(
    `/v1/jobs/${encodeURIComponent(id)}/generator`, null, `${id}-generator.pt`)
    .catch((e) => { message.textContent = e.message; }));

  (async () => {
    try {
      showJob(await api(`/v1/jobs/${encodeURIComponent(id)}`));
      follow();
      if (table) return;  // a table's rows are not points: no scatter
      dataset = (await api(`/v1/jobs/${encodeURIComponent(id)}/dataset?max_points=2000`)).points;
      if (dataset) setupAxes(num(dataset.dim));
      drawScatter();
    } catch (e) {
      message.textContent = e.message;
    }
  })();

  return () => {
    closed = true;
    if (source) source.close();
    if (frame) cancelAnimationFrame(frame);
    loss.destroy();
    scatter.destroy();
  };
}

// ---- Table report -------------------------------------------------------------
// GET /v1/jobs/{id}/report[?epoch=N] (a TableReport, proto JSON: zero
// fields are left out, so every figure is read with a default) drawn as
// scores, privacy, utility, scores by epoch, per-column distributions and
// association heatmaps. Route: #/jobs/ID/report[?epoch=N].

const MAX_REPORT_COLUMNS = 60;
const REPORT_COLORS = { real: 'rgba(91,100,114,0.55)', synthetic: '#d6336c' };
// Metrics' table scores (0..1, higher is better), as the report shows them.
const SCORES = [
  ['quality', 'Overall quality', 'The mean of column shapes and column pair trends (SDMetrics’ quality score).'],
  ['columnShapes', 'Column shapes', 'How closely each column’s distribution matches the real one (KS or TV complement).'],
  ['columnPairs', 'Column pair trends', 'How well the correlations and contingencies between pairs of columns are kept.'],
  ['missingSimilarity', 'Missing values', 'How closely each column’s share of missing cells matches the real one.'],
  ['columnCoverage', 'Coverage', 'How much of each real range and of the real categories the synthetic rows span.'],
  ['adherence', 'Adherence', 'The share of synthetic values inside the real ranges and among the real categories.'],
];

const has = (o, k) => Boolean(o) && o[k] !== undefined && o[k] !== null;
const pct = (v, digits = 1) => (v === undefined || v === null || !Number.isFinite(Number(v)) ? '–'
  : `${(100 * Number(v)).toFixed(digits)}%`);
const scoreLevel = (v) => (v >= 0.8 ? 'ok' : v >= 0.6 ? 'warn' : 'bad');
// Finite or null: proto JSON writes NaN as "NaN", unset optionals are absent.
const finite = (v) => (v === undefined || v === null || !Number.isFinite(Number(v)) ? null : Number(v));

// The privacy verdict's colour: its wording (core/table_eval.h), else dcr_share.
function verdictLevel(p) {
  const v = String(p.verdict || '').toLowerCase();
  if (/no sign/.test(v)) return 'ok';
  if (/cop(y|ies)/.test(v)) return 'bad';
  if (v) return 'warn';
  const s = num(p.dcrShare);
  return s <= 0.55 ? 'ok' : s <= 0.7 ? 'warn' : 'bad';
}

// Draws a vertical line per marked epoch (the best, the one shown) on a line chart.
const epochMarkers = {
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

function historyChart(canvas, report, onPick) {
  const hist = report.history || [];
  const series = [
    ['quality', 'quality', '#3358d4', []],
    ['columnShapes', 'column shapes', '#0c8a5f', []],
    ['columnPairs', 'pair trends', '#e8590c', []],
  ];
  if (hist.some((h) => has(h.metrics, 'dcrShare'))) series.push(['dcrShare', 'DCR share', '#7048e8', [6, 3]]);
  if (hist.some((h) => has(h.metrics, 'utility'))) series.push(['utility', 'utility (synthetic)', '#c2255c', [2, 2]]);
  const best = num(report.bestEpoch);
  const shown = num(report.epoch);
  const lines = [];
  if (best) lines.push({ x: best, label: `best ${best}`, color: '#067647', dash: [4, 3] });
  if (shown && shown !== best) lines.push({ x: shown, label: `shown ${shown}`, color: '#1d2330' });
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: series.map(([k, label, color, dash]) => ({
      label, borderColor: color, backgroundColor: color, borderDash: dash, key: k,
      data: hist.filter((h) => k !== 'dcrShare' && k !== 'utility' || has(h.metrics, k))
        .map((h) => ({ x: num(h.epoch), y: num((h.metrics || {})[k]) })),
    })) },
    plugins: [epochMarkers],
    options: {
      animation: false, maintainAspectRatio: false, parsing: false, normalized: true,
      elements: { point: { radius: hist.length > 60 ? 0 : 3, hoverRadius: 5 }, line: { borderWidth: 2 } },
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 } },
        y: { suggestedMin: 0, suggestedMax: 1, title: { display: true, text: 'score (0..1)' } },
      },
      plugins: {
        epochMarkers: { lines },
        legend: { labels: { boxWidth: 14, boxHeight: 2 } },
        tooltip: { callbacks: {
          title: (items) => (items.length ? `epoch ${items[0].parsed.x}` : ''),
          label: (c) => `${c.dataset.label}: ${Number(c.parsed.y).toFixed(4)}`,
        } },
      },
      onClick: (_e, elements, chart) => {
        if (!elements.length) return;
        const p = chart.data.datasets[elements[0].datasetIndex].data[elements[0].index];
        if (p) onPick(p.x);
      },
    },
  });
}

// A numeric bin edge in the column's units: datetime edges are days since 1970.
function fmtEdge(v, type) {
  const x = Number(v);
  if (!Number.isFinite(x)) return '–';
  if (type === 'datetime') return new Date(x * 86400000).toISOString().slice(0, 10);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

// The bars of one ColumnReport: [{ short, long }], one per real/synthetic value.
function columnBars(c) {
  const type = typeName(c.type);
  const n = Math.max((c.real || []).length, (c.synthetic || []).length);
  const edges = c.edges || [];
  const labels = c.labels || [];
  const bars = [];
  if (edges.length >= 2) {
    const bins = edges.length - 1;
    for (let i = 0; i < n; i++) {
      if (i < bins) {
        const lo = fmtEdge(edges[i], type);
        const hi = fmtEdge(edges[i + 1], type);
        bars.push({ short: lo, long: `${lo} … ${hi}` });
      } else {
        // Past the bins: "(missing)" (labels may name it).
        const l = labels[labels.length - (n - i)] || '(missing)';
        bars.push({ short: l, long: l });
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      const l = labels[i] !== undefined ? String(labels[i]) : `#${i + 1}`;
      bars.push({ short: l.length > 14 ? `${l.slice(0, 13)}…` : l, long: l });
    }
  }
  return bars;
}

function columnChart(canvas, c) {
  const bars = columnBars(c);
  const vals = (a) => bars.map((_, i) => num((a || [])[i]));
  return new Chart(canvas, {
    type: 'bar',
    data: { labels: bars.map((b) => b.short), datasets: [
      { label: 'real', data: vals(c.real), backgroundColor: REPORT_COLORS.real },
      { label: 'synthetic', data: vals(c.synthetic), backgroundColor: REPORT_COLORS.synthetic },
    ] },
    options: {
      animation: false, maintainAspectRatio: false,
      datasets: { bar: { categoryPercentage: 0.9, barPercentage: 0.95 } },
      scales: {
        x: { ticks: { autoSkip: true, maxRotation: 60, minRotation: 0, font: { size: 10 } }, grid: { display: false } },
        y: { beginAtZero: true, ticks: { font: { size: 10 }, callback: (v) => `${Math.round(v * 1000) / 10}%` } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: {
          title: (items) => (items.length ? bars[items[0].dataIndex].long : ''),
          label: (ctx) => `${ctx.dataset.label}: ${pct(ctx.parsed.y, 1)}`,
        } },
      },
    },
  });
}

// Diverging colour scale over -1..1: blue, white, red.
function divergingColor(v) {
  const t = Math.max(-1, Math.min(1, v));
  const lo = [43, 95, 176];
  const mid = [247, 247, 247];
  const hi = [192, 57, 43];
  const [a, b, f] = t < 0 ? [mid, lo, -t] : [mid, hi, t];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
const UNDEFINED_CELL = '#c3c8d1';

// Three heatmaps (real, synthetic, synthetic - real) of the pairs between
// the first `n` columns: the lower triangle, row b, column a (a < b).
// Hovering (or tapping) a cell shows its values and outlines it in all three.
function heatmaps(cols, pairs, n) {
  const index = new Map();
  for (const p of pairs) {
    const a = num(p.a);
    const b = num(p.b);
    if (a < n && b < n && a !== b) index.set(Math.min(a, b) * n + Math.max(a, b), p);
  }
  const names = cols.slice(0, n).map((c) => String(c.name));
  const value = {
    real: (p) => finite(p && p.real),
    synthetic: (p) => finite(p && p.synthetic),
    difference: (p) => {
      const r = finite(p && p.real);
      const s = finite(p && p.synthetic);
      return r === null || s === null ? null : s - r;
    },
  };
  const titles = { real: 'Real', synthetic: 'Synthetic', difference: 'Difference (synthetic − real)' };
  const tip = el('div', { class: 'hm-tip', hidden: true, role: 'status' });
  const panes = Object.keys(value).map((kind) => {
    const canvas = el('canvas', { class: 'hm-canvas', 'data-kind': kind,
      'aria-label': `${titles[kind]} association heatmap` });
    const box = el('div', { class: 'hm-box' }, canvas);
    return { kind, canvas, box, pane: el('figure', { class: 'hm', id: `heatmap-${kind}` },
      el('figcaption', {}, titles[kind]), box), geom: null };
  });
  let hover = null;  // [row b, col a]

  function layout(p) {
    const width = p.box.clientWidth || 300;
    const cells = Math.max(1, n - 1);
    const ctx = p.canvas.getContext('2d');
    ctx.font = '11px system-ui, sans-serif';
    // Room for the row names (columns 1..n-1) at the left and the column
    // names (0..n-2) below, each at most a third of the width.
    const room = (list) => Math.min(Math.max(...list.map((s) => ctx.measureText(s).width), 10) + 8, width * 0.32, 110);
    const left = room(names.slice(1));
    const below = room(names.slice(0, -1));
    let cell = Math.min(44, (width - left - 4) / cells);
    const showLabels = cell >= 7;
    if (!showLabels) cell = Math.min(44, (width - 8) / cells);
    const font = Math.max(7, Math.min(11, Math.floor(cell * 0.85)));
    const size = cell * cells;
    return { width, height: Math.ceil(4 + size + (showLabels ? below : 0) + 6), left: showLabels ? left : 4, top: 4,
      cell, cells, showLabels, font, below };
  }

  function cellAt(p, x, y) {
    const g = p.geom;
    if (!g) return null;
    const col = Math.floor((x - g.left) / g.cell);
    const row = Math.floor((y - g.top) / g.cell);
    if (col < 0 || row < 0 || col >= g.cells || row >= g.cells || col > row) return null;
    return [row + 1, col];  // b = row + 1, a = col
  }

  const fit = (s, w, ctx) => {
    if (ctx.measureText(s).width <= w) return s;
    let t = s;
    while (t.length > 1 && ctx.measureText(`${t}…`).width > w) t = t.slice(0, -1);
    return `${t}…`;
  };

  function draw(p) {
    const g = layout(p);
    p.geom = g;
    const dpr = window.devicePixelRatio || 1;
    p.canvas.width = Math.round(g.width * dpr);
    p.canvas.height = Math.round(g.height * dpr);
    p.canvas.style.width = `${g.width}px`;
    p.canvas.style.height = `${g.height}px`;
    const ctx = p.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    let drawn = 0;
    let defined = 0;
    const gap = g.cell >= 6 ? 1 : 0;
    for (let b = 1; b < n; b++) {
      for (let a = 0; a < b; a++) {
        const v = value[p.kind](index.get(a * n + b));
        ctx.fillStyle = v === null ? UNDEFINED_CELL : divergingColor(v);
        ctx.fillRect(g.left + a * g.cell, g.top + (b - 1) * g.cell, g.cell - gap, g.cell - gap);
        drawn += 1;
        if (v !== null) defined += 1;
      }
    }
    if (hover) {
      const [b, a] = hover;
      ctx.strokeStyle = '#141a2b';
      ctx.lineWidth = 2;
      ctx.strokeRect(g.left + a * g.cell + 1, g.top + (b - 1) * g.cell + 1, g.cell - 2 - gap, g.cell - 2 - gap);
    }
    if (g.showLabels) {
      ctx.fillStyle = '#1d2330';
      ctx.font = `${g.font}px system-ui, sans-serif`;
      // Row names (b = 1..n-1) at the left, column names (a = 0..n-2) below.
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (let b = 1; b < n; b++) {
        ctx.fillText(fit(names[b], g.left - 6, ctx), g.left - 4, g.top + (b - 0.5) * g.cell);
      }
      const bottom = g.top + g.cells * g.cell + 4;
      for (let a = 0; a < n - 1; a++) {
        ctx.save();
        ctx.translate(g.left + (a + 0.5) * g.cell, bottom);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(fit(names[a], g.below - 6, ctx), 0, 0);
        ctx.restore();
      }
    }
    Object.assign(p.canvas.dataset, { cells: drawn, defined, left: g.left, top: g.top, cell: g.cell });
  }
  const drawAll = () => panes.forEach(draw);

  const fmtV = (v) => (v === null ? 'undefined' : v.toFixed(3));
  function show(p, evt) {
    const r = p.canvas.getBoundingClientRect();
    const at = cellAt(p, evt.clientX - r.left, evt.clientY - r.top);
    const same = hover && at && hover[0] === at[0] && hover[1] === at[1];
    if (!same && (hover || at)) {
      hover = at;
      drawAll();
    }
    if (!at) { tip.hidden = true; return; }
    const [b, a] = at;
    const pair = index.get(a * n + b);
    const kindOf = pair && pair.metric === 'CorrelationSimilarity' ? 'Pearson r' : 'Cramér’s V';
    tip.replaceChildren(
      el('strong', {}, `${names[a]} × ${names[b]}`),
      el('div', {}, `${kindOf}: real ${fmtV(value.real(pair))} · synthetic ${fmtV(value.synthetic(pair))}`),
      el('div', {}, `difference ${fmtV(value.difference(pair))}`),
      el('div', { class: 'muted' }, pair ? `${pair.metric || 'score'} ${fmtV(finite(pair.score))}` : 'no figures for this pair'));
    tip.hidden = false;
    const host = tip.parentElement.getBoundingClientRect();
    const x = evt.clientX - host.left + 12;
    const y = evt.clientY - host.top + 12;
    tip.style.left = `${Math.max(0, Math.min(x, host.width - tip.offsetWidth - 4))}px`;
    tip.style.top = `${y}px`;
  }
  for (const p of panes) {
    p.canvas.addEventListener('mousemove', (e) => show(p, e));
    p.canvas.addEventListener('click', (e) => show(p, e));
    p.canvas.addEventListener('mouseleave', () => {
      tip.hidden = true;
      if (hover) { hover = null; drawAll(); }
    });
  }
  const legend = el('div', { class: 'hm-legend' },
    el('span', {}, '−1'), el('span', { class: 'hm-scale' }), el('span', {}, '+1'),
    el('span', { class: 'hm-undef' }), el('span', {}, 'undefined'));
  // Three across for a few columns; two, then one, for more, so that the
  // cells and their names stay readable.
  const across = n <= 16 ? 'three' : n <= 36 ? 'two' : 'one';
  const root = el('div', { class: 'hm-wrap' }, el('div', { class: `hm-grid ${across}` }, panes.map((p) => p.pane)),
    legend, tip);
  let width = 0;
  const ro = new ResizeObserver(() => {
    const w = panes[0].box.clientWidth;
    if (w && w !== width) { width = w; drawAll(); }
  });
  ro.observe(panes[0].box);
  return { root, destroy: () => ro.disconnect() };
}

function renderReport(id, epochParam) {
  const title = el('h1', {}, `Report: ${id}`);
  const epochSel = el('select', { id: 'report-epoch', 'aria-label': 'epoch' });
  const meta = el('p', { class: 'muted', id: 'report-meta' });
  const message = el('p', { class: 'error', role: 'alert', id: 'report-error' });
  const note = el('p', { class: 'muted', id: 'report-loading' }, 'Computing the report…');
  const json = el('a', { class: 'button', id: 'report-json', hidden: true }, 'Download JSON');
  const content = el('div', { id: 'report-content' });
  view.replaceChildren(
    el('section', { class: 'card', id: 'report-head' }, jobTabs(id, 'report'), title,
      el('div', { class: 'actions report-epoch' }, el('label', { for: 'report-epoch' }, 'Epoch'), epochSel, json), meta,
      message, note),
    content);
  document.title = `Report · ${id} · gantry`;

  const cache = new Map();  // requested epoch ('' for the best) -> report
  let destroyers = [];
  let closed = false;
  let ticket = 0;
  let current = epochParam;

  const go = (epoch) => { location.hash = `#/jobs/${encodeURIComponent(id)}/report?epoch=${epoch}`; };
  epochSel.addEventListener('change', () => go(epochSel.value));

  function destroyCharts() {
    for (const d of destroyers) d();
    destroyers = [];
  }

  function scoresCard(m) {
    return el('section', { class: 'card', id: 'report-scores' }, el('h2', {}, 'Scores'),
      el('div', { class: 'scores' }, SCORES.map(([k, label, help]) => {
        const v = num(m[k]);
        return el('div', { class: `score ${scoreLevel(v)}`, 'data-score': k, 'data-value': v },
          el('div', { class: 'k' }, label), el('div', { class: 'big' }, pct(v)), el('p', { class: 'help' }, help));
      })),
      el('p', { class: 'muted small' }, 'Scores run from 0 to 100%; higher is closer to the real rows. Definitions: SDMetrics’ quality report.'));
  }

  function privacyCard(r) {
    const p = r.privacy;
    const card = el('section', { class: 'card', id: 'report-privacy' }, el('h2', {}, 'Privacy'));
    if (!p) {
      card.append(el('p', { class: 'muted', id: 'privacy-none' },
        'No privacy figures: this job held out no rows to compare against (eval_fraction 0).'));
      return card;
    }
    const level = verdictLevel(p);
    const verdict = String(p.verdict || (level === 'ok' ? 'no sign of memorisation' : 'check the figures'));
    const share = num(p.dcrShare);
    // "headline: why" (core/table_eval.cc): the headline large, the why below.
    const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1);
    const colon = verdict.indexOf(':');
    const head = colon > 0 ? verdict.slice(0, colon) : verdict;
    const why = colon > 0 ? verdict.slice(colon + 1).trim() : '';
    card.append(
      el('div', { class: `verdict ${level}`, id: 'privacy-verdict', 'data-level': level, 'data-verdict': verdict },
        el('div', { class: 'headline' }, cap(head)), why ? el('div', { class: 'why' }, `${cap(why)}.`) : null),
      el('p', {}, `${pct(share)} of the synthetic rows are closer to a training row than to any unseen real row ` +
        '(about 50% when the generator does not memorise; toward 100% when it copies).'));
    if (has(r, 'maxDcrShare') && num(r.maxDcrShare) > 0) {
      const max = num(r.maxDcrShare);
      const ok = share <= max;
      card.append(el('p', { class: `constraint ${ok ? 'ok' : 'bad'}`, id: 'privacy-constraint' },
        `Constraint: DCR share at most ${pct(max)} — ${ok ? 'met' : 'not met: this epoch cannot be the best'}.`));
    }
    const stat = (k, label, v, help) => el('div', { class: 'stat', 'data-privacy': k },
      el('div', { class: 'k' }, label), el('div', { class: 'v' }, v), el('div', { class: 'help' }, help));
    card.append(el('div', { class: 'stats privacy-stats' },
      stat('dcrShare', 'DCR share', pct(share), 'closer to training than to held-out rows'),
      stat('exactCopies', 'exact copies', pct(p.exactCopies, 2),
        `of synthetic rows equal a training row (held-out rows: ${pct(num(p.holdoutExactCopies), 2)})`),
      stat('dcrP5', 'DCR 5th percentile', fmt(num(p.dcrP5), 3),
        `synthetic rows’ distance to training rows (held-out rows: ${fmt(num(p.holdoutDcrP5), 3)})`),
      stat('rows', 'rows compared', `${num(p.syntheticRows)} / ${num(p.referenceRows)}`,
        'synthetic rows / training and held-out rows each')));
    return card;
  }

  function utilityCard(u) {
    const f1 = u.scoreName === 'macro_f1' || u.task === 'classification';
    const scoreName = f1 ? 'macro F1' : u.scoreName === 'r2' ? 'R²' : (u.scoreName || 'score');
    const real = num(u.real);
    const synth = num(u.synthetic);
    const ratio = real > 0 ? synth / real : null;
    const row = (what, score, acc) => el('tr', {}, el('td', {}, what), el('td', { class: 'num' }, fmt(score, 3)),
      f1 ? el('td', { class: 'num' }, pct(acc)) : null, el('td', { class: 'num' }, String(num(u.trainRows))));
    return el('section', { class: 'card', id: 'report-utility' }, el('h2', {}, 'Utility'),
      el('p', {}, `Predicting `, el('strong', {}, u.target || '?'), ` (${u.task || 'task'}): a model trained on ` +
        `synthetic rows against the same model trained on as many real rows, both tested on ${num(u.testRows)} held-out real rows.`),
      el('div', { class: 'table-wrap' }, el('table', { class: 'data', id: 'utility-table' },
        el('thead', {}, el('tr', {}, el('th', {}, 'trained on'), el('th', { class: 'num' }, scoreName),
          f1 ? el('th', { class: 'num' }, 'accuracy') : null, el('th', { class: 'num' }, 'rows'))),
        el('tbody', {},
          row('synthetic rows', synth, u.syntheticAccuracy),
          row('real rows', real, u.realAccuracy)))),
      el('p', { id: 'utility-ratio', class: ratio === null ? 'muted' : `ratio ${scoreLevel(ratio)}` },
        ratio === null ? 'No ratio: the real baseline scored 0 or less.'
          : `Synthetic reaches ${pct(ratio)} of the real baseline’s ${scoreName}.`));
  }

  function historyCard(r) {
    const canvas = el('canvas', { id: 'history-canvas' });
    const box = el('div', { class: 'chart-box', id: 'history-chart', 'data-points': (r.history || []).length }, canvas);
    const chart = historyChart(canvas, r, go);
    destroyers.push(() => chart.destroy());
    return el('section', { class: 'card', id: 'report-history' }, el('h2', {}, 'Scores by epoch'),
      el('p', { class: 'muted small' }, 'Evaluated epochs; click a point to show that epoch.'), box);
  }

  function columnsCard(r) {
    const cols = r.columns || [];
    const shown = cols.slice(0, MAX_REPORT_COLUMNS);
    const grid = el('div', { class: 'col-grid' });
    const cards = [];
    for (const c of shown) {
      const canvas = el('canvas');
      const shape = finite(c.shape);
      const t = typeName(c.type);
      const card = el('div', { class: 'col-card', 'data-column': c.name },
        el('div', { class: 'col-head' },
          el('strong', { class: 'col-name', title: c.name }, c.name), el('span', { class: 'muted' }, ` ${t}`),
          el('span', { class: `col-score ${shape === null ? 'undef' : scoreLevel(shape)}`, 'data-value': shape === null ? '' : shape,
            title: c.shapeMetric || '' }, shape === null ? 'undefined' : pct(shape))),
        el('div', { class: 'col-chart' }, canvas),
        el('div', { class: 'col-foot muted' },
          `${c.shapeMetric || 'shape'} · coverage ${pct(num(c.coverage), 0)} · adherence ${pct(num(c.adherence), 0)} · ` +
          `missing ${pct(num(c.missingReal), 0)} real, ${pct(num(c.missingSynthetic), 0)} synthetic`));
      grid.append(card);
      cards.push([card, shape]);
      const chart = columnChart(canvas, c);
      destroyers.push(() => chart.destroy());
    }
    // Table order, or the lowest shape scores first (undefined ones last).
    const order = el('select', { id: 'columns-order', 'aria-label': 'order of the columns' },
      el('option', { value: 'table' }, 'table order'), el('option', { value: 'worst' }, 'lowest score first'));
    order.addEventListener('change', () => {
      const list = order.value === 'worst'
        ? [...cards].sort((x, y) => (x[1] === null) - (y[1] === null) || (x[1] ?? 0) - (y[1] ?? 0)) : cards;
      grid.replaceChildren(...list.map(([card]) => card));
    });
    return el('section', { class: 'card', id: 'report-columns', 'data-columns': cols.length },
      el('div', { class: 'card-head' }, el('h2', {}, 'Columns: real and synthetic'), el('label', { class: 'muted small' }, 'order ', order)),
      el('p', { class: 'legend' }, el('span', { class: 'key' }, el('span', { class: 'sw real' }), 'real (held-out rows)'),
        el('span', { class: 'key' }, el('span', { class: 'sw synthetic' }), 'synthetic'),
        el('span', {}, '· bars are shares of all rows; the figure is the column’s shape score')),
      cols.length > shown.length ? el('p', { class: 'warn-note', id: 'columns-truncated' },
        `Showing the first ${shown.length} of ${cols.length} columns.`) : null,
      grid);
  }

  function pairsCard(r) {
    const cols = r.columns || [];
    const n = Math.min(cols.length, MAX_REPORT_COLUMNS);
    const card = el('section', { class: 'card', id: 'report-pairs' }, el('h2', {}, 'Associations between columns'));
    if (n < 2) {
      card.append(el('p', { class: 'muted' }, 'One column: no pairs.'));
      return card;
    }
    card.append(el('p', { class: 'muted small' },
      'Pearson’s r for two numeric columns, else Cramér’s V (0..1); grey: undefined (e.g. a constant column). Hover a cell for its values.'));
    if (cols.length > n) {
      card.append(el('p', { class: 'warn-note', id: 'pairs-truncated' }, `Showing the pairs of the first ${n} of ${cols.length} columns.`));
    }
    const h = heatmaps(cols, r.pairs || [], n);
    destroyers.push(h.destroy);
    card.append(h.root);
    return card;
  }

  function show(r) {
    destroyCharts();
    const name = r.jobName || '';
    title.textContent = `Report: ${name ? `${name} (${id})` : id}`;
    document.title = `Report · ${name || id} · gantry`;
    const best = num(r.bestEpoch);
    const epoch = num(r.epoch);
    const hist = (r.history || []).map((h) => num(h.epoch));
    if (!hist.includes(epoch)) hist.push(epoch);
    hist.sort((a, b) => a - b);
    epochSel.replaceChildren(...hist.map((e) => el('option', { value: e }, e === best ? `${e} (best)` : String(e))));
    epochSel.value = String(epoch);
    json.href = `/v1/jobs/${encodeURIComponent(id)}/report?epoch=${epoch}`;
    json.setAttribute('download', `${id}-report-epoch${epoch}.json`);
    json.hidden = false;
    meta.textContent = `Epoch ${epoch}${epoch === best ? ', the best' : `; the best is ${best || '–'}`}` +
      `${r.selectBy ? ` by ${r.selectBy}` : ''} · ${num(r.syntheticRows)} synthetic rows against ` +
      `${num(r.realRows)} real rows the training never saw`;
    const m = r.metrics || {};
    content.replaceChildren(
      el('div', { class: 'report-top' }, scoresCard(m), privacyCard(r)),
      r.utility ? utilityCard(r.utility) : el('section', { class: 'card muted', id: 'utility-none' },
        el('h2', {}, 'Utility'), 'No utility figures: the job names no target column (spec.target).'),
      historyCard(r), columnsCard(r), pairsCard(r));
    content.dataset.epoch = epoch;
  }

  async function load(epoch) {
    current = epoch;
    const my = ++ticket;
    message.textContent = '';
    note.hidden = false;
    content.classList.add('stale');
    try {
      let r = cache.get(epoch);
      if (!r) {
        r = await api(`/v1/jobs/${encodeURIComponent(id)}/report${epoch ? `?epoch=${encodeURIComponent(epoch)}` : ''}`);
        cache.set(epoch, r);
      }
      if (closed || my !== ticket) return;
      show(r);
    } catch (e) {
      if (closed || my !== ticket) return;
      message.textContent = `No report${epoch ? ` for epoch ${epoch}` : ''}: ${e.message}`;
      if (epochSel.options.length) epochSel.value = String(content.dataset.epoch || '');
    }
    note.hidden = true;
    content.classList.remove('stale');
  }
  load(epochParam);

  return {
    cleanup: () => { closed = true; destroyCharts(); },
    update: (epoch) => { if (epoch !== current) load(epoch); },
  };
}

// ---- New job form -----------------------------------------------------------

function parsePoints(text) {
  const rows = [];
  let dim = 0;
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const cells = t.split(/[\s,;]+/).filter(Boolean).map(Number);
    if (cells.some(Number.isNaN)) {
      if (rows.length === 0) return;  // a header
      throw new Error(`line ${i + 1}: not numbers: ${t.slice(0, 40)}`);
    }
    if (dim && cells.length !== dim) throw new Error(`line ${i + 1}: ${cells.length} values, expected ${dim}`);
    dim = cells.length;
    rows.push(cells);
  });
  if (rows.length < 2) throw new Error('the file needs at least 2 rows of numbers');
  return { dim, values: rows.flat() };
}

const sizes = (text) => text.split(/[\s,]+/).filter(Boolean).map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`hidden sizes: '${s}' is not an integer`);
  return n;
});

const names = (text) => String(text || '').split(',').map((s) => s.trim()).filter(Boolean);

function kib(bytes) {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// The model fields' defaults: the seed program's for point data sets,
// CTGAN's for tables (see JobSpec in gantry.proto).
const MODEL_DEFAULTS = {
  points: { lr: 0.001, batch: 32, latent: 2, ghidden: '16,32', dhidden: '256,128,64' },
  table: { lr: 0.0002, batch: 500, latent: 128, ghidden: '256,256', dhidden: '256,256' },
};

function renderNew() {
  const error = el('p', { class: 'error', role: 'alert', id: 'form-error' });
  const status = el('p', { class: 'muted', id: 'form-status' });
  const kind = el('select', { name: 'kind', id: 'f-kind' },
    KINDS.map((k) => el('option', { value: k }, KIND_LABELS[k] || k)));
  const file = el('input', { type: 'file', name: 'points', id: 'f-points', accept: '.csv,.txt,.tsv' });
  const fileLabel = el('label', { class: 'wide', hidden: true }, 'Points file (CSV or whitespace-separated, one point per line)', file);
  const tableFile = el('input', { type: 'file', name: 'table', id: 'f-table', accept: '.csv,.tsv,.txt,text/csv' });
  const field = (label, name, attrs) => el('label', {}, label, el('input', { name, id: `f-${name}`, ...attrs }));
  const sizeLabel = field('Dataset size', 'size', { type: 'number', min: 2, value: 1024 });
  const tableFields = el('fieldset', { class: 'wide table-fields', id: 'table-fields', hidden: true },
    el('legend', {}, 'Table'),
    el('label', { class: 'wide' }, 'CSV file (a header row; comma, semicolon, tab or | between fields)', tableFile),
    el('p', { class: 'muted wide hint' },
      'Column types are inferred; to override, list column names (comma-separated) under a type.'),
    OVERRIDES.map((o) => field(o[0].toUpperCase() + o.slice(1), o, { type: 'text', placeholder: 'col1, col2' })));
  const submit = el('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Submit job');
  const form = el('form', { class: 'job', id: 'new-job' },
    field('Name', 'name', { type: 'text', maxlength: 200, placeholder: 'optional' }),
    el('label', {}, 'Dataset', kind),
    sizeLabel,
    fileLabel,
    tableFields,
    field('Epochs', 'epochs', { type: 'number', min: 1, max: 100000, value: 300, required: true }),
    field('Seed', 'seed', { type: 'number', min: 0, value: 111 }),
    field('Learning rate', 'lr', { type: 'number', step: 'any', min: 0, value: MODEL_DEFAULTS.points.lr }),
    field('Batch size', 'batch', { type: 'number', min: 1, value: MODEL_DEFAULTS.points.batch }),
    field('Latent dimension', 'latent', { type: 'number', min: 1, max: 1024, value: MODEL_DEFAULTS.points.latent }),
    field('Generator hidden sizes', 'ghidden', { type: 'text', value: MODEL_DEFAULTS.points.ghidden }),
    field('Discriminator hidden sizes', 'dhidden', { type: 'text', value: MODEL_DEFAULTS.points.dhidden }),
    el('div', { class: 'wide actions' }, submit),
    el('div', { class: 'wide' }, status, error));

  let mode = 'points';
  kind.addEventListener('change', () => {
    const next = kind.value === 'table' ? 'table' : 'points';
    fileLabel.hidden = kind.value !== 'user';
    sizeLabel.hidden = kind.value === 'user' || kind.value === 'table';
    tableFields.hidden = next !== 'table';
    if (next !== mode) {
      // Switching between the point model and the table model: its defaults.
      for (const [k, v] of Object.entries(MODEL_DEFAULTS[next])) form.querySelector(`#f-${k}`).value = v;
      mode = next;
    }
  });

  // Uploads the table (POST /v1/tables, the file itself as the body) and
  // answers its TableInfo.
  async function upload(f) {
    status.textContent = `Uploading ${f.name} (${kib(f.size)})…`;
    try {
      return await api(`/v1/tables?name=${encodeURIComponent(f.name)}`, {
        method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: f });
    } catch (err) {
      throw new Error(`upload refused: ${err.message}`);
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    status.textContent = '';
    const f = new FormData(form);
    submit.disabled = true;
    try {
      const spec = {
        epochs: Number(f.get('epochs')), seed: String(f.get('seed')),
        learningRate: Number(f.get('lr')), batchSize: Number(f.get('batch')),
        latentDim: Number(f.get('latent')),
        generatorHidden: { sizes: sizes(f.get('ghidden')) },
        discriminatorHidden: { sizes: sizes(f.get('dhidden')) },
      };
      if (kind.value === 'user') {
        if (!file.files.length) throw new Error('choose a points file for a user dataset');
        spec.dataset = { kind: 'DATASET_KIND_USER', points: parsePoints(await file.files[0].text()) };
      } else if (kind.value === 'table') {
        if (!tableFile.files.length) throw new Error('choose a CSV file for a table dataset');
        const info = await upload(tableFile.files[0]);
        const schema = info.schema || {};
        status.textContent = `Uploaded ${info.name}: ${num(schema.rows)} rows, ` +
          `${(schema.columns || []).length} columns (table ${String(info.id).slice(0, 12)}…). Creating the job…`;
        const table = { tableId: info.id };
        for (const o of OVERRIDES) {
          const list = names(f.get(o));
          if (list.length) table[o] = list;
        }
        spec.dataset = { kind: 'DATASET_KIND_TABLE', table };
      } else {
        spec.dataset = { kind: `DATASET_KIND_${kind.value.toUpperCase()}`, size: Number(f.get('size')) };
      }
      const job = await api('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: f.get('name'), spec }) });
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      error.textContent = err.message;
      status.textContent = status.textContent.replace(/ Creating the job…$/, '');  // the upload stands
    }
    submit.disabled = false;
  });
  view.replaceChildren(el('section', { class: 'card' }, el('h1', {}, 'New job'), form));
  return () => {};
}

// ---- Router -------------------------------------------------------------------

// The shown view: its route key, how to leave it, and (the report) how to
// follow a change of its query without being drawn again.
let current = { key: '', cleanup: () => {}, update: null };

function route() {
  const hash = location.hash || '#/';
  const r = /^#\/jobs\/([^/?]+)\/report(?:\?(.*))?$/.exec(hash);
  const m = /^#\/jobs\/([^/?]+)$/.exec(hash);
  if (r) {
    const id = decodeURIComponent(r[1]);
    const epoch = new URLSearchParams(r[2] || '').get('epoch') || '';
    if (current.key === `report:${id}` && current.update) { current.update(epoch); return; }
    current.cleanup();
    current = { key: `report:${id}`, ...renderReport(id, epoch) };
    return;
  }
  current.cleanup();
  let cleanup;
  if (m) cleanup = renderJob(decodeURIComponent(m[1]));
  else if (hash === '#/new') { document.title = 'New job · gantry'; cleanup = renderNew(); }
  else { document.title = 'gantry'; cleanup = renderList(); }
  current = { key: hash, cleanup, update: null };
}

window.addEventListener('hashchange', route);
route();
