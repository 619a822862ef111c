// gantry dashboard: a job list, a job page with live charts (Chart.js) fed
// by Server-Sent Events, and a form that submits jobs. Talks only to
// gantryd's JSON API (/v1/...), with the session cookie when a token is set.
'use strict';

const view = document.getElementById('view');
const KINDS = ['sine', 'circle', 'ring8', 'grid25', 'two_moons', 'spiral', 'swiss_roll', 'user'];
// Exposed for tests and measurements: when each epoch's point was drawn.
window.gantryStats = { epochs: [] };

let cleanup = () => {};

// ---- API ----------------------------------------------------------------

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...options });
  if (res.status === 401) { location.href = '/login'; throw new Error('sign in first'); }
  const text = await res.text();
  const body = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
  return body;
}

const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
const stateName = (s) => (s || 'JOB_STATE_UNSPECIFIED').replace('JOB_STATE_', '');
const kindName = (k) => (k || 'DATASET_KIND_SINE').replace('DATASET_KIND_', '').toLowerCase();
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

// ---- Job page ---------------------------------------------------------------

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

  view.replaceChildren(
    el('section', { class: 'card' }, title,
      el('div', { class: 'actions' }, badge, epochText),
      bar,
      el('div', { class: 'actions' }, cancelBtn, samplesBtn, generatorBtn, deleteBtn),
      message, stats),
    el('div', { class: 'charts' },
      el('section', { class: 'card' }, el('h2', {}, 'Losses and quality by epoch'), lossBox),
      el('section', { class: 'card' }, el('h2', {}, 'Generated points over the real data'), axes, scatterBox)));

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
    const items = [
      ['dataset', `${kindName(spec.dataset && spec.dataset.kind)}`],
      ['loss D', fmt(l.lossD)], ['loss G', fmt(l.lossG)],
      ['D(real)', fmt(l.dReal, 3)], ['D(fake)', fmt(l.dFake, 3)],
      ['quality', fmt(l.quality)], ['s/epoch', fmt(l.seconds, 3)],
      ['lr', spec.learningRate], ['batch', spec.batchSize], ['seed', spec.seed],
    ];
    if (j.error) items.push(['error', j.error]);
    stats.replaceChildren(...items.map(([k, v]) => el('div', { class: 'stat' },
      el('div', { class: 'k' }, k), el('div', { class: 'v' }, v === undefined ? '–' : v))));
  }

  function drawScatter() {
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
      loss.data.datasets[2].data.push({ x: e, y: num(r.quality) });
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

function renderNew() {
  const error = el('p', { class: 'error', role: 'alert', id: 'form-error' });
  const kind = el('select', { name: 'kind', id: 'f-kind' }, KINDS.map((k) => el('option', { value: k }, k)));
  const file = el('input', { type: 'file', name: 'points', id: 'f-points', accept: '.csv,.txt,.tsv' });
  const fileLabel = el('label', { class: 'wide', hidden: true }, 'Points file (CSV or whitespace-separated, one point per line)', file);
  const field = (label, name, attrs) => el('label', {}, label, el('input', { name, id: `f-${name}`, ...attrs }));
  const form = el('form', { class: 'job', id: 'new-job' },
    field('Name', 'name', { type: 'text', maxlength: 200, placeholder: 'optional' }),
    el('label', {}, 'Dataset', kind),
    field('Dataset size', 'size', { type: 'number', min: 2, value: 1024 }),
    fileLabel,
    field('Epochs', 'epochs', { type: 'number', min: 1, max: 100000, value: 300, required: true }),
    field('Seed', 'seed', { type: 'number', min: 0, value: 111 }),
    field('Learning rate', 'lr', { type: 'number', step: 'any', min: 0, value: 0.001 }),
    field('Batch size', 'batch', { type: 'number', min: 1, value: 32 }),
    field('Generator hidden sizes', 'ghidden', { type: 'text', value: '16,32' }),
    field('Discriminator hidden sizes', 'dhidden', { type: 'text', value: '256,128,64' }),
    el('div', { class: 'wide actions' }, el('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Submit job')),
    el('div', { class: 'wide' }, error));
  kind.addEventListener('change', () => { fileLabel.hidden = kind.value !== 'user'; });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const f = new FormData(form);
    try {
      const spec = {
        epochs: Number(f.get('epochs')), seed: String(f.get('seed')),
        learningRate: Number(f.get('lr')), batchSize: Number(f.get('batch')),
        generatorHidden: { sizes: sizes(f.get('ghidden')) },
        discriminatorHidden: { sizes: sizes(f.get('dhidden')) },
      };
      if (kind.value === 'user') {
        if (!file.files.length) throw new Error('choose a points file for a user dataset');
        spec.dataset = { kind: 'DATASET_KIND_USER', points: parsePoints(await file.files[0].text()) };
      } else {
        spec.dataset = { kind: `DATASET_KIND_${kind.value.toUpperCase()}`, size: Number(f.get('size')) };
      }
      const job = await api('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: f.get('name'), spec }) });
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      error.textContent = err.message;
    }
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
