// Studies: hyper-parameter searches the server runs (server/studies/README.md).
//   #/studies     the list, newest first, refreshed every 2 s while one runs
//   #/studies/ID  a study: its spec and summary (Cancel, Delete, Replay best
//                 trial), every trial's objective by epoch, the trials
//                 (status, parameters, lineage, their segments' jobs), a
//                 leaderboard with the Pareto front of two metrics, and the
//                 best trial's samples over the real data (point studies).
// Polls GET /v1/studies[/ID] (HTTP has no study event stream).
import {
  view, api, num, el, age, when, stateName, stateBadge, ended, isTable, kindName, camel, lowerIsBetter,
  fmtMetric, finite, progress, toXY, equalAspect, epochMarkers, caller, mayNotChange, COLORS, PALETTE,
  POINT_METRICS, TABLE_METRICS,
} from './common.js';

const REFRESH_MS = 2000;       // while a study runs
const IDLE_REFRESH_MS = 10000; // the list, when none runs (a study created elsewhere shows up)
const PAGE_SIZE = 100;
const SAMPLE_COUNT = 500;
const SAMPLE_SEED = 1;
const MAX_LEGEND = 24;         // more trials than this: no legend (the tooltip names them)
// A trial's statuses (Trial.status), in the order a trial goes through them.
export const TRIAL_STATUSES = ['pending', 'queued', 'running', 'paused', 'stopped', 'done', 'failed', 'cancelled'];
const TRIAL_HELP = {
  pending: 'not started', queued: 'its job waits for a slot', running: 'training',
  paused: 'waits at a rung or for its generation', stopped: 'not promoted (or replaced, in PBT)',
  done: 'trained its last epoch', failed: 'its job failed', cancelled: 'the study was cancelled',
};
const ACTIVE = new Set(['queued', 'running']);

// ---- Formats ------------------------------------------------------------------

// The objective's direction: the spec's, else the metric's own.
const lowerBetter = (spec) => (spec && spec.direction ? spec.direction === 'min' : lowerIsBetter(spec && spec.objective));
const better = (spec) => (lowerBetter(spec) ? 'lower' : 'higher');
const objectiveText = (spec) => `${spec.objective || 'sliced_w1'} (${better(spec)} is better)`;
const baseOf = (s) => (s.spec && s.spec.base) || {};

function algorithmText(spec) {
  const a = spec.algorithm || 'grid';
  if (a === 'asha' || a === 'hyperband') return `${a} · min ${num(spec.minEpochs)} epochs, η ${num(spec.reductionFactor)}`;
  if (a === 'pbt') return `pbt · population ${num(spec.population)}, every ${num(spec.perturbInterval)} epochs`;
  return a;
}
function budgetText(spec) {
  const epochs = num(spec.maxEpochs) ? `${num(spec.maxEpochs)} epochs` : 'no epoch limit';
  return `${num(spec.maxTrials)} trials · ${epochs} · ${num(spec.concurrency)} at once`;
}
// A parameter's value, short: numbers to 3 significant digits.
function paramValue(v) {
  const s = String(v);
  if (!/^-?[\d.]+(e[-+]?\d+)?$/i.test(s) || /^-?\d+$/.test(s)) return s;
  const x = Number(s);
  return Number.isFinite(x) ? String(Number(x.toPrecision(3))) : s;
}
function spaceText(p) {
  if (p.kind === 'choice') return `${p.name} ∈ {${(p.values || []).join(' | ')}}`;
  return `${p.name} ${p.kind} ${paramValue(p.min)}..${paramValue(p.max)}`;
}
function datasetText(base) {
  const d = base.dataset || {};
  if (isTable(base)) return `table ${((d.table && d.table.tableId) || '').slice(0, 12)}…`;
  return `${kindName(d.kind)}${num(d.size) ? ` · ${num(d.size)} points` : ''}`;
}
const studyName = (s) => s.name || s.id;
// A timestamp, or '' when unset (a running study's end_time may read as the epoch, 1970).
const stamp = (t) => (t && Date.parse(t) > 0 ? t : '');
const stat = (key, value, wide = false) => el('div', { class: wide ? 'stat wide' : 'stat', 'data-stat': key },
  el('div', { class: 'k' }, key), el('div', { class: 'v' }, value === undefined || value === '' ? '–' : value));
const trialBadge = (status) => el('span', { class: `trial-status ${status || 'pending'}`, 'data-status': status || 'pending',
  title: TRIAL_HELP[status] || '' }, status || 'pending');
const ordered = (params) => Object.entries(params || {}).sort(([a], [b]) => a.localeCompare(b));
const jobLink = (jobId, text) => el('a', { href: `#/jobs/${encodeURIComponent(jobId)}` }, text || jobId);

// The metrics a study's trials carry: a point study's (and the modes of
// ring8 and grid25), a table study's (utility and dcr_share when present).
function metricsOf(study) {
  const base = baseOf(study);
  if (isTable(base)) {
    const seen = (m) => (study.trials || []).some((t) => t.metrics && finite(t.metrics[camel(m)]) !== null);
    return TABLE_METRICS.filter((m) => (m === 'utility' || m === 'dcr_share' ? seen(m) : true));
  }
  const kind = kindName(base.dataset && base.dataset.kind);
  return kind === 'ring8' || kind === 'grid25' ? [...POINT_METRICS, 'modes'] : POINT_METRICS;
}
function defaultAxes(study, metrics) {
  if (!isTable(baseOf(study))) return ['precision', 'coverage'];
  return metrics.includes('utility') ? ['quality', 'utility'] : ['column_shapes', 'column_pairs'];
}

// The trials no other trial dominates on metrics x and y (each in its own
// direction): at least as good on both, better on one. `points`: [{ x, y, ... }].
export function paretoFront(points, lowX, lowY) {
  const ge = (a, b, low) => (low ? a <= b : a >= b);
  const gt = (a, b, low) => (low ? a < b : a > b);
  return points.filter((p) => !points.some((q) => q !== p && ge(q.x, p.x, lowX) && ge(q.y, p.y, lowY)
    && (gt(q.x, p.x, lowX) || gt(q.y, p.y, lowY))));
}

function notFound(id, message) {
  document.title = 'Study not found · gantry';
  view.replaceChildren(el('section', { class: 'card', id: 'not-found' },
    el('h1', {}, 'Study not found'),
    el('p', {}, 'There is no study ', el('code', {}, id), ' on this server: it may have been deleted, or the link is wrong.'),
    el('p', { class: 'muted small' }, message),
    el('p', {}, el('a', { class: 'button', href: '#/studies' }, 'Back to the studies'))));
}

// ---- The list -------------------------------------------------------------------

export function renderStudies() {
  document.title = 'Studies · gantry';
  const body = el('tbody');
  const note = el('p', { class: 'empty', id: 'studies-note' }, 'Loading…');
  const count = el('span', { class: 'muted small', id: 'studies-count' });
  const moreBtn = el('button', { id: 'studies-more', hidden: true }, 'Load more');
  const th = (label, cls = '') => el('th', { class: cls }, label);
  view.replaceChildren(el('section', { class: 'card', id: 'studies-card' },
    el('div', { class: 'card-head' }, el('h1', {}, 'Studies'), count),
    el('p', { class: 'muted small intro' }, 'Hyper-parameter searches run by the server: it creates the trials, ',
      'stops the poor ones early and keeps the best by a held-out metric. Create one with ',
      el('code', {}, 'gantry study create'), ' or POST /v1/studies.'),
    el('div', { class: 'table-wrap' }, el('table', { id: 'studies' },
      el('thead', {}, el('tr', {}, th('Study'), th('Algorithm', 'hide-sm'), th('Objective', 'hide-sm'), th('State'),
        th('Trials'), th('Epochs', 'num hide-sm'), th('Best', 'num'), th('Age', 'hide-sm'))), body)),
    note, moreBtn));

  let studies = [];
  let pages = 1;
  let more = false;
  let lastKey = '';
  let drawnAt = 0;
  let timer = 0;
  let busy = false;
  let again = false;
  let stopped = false;

  function row(s) {
    const st = stateName(s.state);
    const spec = s.spec || {};
    const sum = s.summary || {};
    const best = finite(sum.bestObjective);
    const trials = num(sum.trials);
    const max = num(spec.maxTrials);
    return el('tr', { 'data-study': s.id, 'data-state': st, onclick: () => { location.hash = `#/studies/${encodeURIComponent(s.id)}`; } },
      el('td', { 'data-col': 'name' }, el('a', { href: `#/studies/${encodeURIComponent(s.id)}` }, studyName(s)),
        s.name ? el('div', { class: 'muted small' }, s.id) : null,
        el('div', { class: 'muted small' }, datasetText(spec.base || {}))),
      el('td', { class: 'hide-sm', 'data-col': 'algorithm' }, spec.algorithm || 'grid'),
      el('td', { class: 'hide-sm', 'data-col': 'objective' }, spec.objective || '–',
        el('div', { class: 'muted small' }, `${better(spec)} is better`)),
      el('td', { 'data-col': 'state' }, stateBadge(st)),
      el('td', { class: 'epoch', 'data-col': 'trials', 'data-trials': trials }, `${trials}/${max}`, progress(trials, max)),
      el('td', { class: 'num hide-sm', 'data-col': 'epochs' }, String(num(sum.epochsSpent)),
        num(spec.maxEpochs) ? el('span', { class: 'metric-name' }, ` /${num(spec.maxEpochs)}`) : null),
      el('td', { class: 'num best', 'data-col': 'best', 'data-best': best === null ? '' : best,
        title: best === null ? 'no result yet' : `best ${spec.objective} (${better(spec)} is better): trial ${num(sum.bestTrial)}` },
      best === null ? '–' : fmtMetric(best),
      best === null ? null : el('div', { class: 'metric-name' }, `trial ${num(sum.bestTrial)}`)),
      el('td', { class: 'hide-sm', 'data-col': 'age', title: s.createTime || '' }, age(s.createTime)));
  }

  function draw() {
    body.replaceChildren(...studies.map(row));
    count.textContent = `${studies.length} stud${studies.length === 1 ? 'y' : 'ies'}${more ? ', more on the server' : ''}`;
    note.className = 'empty';
    note.textContent = studies.length ? '' : 'No studies yet.';
    moreBtn.hidden = !more;
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    clearTimeout(timer);
    try {
      const got = [];
      let token = '';
      let page = 0;
      do {
        const q = [`page_size=${PAGE_SIZE}`];
        if (token) q.push(`page_token=${encodeURIComponent(token)}`);
        const r = await api(`/v1/studies?${q.join('&')}`);
        got.push(...(r.studies || []));
        token = r.nextPageToken || '';
        page += 1;
      } while (token && page < pages);
      if (stopped) return;
      more = Boolean(token);
      got.sort((a, b) => (Date.parse(b.createTime || 0) - Date.parse(a.createTime || 0)) || (a.id < b.id ? 1 : -1));
      // Redrawn when something changed, and now and then for the ages.
      const key = JSON.stringify(got) + more;
      if (key !== lastKey || Date.now() - drawnAt > 30_000) {
        lastKey = key;
        drawnAt = Date.now();
        studies = got;
        draw();
      }
    } catch (e) {
      if (stopped) return;
      note.textContent = `Cannot list studies: ${e.message}`;
      note.className = 'error';
      lastKey = '';
    } finally {
      busy = false;
      if (!stopped) {
        const running = studies.some((s) => stateName(s.state) === 'RUNNING');
        timer = setTimeout(refresh, running ? REFRESH_MS : IDLE_REFRESH_MS);
        if (again) { again = false; refresh(); }
      }
    }
  }
  moreBtn.addEventListener('click', () => { pages += 1; refresh(); });
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

// ---- A study ----------------------------------------------------------------------

function curvesChart(canvas) {
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: [] },
    plugins: [epochMarkers],
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      elements: { point: { radius: 3 }, line: { borderWidth: 2 } },
      interaction: { mode: 'nearest', intersect: false },
      scales: { x: { type: 'linear', beginAtZero: true, title: { display: true, text: 'epoch' } },
        y: { type: 'linear', title: { display: true, text: 'objective' } } },
      plugins: {
        epochMarkers: { lines: [] },
        // Trials in their order (the best one is drawn on top: its `order`).
        legend: { labels: { boxWidth: 14, boxHeight: 2, sort: (a, b) => a.datasetIndex - b.datasetIndex } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${fmtMetric(c.parsed.y)} at epoch ${c.parsed.x}` } },
      },
    },
  });
}

function paretoChart(canvas) {
  return new Chart(canvas, {
    type: 'scatter',
    data: { datasets: [
      { label: 'Pareto front', type: 'line', data: [], borderColor: COLORS.q, backgroundColor: COLORS.q,
        borderDash: [5, 3], borderWidth: 1.5, pointRadius: 0, order: 2, clip: false },
      { label: 'Pareto-optimal', data: [], backgroundColor: COLORS.q, borderColor: '#fff', borderWidth: 1,
        pointRadius: 6, pointHoverRadius: 8, order: 0, clip: false },
      { label: 'dominated', data: [], backgroundColor: 'rgba(91,100,114,0.45)', pointRadius: 4, order: 1, clip: false },
    ] },
    options: {
      animation: false, maintainAspectRatio: false,
      // Points on the frame (a metric's 0, say) are drawn whole.
      layout: { padding: 8 },
      scales: { x: { type: 'linear', title: { display: true, text: '' } },
        y: { type: 'linear', title: { display: true, text: '' } } },
      plugins: {
        legend: { labels: { boxWidth: 12, sort: (a, b) => a.datasetIndex - b.datasetIndex, filter: (item) => item.datasetIndex > 0 } },
        tooltip: { filter: (c) => c.datasetIndex > 0,
          callbacks: { label: (c) => `trial ${c.raw.trial}: ${fmtMetric(c.raw.x)}, ${fmtMetric(c.raw.y)}` } },
      },
    },
  });
}

function samplesChart(canvas) {
  return new Chart(canvas, {
    type: 'scatter',
    data: { datasets: [
      { label: 'real data', data: [], backgroundColor: COLORS.real, pointRadius: 2 },
      { label: 'generated', data: [], backgroundColor: COLORS.fake, pointRadius: 2.5 },
    ] },
    options: { animation: false, maintainAspectRatio: false, scales: { x: { type: 'linear' }, y: { type: 'linear' } } },
  });
}

export function renderStudy(id) {
  const enc = encodeURIComponent(id);
  const title = el('h1', { id: 'study-title' }, id);
  const badge = el('span', { id: 'study-state' });
  const progressText = el('span', { class: 'epoch muted', id: 'study-progress' });
  const bar = el('div');
  const studyError = el('p', { class: 'error', id: 'study-error', hidden: true });
  const message = el('p', { class: 'error', role: 'alert', id: 'study-message' });
  const cancelBtn = el('button', { class: 'danger', id: 'study-cancel', hidden: true }, 'Cancel');
  const replayBtn = el('button', { class: 'primary', id: 'study-replay', disabled: true,
    title: 'one job that retrains the best trial bit for bit' }, 'Replay best trial');
  const deleteBtn = el('button', { class: 'danger', id: 'study-delete', hidden: true }, 'Delete');
  const question = el('span', { id: 'study-delete-question' }, 'Delete this study and its jobs? This cannot be undone.');
  const keepBtn = el('button', { id: 'study-delete-keep' }, 'Keep');
  const confirmBtn = el('button', { class: 'danger', id: 'study-delete-confirm' }, 'Delete');
  const confirmBox = el('div', { class: 'confirm', id: 'study-delete-box', hidden: true, role: 'alertdialog',
    'aria-label': 'confirm delete' }, question, confirmBtn, keepBtn);
  const labels = el('div', { class: 'labels', id: 'study-labels' });
  const stats = el('div', { class: 'stats', id: 'study-stats' });
  const summary = el('div', { class: 'stats', id: 'study-summary' });
  const head = el('section', { class: 'card', id: 'study-head', 'data-state': '' },
    el('a', { class: 'small back', href: '#/studies' }, '← Studies'), title,
    el('div', { class: 'actions' }, badge, progressText), bar, studyError,
    el('div', { class: 'actions' }, replayBtn, cancelBtn, deleteBtn), confirmBox, message, labels,
    el('h3', {}, 'Search'), stats, el('h3', {}, 'Summary'), summary);

  // Every trial's objective by epoch.
  const curvesCanvas = el('canvas', { id: 'study-curves-canvas' });
  const curvesEmpty = el('div', { class: 'chart-empty' }, 'No trial has a result yet.');
  const curvesBox = el('div', { class: 'chart-box tall', id: 'study-curves', 'data-datasets': 0, 'data-points': 0 },
    curvesCanvas, curvesEmpty);
  const curvesTitle = el('h2', {}, 'Objective by epoch, every trial');
  const curvesNote = el('p', { class: 'muted small' }, 'Each point is a trial\'s result at a segment\'s last epoch, ',
    'on held-out data: its best evaluated epoch so far (PBT: that epoch\'s value); ',
    'the dashed line marks the study\'s best epoch.');
  const curvesCard = el('section', { class: 'card', id: 'curves-card' }, curvesTitle, curvesBox, curvesNote);
  // The best trial's samples (points) or a link to its report (tables).
  const samplesCanvas = el('canvas', { id: 'best-samples-canvas' });
  const samplesEmpty = el('div', { class: 'chart-empty' }, 'Drawn once a trial has a result.');
  const samplesBox = el('div', { class: 'chart-box scatter-box', id: 'best-samples', 'data-points': 0, 'data-job': '' },
    samplesCanvas, samplesEmpty);
  const samplesNote = el('p', { class: 'muted small', id: 'best-samples-note' }, 'No result yet.');
  const tableBest = el('div', { id: 'best-table', hidden: true });
  const samplesCard = el('section', { class: 'card', id: 'samples-card' }, el('h2', {}, 'The best trial\'s samples'),
    samplesNote, samplesBox, tableBest);
  // The trials.
  const trialsBody = el('tbody');
  const trialsCount = el('span', { class: 'muted small', id: 'trials-count' });
  const trialsCard = el('section', { class: 'card', id: 'trials-card' },
    el('div', { class: 'card-head' }, el('h2', {}, 'Trials'), trialsCount),
    el('div', { class: 'table-wrap' }, el('table', { class: 'data', id: 'trials' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Trial'), el('th', {}, 'Status'), el('th', { class: 'num' }, 'Epochs'),
        el('th', { class: 'num' }, 'Objective'), el('th', {}, 'Params'), el('th', {}, 'Lineage'), el('th', {}, 'Jobs'))),
      trialsBody)),
    el('p', { class: 'empty', id: 'trials-note' }, 'No trials yet.'));
  // The leaderboard and the Pareto front of two metrics.
  const xSel = el('select', { id: 'pareto-x', 'aria-label': 'first metric (x)' });
  const ySel = el('select', { id: 'pareto-y', 'aria-label': 'second metric (y)' });
  const paretoCanvas = el('canvas', { id: 'pareto-canvas' });
  const paretoEmpty = el('div', { class: 'chart-empty' }, 'No trial has a result yet.');
  const paretoBox = el('div', { class: 'chart-box', id: 'pareto-chart', 'data-points': 0 }, paretoCanvas, paretoEmpty);
  const paretoList = el('ol', { class: 'pareto-list', id: 'pareto-list' });
  const paretoHead = el('h3', {}, 'Pareto front');
  const paretoNote = el('p', { class: 'muted small' });
  const pareto = el('div', { id: 'pareto', 'data-pareto': 0 }, paretoHead, paretoNote, paretoList);
  const boardHead = el('tr');
  const boardBody = el('tbody');
  const boardCard = el('section', { class: 'card', id: 'board-card' },
    el('div', { class: 'card-head' }, el('h2', {}, 'Leaderboard and Pareto front'),
      el('div', { class: 'axes pick-metrics' }, el('label', { class: 'muted small' }, 'x ', xSel),
        el('label', { class: 'muted small' }, 'y ', ySel))),
    el('div', { class: 'pareto-grid' }, paretoBox, pareto),
    el('h3', {}, 'Trials by their latest objective'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'data', id: 'study-board' }, el('thead', {}, boardHead), boardBody)),
    el('p', { class: 'empty', id: 'board-note' }, 'No trial has a result yet.'));

  view.replaceChildren(head, el('div', { class: 'charts' }, curvesCard, samplesCard), trialsCard, boardCard);
  document.title = `${id} · gantry`;

  const curves = curvesChart(curvesCanvas);
  const front = paretoChart(paretoCanvas);
  const samples = samplesChart(samplesCanvas);
  let study = null;
  let lastKey = '';
  let samplesKey = '';
  let metrics = [];
  let timer = 0;
  let closed = false;
  let cleaned = false;
  const cleanupOnce = () => { if (!cleaned) { cleaned = true; cleanup(); } };

  function drawHead(s) {
    const st = stateName(s.state);
    const spec = s.spec || {};
    const base = baseOf(s);
    const sum = s.summary || {};
    const trials = s.trials || [];
    title.textContent = s.name ? `${s.name} (${s.id})` : s.id;
    document.title = `${studyName(s)} · gantry`;
    head.dataset.state = st;
    head.dataset.trials = trials.length;
    badge.replaceChildren(stateBadge(st));
    const over = trials.filter((t) => ['stopped', 'done', 'failed', 'cancelled'].includes(t.status)).length;
    const max = Math.max(num(spec.maxTrials), trials.length);
    progressText.textContent = `${over} of ${max} trials ended · ${num(sum.epochsSpent)} epochs spent`;
    bar.replaceChildren(progress(over, max));
    studyError.textContent = s.error || '';
    studyError.hidden = !s.error;
    cancelBtn.hidden = st !== 'RUNNING';
    deleteBtn.hidden = !ended(st);
    if (!ended(st)) confirmBox.hidden = true;
    const bestTrial = num(sum.bestTrial);
    replayBtn.textContent = bestTrial ? `Replay best trial (${bestTrial})` : 'Replay best trial';
    caller().then((who) => {
      if (closed) return;
      const why = mayNotChange(who, s);
      for (const b of [cancelBtn, deleteBtn]) {
        b.disabled = Boolean(why);
        b.title = why ? `You may not: ${why}.` : '';
      }
      const viewer = who.role === 'viewer';
      replayBtn.disabled = !bestTrial || viewer;
      replayBtn.title = viewer ? 'You may not: viewers only read.'
        : bestTrial ? `one job that retrains trial ${bestTrial} bit for bit` : 'no result yet';
    });
    labels.replaceChildren(...Object.entries(s.labels || {}).sort().map(([k, v]) =>
      el('span', { class: 'label', 'data-label': k }, `${k}=${v}`)));
    stats.replaceChildren(...[
      stat('algorithm', algorithmText(spec)),
      stat('objective', objectiveText(spec)),
      stat('budget', budgetText(spec), true),
      stat('seed', String(num(spec.seed))),
      stat('dataset', datasetText(base)),
      stat('epochs per trial', String(num(base.epochs))),
      stat('space', el('ul', { class: 'space' }, (spec.space || []).map((p) => el('li', { 'data-param': p.name }, spaceText(p)))), true),
      s.owner ? stat('owner', s.owner) : null,
      stat('created', when(stamp(s.createTime))),
      stamp(s.endTime) ? stat('ended', when(s.endTime)) : null].filter(Boolean));
    const best = finite(sum.bestObjective);
    summary.replaceChildren(
      stat('trials', String(num(sum.trials))),
      stat('jobs', String(num(sum.jobs))),
      stat('epochs spent', `${num(sum.epochsSpent)}${num(spec.maxEpochs) ? ` / ${num(spec.maxEpochs)}` : ''}`),
      stat('best trial', bestTrial ? String(bestTrial) : '–'),
      stat('best objective', best === null ? '–' : fmtMetric(best)),
      stat('best job', sum.bestJobId ? el('span', {}, jobLink(sum.bestJobId),
        el('span', { class: 'muted small' }, ` epoch ${num(sum.bestEpoch)}`)) : '–', true));
  }

  // One line per trial with an objective: its segments' (end epoch, objective).
  function drawCurves(s) {
    const sum = s.summary || {};
    const best = num(sum.bestTrial);
    const trials = s.trials || [];
    const many = trials.length > PALETTE.length;
    const datasets = [];
    for (const t of trials) {
      const n = num(t.number);
      const data = (t.segments || []).filter((g) => finite(g.objective) !== null)
        .map((g) => ({ x: num(g.endEpoch), y: Number(g.objective) })).sort((a, b) => a.x - b.x);
      if (!data.length) continue;
      const color = PALETTE[(n - 1) % PALETTE.length];
      datasets.push({ label: `trial ${n}`, trial: n, data, borderColor: color, backgroundColor: color,
        borderWidth: n === best ? 3.5 : 1.8, pointRadius: n === best ? 4 : 3,
        borderDash: many && n > PALETTE.length ? [6, 3] : [], order: n === best ? 0 : 1 });
    }
    curves.data.datasets = datasets;
    curves.options.scales.y.title.text = objectiveText(s.spec || {});
    curves.options.plugins.legend.display = datasets.length <= MAX_LEGEND;
    curves.options.plugins.epochMarkers.lines = best && num(sum.bestEpoch)
      ? [{ x: num(sum.bestEpoch), label: `best trial ${best}`, color: '#067647', dash: [4, 3] }] : [];
    curves.update('none');
    curvesEmpty.hidden = datasets.length > 0;
    curvesBox.dataset.datasets = datasets.length;
    curvesBox.dataset.points = datasets.reduce((k, d) => k + d.data.length, 0);
  }

  function lineage(t) {
    const n = num(t.number);
    const parts = (t.segments || []).filter((g) => num(g.parentTrial) && num(g.parentTrial) !== n)
      .map((g) => `copied ${num(g.parentTrial)} at ${num(g.startEpoch)}`);
    return parts.length ? parts.join(', ') : '–';
  }

  function drawTrials(s) {
    const sum = s.summary || {};
    const best = num(sum.bestTrial);
    const epochs = num(baseOf(s).epochs);
    const trials = [...(s.trials || [])].sort((a, b) => num(a.number) - num(b.number));
    trialsBody.replaceChildren(...trials.map((t) => {
      const n = num(t.number);
      const obj = finite(t.objective);
      const segs = t.segments || [];
      return el('tr', { 'data-trial': n, 'data-status': t.status || 'pending', class: n === best ? 'best-trial' : '' },
        el('td', { 'data-col': 'trial' }, el('span', { class: 'sw', style: `background:${PALETTE[(n - 1) % PALETTE.length]}` }),
          ` ${n}`, n === best ? el('span', { class: 'tag best' }, 'best') : null),
        el('td', { 'data-col': 'status' }, trialBadge(t.status)),
        el('td', { class: 'num', 'data-col': 'epochs' }, `${num(t.epochs)}`, el('span', { class: 'metric-name' }, `/${epochs}`)),
        el('td', { class: 'num', 'data-col': 'objective', 'data-objective': obj === null ? '' : obj }, obj === null ? '–' : fmtMetric(obj)),
        el('td', { class: 'params', 'data-col': 'params' }, ordered(t.params).map(([k, v]) =>
          el('span', { class: 'param', title: `${k} = ${v}` }, el('span', { class: 'muted' }, `${k}=`), paramValue(v)))),
        el('td', { class: 'lineage', 'data-col': 'lineage', 'data-none': lineage(t) === '–' ? '' : null }, lineage(t)),
        el('td', { class: 'segs', 'data-col': 'jobs' }, segs.map((g, k) => {
          const text = `${num(g.startEpoch)}→${num(g.endEpoch)}`;
          const st = stateName(g.state);
          const tip = `segment ${k}: epochs ${num(g.startEpoch) + 1}..${num(g.endEpoch)}` +
            (g.jobId ? `, job ${g.jobId} (${st})` : ', no job yet') +
            (num(g.parentTrial) && num(g.parentTrial) !== n ? `, from trial ${num(g.parentTrial)}'s checkpoint` : '');
          const copied = num(g.parentTrial) && num(g.parentTrial) !== n ? ' copied' : '';
          return g.jobId
            ? el('a', { class: `seg ${st}${copied}`, href: `#/jobs/${encodeURIComponent(g.jobId)}`, title: tip, 'data-job': g.jobId }, text)
            : el('span', { class: 'seg none', title: tip }, text);
        })));
    }));
    const by = {};
    for (const t of trials) by[t.status || 'pending'] = (by[t.status || 'pending'] || 0) + 1;
    trialsCount.textContent = TRIAL_STATUSES.filter((k) => by[k]).map((k) => `${by[k]} ${k}`).join(' · ');
    document.getElementById('trials-note').textContent = trials.length ? '' : 'No trials yet.';
  }

  function fillMetrics(s) {
    const list = metricsOf(s);
    if (list.join() === metrics.join()) return;
    const [dx, dy] = defaultAxes(s, list);
    const keep = (sel, d) => (list.includes(sel.value) ? sel.value : d);
    const vx = metrics.length ? keep(xSel, dx) : dx;
    const vy = metrics.length ? keep(ySel, dy) : dy;
    metrics = list;
    const opts = () => list.map((m) => el('option', { value: m }, `${m} (${lowerIsBetter(m) ? 'lower' : 'higher'} is better)`));
    xSel.replaceChildren(...opts());
    ySel.replaceChildren(...opts());
    xSel.value = vx;
    ySel.value = vy;
  }

  const metricValue = (t, m) => (t.metrics ? finite(t.metrics[camel(m)]) : null);

  function drawBoard(s) {
    const mx = xSel.value;
    const my = ySel.value;
    const lowX = lowerIsBetter(mx);
    const lowY = lowerIsBetter(my);
    const trials = s.trials || [];
    const pts = trials.filter((t) => t.metrics && metricValue(t, mx) !== null && metricValue(t, my) !== null)
      .map((t) => ({ x: metricValue(t, mx), y: metricValue(t, my), trial: num(t.number) }));
    const opt = paretoFront(pts, lowX, lowY);
    const onFront = new Set(opt.map((p) => p.trial));
    // The front as a line, from the best x to the worst.
    const line = [...opt].sort((a, b) => (lowX ? a.x - b.x : b.x - a.x) || (lowY ? a.y - b.y : b.y - a.y));
    front.data.datasets[0].data = line.map((p) => ({ x: p.x, y: p.y }));
    front.data.datasets[1].data = line;
    front.data.datasets[2].data = pts.filter((p) => !onFront.has(p.trial));
    front.options.scales.x.title.text = `${mx} (${lowX ? 'lower' : 'higher'} is better)`;
    front.options.scales.y.title.text = `${my} (${lowY ? 'lower' : 'higher'} is better)`;
    front.update('none');
    paretoBox.dataset.points = pts.length;
    paretoEmpty.hidden = pts.length > 0;
    boardCard.dataset.x = mx;
    boardCard.dataset.y = my;
    pareto.dataset.pareto = opt.length;
    pareto.dataset.trials = line.map((p) => p.trial).join(',');
    paretoHead.textContent = `Pareto front: ${opt.length} of ${pts.length} trial${pts.length === 1 ? '' : 's'}`;
    paretoNote.textContent = pts.length
      ? `No other trial is at least as good on both ${mx} and ${my} and better on one (their latest results).`
      : 'No trial has a result yet.';
    paretoList.replaceChildren(...line.map((p) => {
      const t = trials.find((x) => num(x.number) === p.trial);
      const job = t && [...(t.segments || [])].reverse().find((g) => g.jobId && g.metrics);
      return el('li', { 'data-trial': p.trial },
        el('span', { class: 'sw', style: `background:${PALETTE[(p.trial - 1) % PALETTE.length]}` }),
        el('strong', {}, ` trial ${p.trial}`),
        el('span', { class: 'muted small' }, ` · ${mx} ${fmtMetric(p.x)} · ${my} ${fmtMetric(p.y)}`),
        job ? el('span', { class: 'small' }, ' · ', jobLink(job.jobId, 'job')) : null);
    }));

    // The leaderboard: trials with a result, best objective first.
    const spec = s.spec || {};
    const low = lowerBetter(spec);
    const ranked = trials.filter((t) => finite(t.objective) !== null)
      .sort((a, b) => (low ? a.objective - b.objective : b.objective - a.objective) || num(a.number) - num(b.number));
    const best = num((s.summary || {}).bestTrial);
    boardHead.replaceChildren(el('th', {}, '#'), el('th', {}, 'Trial'), el('th', { class: 'hide-xs' }, 'Status'),
      el('th', { class: 'num hide-xs' }, 'Epochs'), el('th', { class: 'num key' }, `${spec.objective} (objective)`),
      ...metrics.filter((m) => m !== spec.objective).map((m) => el('th', {
        class: `num${m === mx || m === my ? ' picked' : ''}`, 'data-metric': m }, m)),
      el('th', { class: 'hide-xs' }, 'Pareto'));
    boardCard.querySelector('#board-note').textContent = ranked.length ? '' : 'No trial has a result yet.';
    boardBody.replaceChildren(...ranked.map((t, i) => {
      const n = num(t.number);
      return el('tr', { 'data-trial': n, class: onFront.has(n) ? 'pareto' : '' },
        el('td', {}, String(i + 1)),
        el('td', {}, `trial ${n}`, n === best ? el('span', { class: 'tag best' }, 'best') : null),
        el('td', { class: 'hide-xs' }, trialBadge(t.status)),
        el('td', { class: 'num hide-xs' }, String(num(t.epochs))),
        el('td', { class: 'num key' }, fmtMetric(t.objective)),
        ...metrics.filter((m) => m !== spec.objective).map((m) => el('td', {
          class: `num${m === mx || m === my ? ' picked' : ''}`, 'data-metric': m },
        m === 'modes' ? (t.metrics ? String(num(t.metrics.modes)) : '–') : fmtMetric(metricValue(t, m)))),
        el('td', { class: 'front hide-xs' }, onFront.has(n) ? el('span', { class: 'tag front', title: `on the ${mx}/${my} Pareto front` }, '★ front') : ''));
    }));
  }
  xSel.addEventListener('change', () => { if (study) drawBoard(study); });
  ySel.addEventListener('change', () => { if (study) drawBoard(study); });

  // The best trial's samples: a point study's best job's generator at the
  // study's best epoch (SAMPLE_COUNT points, seed SAMPLE_SEED) over the real
  // data, at equal aspect; a table study's best job's page and report.
  async function drawSamples(s) {
    const sum = s.summary || {};
    const jobId = sum.bestJobId || '';
    const key = `${jobId}@${num(sum.bestEpoch)}`;
    if (key === samplesKey) return;
    samplesKey = key;
    if (!jobId) {
      samplesNote.textContent = 'No result yet.';
      samplesBox.hidden = isTable(baseOf(s));
      return;
    }
    const best = num(sum.bestTrial);
    if (isTable(baseOf(s))) {
      samplesBox.hidden = true;
      samplesNote.textContent = `Trial ${best}'s best job is a table job: its rows, scores and privacy checks are on its pages.`;
      tableBest.replaceChildren(el('div', { class: 'actions' },
        el('a', { class: 'button primary', id: 'best-report-link', href: `#/jobs/${encodeURIComponent(jobId)}/report` }, 'Open its report'),
        el('a', { class: 'button', id: 'best-job-link', href: `#/jobs/${encodeURIComponent(jobId)}` }, `Job ${jobId}`)));
      tableBest.hidden = false;
      return;
    }
    samplesBox.classList.add('stale');
    try {
      const [smp, data] = await Promise.all([
        api(`/v1/jobs/${encodeURIComponent(jobId)}/samples?count=${SAMPLE_COUNT}&seed=${SAMPLE_SEED}` +
            (num(sum.bestEpoch) > 0 ? `&epoch=${num(sum.bestEpoch)}` : '')),
        api(`/v1/jobs/${encodeURIComponent(jobId)}/dataset?max_points=1000`)]);
      if (closed || key !== samplesKey) return;
      samples.data.datasets[0].data = toXY(data.points, 0, 1);
      samples.data.datasets[1].data = toXY(smp.points, 0, 1);
      samples.data.datasets[1].label = `generated (trial ${best}, epoch ${num(smp.epoch)})`;
      samples.update('none');
      equalAspect(samples);
      samplesEmpty.hidden = true;
      samplesBox.dataset.points = samples.data.datasets[1].data.length;
      samplesBox.dataset.job = jobId;
      samplesBox.dataset.epoch = num(smp.epoch);
      samplesNote.replaceChildren(`${SAMPLE_COUNT} points from trial ${best}'s job `, jobLink(jobId),
        ` (epoch ${num(smp.epoch)}, seed ${SAMPLE_SEED}) over the real data.`);
    } catch (e) {
      if (closed || key !== samplesKey) return;
      samplesKey = '';  // tried again at the next refresh
      samplesNote.textContent = `Cannot draw the samples: ${e.message}`;
    }
    samplesBox.classList.remove('stale');
  }

  function show(s) {
    const key = JSON.stringify(s);
    if (key === lastKey) return;
    lastKey = key;
    study = s;
    drawHead(s);
    drawCurves(s);
    drawTrials(s);
    fillMetrics(s);
    drawBoard(s);
    drawSamples(s);
  }

  // Polled every REFRESH_MS while the study runs, or while a trial's job is
  // still queued or running (a cancel's jobs end just after it).
  const live = (s) => stateName(s.state) === 'RUNNING' || (s.trials || []).some((t) => ACTIVE.has(t.status));
  let asked = 0;   // loads started
  let answered = 0;  // the latest load shown: an older answer never replaces it
  async function load() {
    clearTimeout(timer);
    const my = ++asked;
    try {
      const s = await api(`/v1/studies/${enc}`);
      if (closed || my < answered) return;
      answered = my;
      show(s);
      message.textContent = '';
    } catch (e) {
      if (closed) return;
      if (e.status === 404) { cleanupOnce(); notFound(id, e.message); return; }
      message.textContent = e.message;
    }
    if (!closed && (!study || live(study))) timer = setTimeout(load, REFRESH_MS);
  }

  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    try {
      const my = ++asked;
      const s = await api(`/v1/studies/${enc}:cancel`, { method: 'POST' });
      if (closed) return;
      if (my > answered) { answered = my; show(s); }
      message.textContent = '';
      // Its trials' jobs end just after: read it again.
      clearTimeout(timer);
      timer = setTimeout(load, 300);
    } catch (e) { message.textContent = e.message; }
    cancelBtn.disabled = false;
  });
  replayBtn.addEventListener('click', async () => {
    const trial = num(study && study.summary && study.summary.bestTrial);
    if (!trial) return;
    replayBtn.disabled = true;
    try {
      const job = await api(`/v1/studies/${enc}:replay`, { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ trial: String(trial) }) });
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (e) {
      message.textContent = e.message;
      replayBtn.disabled = false;
    }
  });
  deleteBtn.addEventListener('click', () => {
    const n = num(study && study.summary && study.summary.jobs);
    question.textContent = `Delete ${study && study.name ? `“${study.name}” (${id})` : id} and its ${n} job${n === 1 ? '' : 's'} ` +
      '(their events, snapshots and kept checkpoints)? This cannot be undone.';
    confirmBox.hidden = false;
    keepBtn.focus();
  });
  keepBtn.addEventListener('click', () => { confirmBox.hidden = true; });
  confirmBtn.addEventListener('click', async () => {
    try { await api(`/v1/studies/${enc}`, { method: 'DELETE' }); location.hash = '#/studies'; }
    catch (e) { message.textContent = e.message; confirmBox.hidden = true; }
  });

  load();

  function cleanup() {
    closed = true;
    clearTimeout(timer);
    for (const c of [curves, front, samples]) c.destroy();
  }
  return cleanupOnce;
}
