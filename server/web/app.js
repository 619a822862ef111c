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

let cleanup = () => {};

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
        const page = await api(`/v1/jobs?page_size=1000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
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
          el('td', { class: 'num hide-sm' }, done ? fmt(latest.quality) : '–'),
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

  view.replaceChildren(
    el('section', { class: 'card' }, title,
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
    const ds = loss.data.datasets[2];
    ds.label = 'column distance (lower is better)';
    ds.pointRadius = 3;
    loss.options.scales.quality.title.text = 'column distance';
    loss.update('none');
    lossBox.dataset.metric = 'column_distance';
    chartTitle.textContent = 'Losses and column distance by epoch';
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
        ['column distance', fmt(l.quality)],
        ['best epoch', bestEpoch || '–'],
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
      else if (r.metrics) loss.data.datasets[2].data.push({ x: e, y: num(r.metrics.columnDistance) });
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

function route() {
  cleanup();
  const hash = location.hash || '#/';
  const m = /^#\/jobs\/([^/]+)$/.exec(hash);
  if (m) cleanup = renderJob(decodeURIComponent(m[1]));
  else if (hash === '#/new') cleanup = renderNew();
  else cleanup = renderList();
}

window.addEventListener('hashchange', route);
route();
