// The job page (#/jobs/ID): state, timings, labels, the full spec, losses
// by epoch and held-out metrics by epoch (each in its own chart), the
// scatter at equal aspect with an epoch slider over the kept snapshots, a
// "sample N from this epoch / best" control (draw or download CSV), the
// event log, alarms; a table job's columns and sample panel; a not-found
// page for an unknown id; Delete asks first.
import {
  view, api, num, el, fmt, pct, stateName, kindName, isTable, ended, stateBadge, progress, lossChart,
  scatterChart, toXY, download, jobTabs, alarmBadge, flattenSpec, duration, when, equalAspect,
  camel, selectBy, lowerIsBetter, fmtMetric, POINT_METRICS, epochMarkers, caller, mayNotChange,
} from './common.js';
import { columnsTable, samplePanel } from './table.js';

// The scatter's points when drawn from a snapshot (the slider or "Draw").
const DRAW_COUNT = 1000;
const METRIC_STYLE = {
  sliced_w1: ['#3358d4', 'dist'], mmd: ['#7048e8', 'dist'], precision: ['#0c8a5f', 'unit'],
  recall: ['#e8590c', 'unit'], density: ['#1098ad', 'unit'], coverage: ['#d6336c', 'unit'],
};

function metricsChart(canvas) {
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: POINT_METRICS.map((m) => ({
      label: `${m} (${lowerIsBetter(m) ? 'lower' : 'higher'} is better)`, key: m, data: [],
      borderColor: METRIC_STYLE[m][0], backgroundColor: METRIC_STYLE[m][0], yAxisID: METRIC_STYLE[m][1],
      borderDash: METRIC_STYLE[m][1] === 'dist' ? [] : [5, 3] })) },
    plugins: [epochMarkers],
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      elements: { point: { radius: 2 }, line: { borderWidth: 2 } },
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'epoch' } },
        dist: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'sliced W1, MMD' } },
        unit: { type: 'linear', position: 'right', suggestedMin: 0, suggestedMax: 1, grid: { drawOnChartArea: false },
          title: { display: true, text: 'precision, recall, density, coverage' } },
      },
      plugins: { epochMarkers: { lines: [] }, legend: { labels: { boxWidth: 14, boxHeight: 2 } } },
    },
  });
}

function notFound(id, message) {
  document.title = 'Job not found · gantry';
  view.replaceChildren(el('section', { class: 'card', id: 'not-found' },
    el('h1', {}, 'Job not found'),
    el('p', {}, 'There is no job ', el('code', {}, id), ' on this server: it may have been deleted, or the link is wrong.'),
    el('p', { class: 'muted small' }, message),
    el('p', {}, el('a', { class: 'button', href: '#/' }, 'Back to the jobs'))));
}

export function renderJob(id) {
  const title = el('h1', { id: 'job-title' }, id);
  const badge = el('span');
  const alarmSpan = el('span', { id: 'alarm-badge' });
  const epochText = el('span', { class: 'epoch' });
  const bar = el('div');
  const message = el('p', { class: 'error', role: 'alert', id: 'job-error' });
  const cancelBtn = el('button', { class: 'danger', id: 'cancel' }, 'Cancel');
  const deleteBtn = el('button', { class: 'danger', id: 'delete', hidden: true }, 'Delete');
  const generatorBtn = el('button', { id: 'download-generator' }, 'Download generator (.pt)');
  const confirmBox = el('div', { class: 'confirm', id: 'delete-confirm-box', hidden: true, role: 'alertdialog',
    'aria-label': 'confirm delete' },
  el('span', { id: 'delete-question' }, 'Delete this job, its events and its snapshots? This cannot be undone.'),
  el('button', { class: 'danger', id: 'delete-confirm' }, 'Delete'), el('button', { id: 'delete-keep' }, 'Keep'));
  const alarmList = el('ul', { class: 'alarms', id: 'alarms', hidden: true });
  const stats = el('div', { class: 'stats' });
  const timings = el('div', { class: 'stats', id: 'timings' });
  const labels = el('div', { class: 'labels', id: 'labels' });
  const lossCanvas = el('canvas', { id: 'loss-canvas' });
  const metricsCanvas = el('canvas', { id: 'metrics-canvas' });
  const scatterCanvas = el('canvas', { id: 'scatter-canvas' });
  const lossBox = el('div', { class: 'chart-box', id: 'loss-chart', 'data-points': 0 }, lossCanvas);
  const metricsBox = el('div', { class: 'chart-box', id: 'metrics-chart', 'data-points': 0 }, metricsCanvas);
  const scatterBox = el('div', { class: 'chart-box scatter-box', id: 'scatter-chart', 'data-points': 0, 'data-epoch': 'latest' }, scatterCanvas);
  const axX = el('select', { id: 'axis-x', 'aria-label': 'x coordinate' });
  const axY = el('select', { id: 'axis-y', 'aria-label': 'y coordinate' });
  const axes = el('div', { class: 'axes', hidden: true }, 'coordinates', axX, axY);
  // The epoch slider over the kept snapshots, and the sample control.
  const slider = el('input', { type: 'range', id: 'epoch-slider', min: 0, max: 0, step: 1, value: 0,
    'aria-label': 'epoch of the drawn snapshot', disabled: true });
  const sliderLabel = el('span', { id: 'epoch-label', class: 'muted small' }, 'live preview');
  const liveBtn = el('button', { id: 'scatter-live', type: 'button', hidden: true }, 'Back to live');
  const dCount = el('input', { id: 'd-count', type: 'number', min: 1, max: 1000000, value: 1000 });
  const dEpoch = el('select', { id: 'd-epoch' }, el('option', { value: 'latest' }, 'latest'),
    el('option', { value: 'best' }, 'best'));
  const dSeed = el('input', { id: 'd-seed', type: 'number', min: 0, placeholder: 'random' });
  const drawBtn = el('button', { id: 'd-draw', type: 'button' }, 'Draw on the scatter');
  const samplesBtn = el('button', { id: 'download-samples', type: 'submit', class: 'primary' }, 'Download samples (CSV)');
  const sampleError = el('p', { class: 'error', role: 'alert', id: 'd-error' });
  const sampleForm = el('form', { class: 'job sample', id: 'sample-form', novalidate: true },
    el('label', {}, 'Points', dCount), el('label', {}, 'Epoch', dEpoch), el('label', {}, 'Seed', dSeed),
    el('div', { class: 'wide actions' }, samplesBtn, drawBtn));
  const chartTitle = el('h2', { id: 'loss-title' }, 'Losses by epoch');
  const metricsTitle = el('h2', { id: 'metrics-title' }, 'Held-out metrics by epoch');
  const scatterTitle = el('h2', { id: 'scatter-title' }, 'Generated points over the real data');
  const scatterCard = el('section', { class: 'card', id: 'scatter-card' },
    scatterTitle, axes, scatterBox,
    el('div', { class: 'slider' }, el('label', { for: 'epoch-slider', class: 'small' }, 'kept epochs'), slider, sliderLabel, liveBtn),
    el('h3', {}, 'Sample from this epoch or the best'), sampleForm, sampleError);
  const metricsCard = el('section', { class: 'card', id: 'metrics-card' }, metricsTitle, metricsBox,
    el('p', { class: 'muted small', id: 'metrics-note' }, 'Evaluated epochs (epoch 1, every eval_every-th and the last).'));
  const charts = el('div', { class: 'charts' },
    el('div', { class: 'chart-col' }, el('section', { class: 'card' }, chartTitle, lossBox), metricsCard), scatterCard);
  const tableCards = el('div', { id: 'table-cards', hidden: true });
  const specBody = el('tbody');
  const specCard = el('section', { class: 'card', id: 'spec-card' }, el('h2', {}, 'Spec'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'data kv', id: 'spec' }, specBody)));
  const logList = el('ol', { class: 'event-log', id: 'event-log' });
  const logCard = el('section', { class: 'card', id: 'log-card' }, el('h2', {}, 'Event log'), logList);
  const tabs = jobTabs(id, 'training');
  tabs.hidden = true;  // table jobs only

  view.replaceChildren(
    el('section', { class: 'card', id: 'job-head' }, tabs, title,
      el('div', { class: 'actions' }, badge, epochText, alarmSpan),
      bar,
      el('div', { class: 'actions' }, cancelBtn, generatorBtn, deleteBtn),
      confirmBox, message, alarmList, labels, stats, el('h3', {}, 'Timings'), timings),
    charts, tableCards, el('div', { class: 'two-col' }, specCard, logCard));
  document.title = `${id} · gantry`;

  const loss = lossChart(lossCanvas);
  const metrics = metricsChart(metricsCanvas);
  const scatter = scatterChart(scatterCanvas);
  let job = null;
  let shownSeq = 0;
  let dataset = null;
  let lastPreview = null;
  let drawn = null;      // points drawn from a snapshot: { points, epoch, seed }
  let kept = [];         // kept snapshots' epochs (numbers, ascending)
  let keptAt = -1;       // epochs_done when `kept` was read
  let ax = 0;
  let ay = 1;
  let pending = [];   // epoch events not drawn yet
  let frame = 0;
  let source = null;
  let closed = false;
  let table = false;  // a table job: column distance, no scatter, columns and samples
  let point = false;  // a point job: the loss chart without quality, the metrics chart
  let tableName = '';
  const log = [];     // event log entries
  let alarms = [];
  let clock = 0;
  let cleaned = false;
  const cleanupOnce = () => { if (!cleaned) { cleaned = true; cleanup(); } };

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
    metricsCard.hidden = true;
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

  // A point job: losses alone on the loss chart; quality and the held-out
  // metrics on their own chart (their own axes).
  function setupPoints() {
    point = true;
    loss.data.datasets.splice(2, 1);
    delete loss.options.scales.quality;
    loss.update('none');
  }

  function datasetText(spec, j) {
    if (!isTable(spec)) {
      const rows = num(j.datasetRows);
      return kindName(spec.dataset && spec.dataset.kind) + (rows ? ` · ${rows} rows` : '');
    }
    const tid = (spec.dataset.table && spec.dataset.table.tableId) || '';
    const schema = j.tableSchema || {};
    const cols = (schema.columns || []).length;
    return `table ${tableName ? `${tableName} ` : ''}${tid.slice(0, 12)}… · ` +
      `${num(schema.rows || j.datasetRows)} rows × ${cols} columns`;
  }

  function drawSpec(j) {
    const rows = flattenSpec(j.spec || {});
    if (j.spec && j.spec.dataset && !j.spec.dataset.points && kindName(j.spec.dataset.kind) === 'user') {
      rows.push(['dataset.points', `${num(j.datasetRows)} training rows (points not shown)`]);
    }
    rows.sort((a, b) => a[0].localeCompare(b[0]));
    const shown = rows.filter(([, v]) => v !== '');
    specBody.replaceChildren(...shown.map(([k, v]) => el('tr', { 'data-key': k }, el('th', {}, k), el('td', {}, v))));
  }

  function drawTimings(j) {
    const st = stateName(j.state);
    const start = Date.parse(j.startTime || '') || null;
    const end = Date.parse(j.endTime || '') || null;
    const done = num(j.epochsDone);
    const total = num(j.spec && j.spec.epochs);
    const secs = start ? ((end || (ended(st) ? start : Date.now())) - start) / 1000 : null;
    const rate = secs && done ? done / secs : null;
    const items = [
      ['created', when(j.createTime)], ['started', when(j.startTime)], ['ended', when(j.endTime)],
      ['duration', secs === null ? '–' : duration(secs)],
      ['throughput', rate ? `${rate.toFixed(2)} epochs/s` : '–'],
    ];
    if (st === 'RUNNING') items.push(['ETA', rate ? `${duration((total - done) / rate)} (${total - done} epochs)` : '–']);
    if (st === 'QUEUED') items.push(['queued for', duration((Date.now() - Date.parse(j.createTime)) / 1000)]);
    timings.replaceChildren(...items.map(([k, v]) => el('div', { class: 'stat', 'data-timing': k },
      el('div', { class: 'k' }, k), el('div', { class: 'v' }, v))));
  }

  function drawAlarms(list) {
    if (!list || !list.length) return;
    alarms = list;
    alarmSpan.replaceChildren(alarmBadge(list));
    alarmList.replaceChildren(...list.map((a) => el('li', { 'data-kind': a.kind },
      el('strong', {}, a.kind), ` at epoch ${num(a.epoch)}: ${a.message}`)));
    alarmList.hidden = false;
  }

  // Shows the job as of event `seq` (a Job's lastSeq, or an event's seq);
  // an older view (e.g. a cancel's answer that arrives after the CANCELLED
  // event) never replaces a newer one.
  function showJob(j, seq = num(j.lastSeq)) {
    if (seq < shownSeq) return;
    shownSeq = seq;
    const first = !job;
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
    caller().then((who) => {
      // The server refuses what the role does not allow; the buttons say so first.
      const why = mayNotChange(who, j);
      for (const b of [cancelBtn, deleteBtn]) {
        b.disabled = Boolean(why);
        b.title = why ? `You may not: ${why}.` : '';
      }
    });
    if (!ended(st)) confirmBox.hidden = true;
    samplesBtn.disabled = generatorBtn.disabled = drawBtn.disabled = num(j.epochsDone) === 0;
    const l = j.latest || {};
    const spec = j.spec || {};
    if (isTable(spec) && !table) setupTable(j);
    if (!isTable(spec) && !point) setupPoints();
    const bestEpoch = num(l.bestEpoch) || num(j.bestEpoch);
    const best = (num(l.bestEpoch) ? l.bestMetrics : j.bestMetrics) || {};
    let items;
    if (table) {
      // An epoch event carries the best epoch so far; a Job carries it too.
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
      const metric = selectBy(spec);
      items = [
        ['dataset', datasetText(spec, j)],
        ['loss D', fmt(l.lossD)], ['loss G', fmt(l.lossG)],
        ['D(real)', fmt(l.dReal, 3)], ['D(fake)', fmt(l.dFake, 3)],
        ['quality', fmt(l.quality)],
        ['best epoch', bestEpoch || '–'],
        [`best ${metric}`, bestEpoch ? fmtMetric(best[camel(metric)]) : '–'],
        ['s/epoch', fmt(l.seconds, 3)],
        ['lr', spec.learningRate], ['batch', spec.batchSize], ['seed', spec.seed],
      ];
      if (bestEpoch) {
        metrics.options.plugins.epochMarkers.lines = [{ x: bestEpoch, label: `best ${bestEpoch}`, color: '#067647', dash: [4, 3] }];
        metricsTitle.textContent = `Held-out metrics by epoch · best epoch ${bestEpoch} by ${metric}`;
      }
    }
    if (j.owner) items.push(['owner', j.owner]);
    if (j.priority && j.priority !== 'PRIORITY_NORMAL') items.push(['priority', j.priority.replace('PRIORITY_', '').toLowerCase()]);
    if (j.stopReason) items.push(['stopped', j.stopReason]);
    if (j.error) items.push(['error', j.error]);
    stats.replaceChildren(...items.map(([k, v]) => el('div', {
      class: (table && k === 'dataset') || k === 'error' || k === 'stopped' ? 'stat wide' : 'stat', 'data-stat': k },
    el('div', { class: 'k' }, k), el('div', { class: 'v' }, v === undefined ? '–' : v))));
    // A study's trial (study=ID) and a replay (replay-of=ID) link to their study.
    labels.replaceChildren(...Object.entries(j.labels || {}).sort().map(([k, v]) => ((k === 'study' || k === 'replay-of') && /^st-/.test(v)
      ? el('a', { class: 'label', 'data-label': k, href: `#/studies/${encodeURIComponent(v)}`, title: 'open the study' }, `${k}=${v}`)
      : el('span', { class: 'label', 'data-label': k }, `${k}=${v}`))));
    drawAlarms(j.alarms || l.alarms);
    drawTimings(j);
    if (first) drawSpec(j);
    if (!table && (num(j.epochsDone) !== keptAt)) maybeLoadKept(j);
  }

  // ---- The event log: state changes, alarms, early stop; epochs collapsed into runs.
  let logFrame = 0;
  function addLog(ev) {
    const t = ev.time ? new Date(ev.time).toLocaleTimeString() : '';
    if (ev.epoch) {
      const e = num(ev.epoch.epoch);
      const last = log[log.length - 1];
      if (last && last.kind === 'epochs') { last.to = e; last.n += 1; last.t1 = t; } else log.push({ kind: 'epochs', from: e, to: e, n: 1, t0: t, t1: t });
    } else if (ev.state) {
      log.push({ kind: 'state', state: stateName(ev.state.state), error: ev.state.error, reason: ev.state.reason, t });
    } else if (ev.alarm) {
      log.push({ kind: 'alarm', alarm: ev.alarm, t });
    } else return;
    if (!logFrame) logFrame = requestAnimationFrame(drawLog);
  }
  function drawLog() {
    logFrame = 0;
    logList.replaceChildren(...log.map((x) => {
      if (x.kind === 'epochs') {
        return el('li', { class: 'log-epochs', 'data-kind': 'epochs' }, el('span', { class: 'muted small' }, x.t1),
          ` epochs ${x.from}${x.to !== x.from ? `–${x.to}` : ''} (${x.n} epoch${x.n === 1 ? '' : 's'})`);
      }
      if (x.kind === 'alarm') {
        return el('li', { class: 'log-alarm', 'data-kind': 'alarm' }, el('span', { class: 'muted small' }, x.t),
          ' ', el('strong', {}, `alarm ${x.alarm.kind}`), ` at epoch ${num(x.alarm.epoch)}: ${x.alarm.message}`);
      }
      return el('li', { class: 'log-state', 'data-kind': 'state', 'data-state': x.state },
        el('span', { class: 'muted small' }, x.t), ' ', el('span', { class: `state ${x.state}` }, x.state),
        x.reason ? ` stopped early: ${x.reason}` : '', x.error ? el('span', { class: 'error' }, ` ${x.error}`) : '');
    }));
    logList.dataset.entries = log.length;
  }

  // ---- The scatter: the live preview, or a snapshot's sample.
  function drawScatter() {
    if (table) return;
    if (dataset) scatter.data.datasets[0].data = toXY(dataset, ax, ay);
    const gen = drawn ? drawn.points : lastPreview;
    if (gen) scatter.data.datasets[1].data = toXY(gen, ax, ay);
    scatter.data.datasets[1].label = drawn ? `generated (epoch ${drawn.epoch}, seed ${drawn.seed})` : 'generated (latest epoch)';
    scatter.update('none');
    equalAspect(scatter);
    scatterBox.dataset.points = scatter.data.datasets[1].data.length;
    scatterBox.dataset.epoch = drawn ? drawn.epoch : 'latest';
    scatterBox.dataset.seed = drawn ? drawn.seed : '';
  }

  function setupAxes(dim, columns) {
    if (dim <= 2 || axX.options.length) return;
    for (let i = 0; i < dim; i++) {
      const name = (columns && columns[i]) || `x${i}`;
      axX.append(el('option', { value: i }, name));
      axY.append(el('option', { value: i }, name));
    }
    axX.value = '0'; axY.value = '1';
    axes.hidden = false;
    const change = () => { ax = Number(axX.value); ay = Number(axY.value); drawScatter(); };
    axX.addEventListener('change', change);
    axY.addEventListener('change', change);
  }

  // The kept snapshots' epochs: GET /v1/jobs/ID/snapshots; read again when
  // a checkpoint may have added one (every checkpoint_every epochs, the end).
  let keptBusy = false;
  async function maybeLoadKept(j) {
    const done = num(j.epochsDone);
    const every = num(j.spec && j.spec.checkpointEvery) || 10;
    const st = stateName(j.state);
    if (keptBusy || !done) return;
    if (keptAt >= 0 && !ended(st) && Math.floor(done / every) === Math.floor(keptAt / every)) return;
    keptBusy = true;
    keptAt = done;
    try {
      const r = await api(`/v1/jobs/${encodeURIComponent(id)}/snapshots`);
      setKept((r.epochs || []).map(Number));
    } catch (e) {
      if (e.status === 404 && job) {
        // A server without ListSnapshots: the epochs it keeps by its rule
        // (every checkpoint_every-th, the best, the last of an ended job).
        const list = [];
        for (let k = every; k <= done; k += every) list.push(k);
        if (num(job.bestEpoch)) list.push(num(job.bestEpoch));
        if (ended(st)) list.push(done);
        setKept(list);
      } else sliderLabel.textContent = `kept epochs unavailable: ${e.message}`;
    }
    keptBusy = false;
  }

  function setKept(list) {
    if (closed) return;
    const before = kept.join(',');
    kept = [...new Set(list)].filter((e) => e > 0).sort((a, b) => a - b);
    if (kept.join(',') === before) return;
    const at = drawn ? kept.indexOf(Number(drawn.epoch)) : -1;
    slider.max = Math.max(0, kept.length - 1);
    slider.value = at >= 0 ? at : kept.length - 1;
    slider.disabled = kept.length === 0;
    slider.dataset.epochs = kept.join(',');
    if (!drawn) sliderLabel.textContent = kept.length ? `live preview · ${kept.length} kept epochs` : 'no kept epochs yet';
    const chosen = dEpoch.value;
    dEpoch.replaceChildren(el('option', { value: 'latest' }, 'latest'), el('option', { value: 'best' }, 'best'),
      ...kept.map((e) => el('option', { value: e }, `epoch ${e}`)));
    dEpoch.value = [...dEpoch.options].some((o) => o.value === chosen) ? chosen : 'latest';
  }

  function sampleUrl(count, epoch, seed) {
    const q = [`count=${encodeURIComponent(count)}`];
    if (seed !== '') q.push(`seed=${encodeURIComponent(seed)}`);
    if (epoch === 'best') q.push('epoch=best');
    else if (epoch !== 'latest') q.push(`epoch=${encodeURIComponent(epoch)}`);
    return `/v1/jobs/${encodeURIComponent(id)}/samples?${q.join('&')}`;
  }

  // Draws a sample of `epoch` (a number, 'best' or 'latest') on the scatter.
  let ticket = 0;
  async function drawEpoch(epoch, count = DRAW_COUNT) {
    const my = ++ticket;
    const seed = dSeed.value.trim() || '1';
    sampleError.textContent = '';
    scatterBox.classList.add('stale');
    try {
      const r = await api(sampleUrl(count, String(epoch), seed));
      if (closed || my !== ticket) return;
      drawn = { points: r.points, epoch: String(num(r.epoch)), seed: String(r.seed) };
      sliderLabel.textContent = `epoch ${drawn.epoch} · ${num(r.points && r.points.values && r.points.values.length / Math.max(1, num(r.points.dim)))} points, seed ${drawn.seed}`;
      const at = kept.indexOf(num(r.epoch));
      if (at >= 0) slider.value = at;
      liveBtn.hidden = false;
      drawScatter();
    } catch (e) {
      if (my === ticket) sampleError.textContent = e.message;
    }
    scatterBox.classList.remove('stale');
  }
  let slideTimer = 0;
  slider.addEventListener('input', () => {
    const e = kept[Number(slider.value)];
    if (e === undefined) return;
    sliderLabel.textContent = `epoch ${e}…`;
    dEpoch.value = String(e);
    clearTimeout(slideTimer);
    slideTimer = setTimeout(() => drawEpoch(e), 120);
  });
  liveBtn.addEventListener('click', () => {
    ticket += 1;
    drawn = null;
    liveBtn.hidden = true;
    sliderLabel.textContent = `live preview · ${kept.length} kept epochs`;
    slider.value = Math.max(0, kept.length - 1);
    drawScatter();
  });
  drawBtn.addEventListener('click', () => {
    const c = Number(dCount.value);
    if (!Number.isInteger(c) || c < 1) { sampleError.textContent = 'points: a whole number, at least 1'; return; }
    drawEpoch(dEpoch.value, Math.min(c, 20000));
  });
  sampleForm.addEventListener('submit', (e) => {
    e.preventDefault();
    sampleError.textContent = '';
    const c = dCount.value.trim();
    if (!/^\d+$/.test(c) || Number(c) < 1) { sampleError.textContent = 'points: a whole number, at least 1'; return; }
    const s = dSeed.value.trim();
    if (s && !/^\d+$/.test(s)) { sampleError.textContent = 'seed: a whole number, 0 or more (empty: the server picks one)'; return; }
    download(sampleUrl(c, dEpoch.value, s), 'text/csv', `${id}-samples.csv`)
      .catch((err) => { sampleError.textContent = err.message; });
  });

  // Draws every pending epoch in one chart update per animation frame.
  function flush() {
    frame = 0;
    if (!pending.length || closed) return;
    const batch = pending;
    pending = [];
    let evaluated = false;
    for (const ev of batch) {
      const r = ev.epoch;
      const e = num(r.epoch);
      loss.data.datasets[0].data.push({ x: e, y: num(r.lossD) });
      loss.data.datasets[1].data.push({ x: e, y: num(r.lossG) });
      if (table) {
        if (r.metrics) {
          loss.data.datasets[2].data.push({ x: e, y: num(r.metrics.quality) });
          loss.data.datasets[3].data.push({ x: e, y: num(r.metrics.columnDistance) });
        }
      } else if (r.metrics) {
        evaluated = true;
        for (const ds of metrics.data.datasets) {
          const v = r.metrics[camel(ds.key)];
          if (v !== undefined && Number.isFinite(Number(v))) ds.data.push({ x: e, y: Number(v) });
        }
      }
      if (r.preview && num(r.preview.dim)) { lastPreview = r.preview; setupAxes(num(r.preview.dim)); }
    }
    loss.update('none');
    if (evaluated || !table) {
      metrics.update('none');
      metricsBox.dataset.points = metrics.data.datasets[0].data.length;
    }
    if (!drawn) drawScatter();
    lossBox.dataset.points = loss.data.datasets[0].data.length;
    const at = Date.now();
    for (const ev of batch) {
      window.gantryStats.epochs.push({ job: id, epoch: num(ev.epoch.epoch), eventTime: Date.parse(ev.time), drawnAt: at });
    }
  }

  function follow() {
    source = new EventSource(`/v1/jobs/${encodeURIComponent(id)}/events`);
    source.onmessage = (msg) => {
      const ev = JSON.parse(msg.data);
      addLog(ev);
      if (ev.epoch) {
        pending.push(ev);
        if (!frame) frame = requestAnimationFrame(flush);
        if (job) showJob({ ...job, epochsDone: ev.epoch.epoch, latest: ev.epoch, alarms: ev.epoch.alarms || job.alarms }, num(ev.seq));
      } else if (ev.alarm) {
        if (!alarms.some((a) => a.kind === ev.alarm.kind)) drawAlarms([...alarms, ev.alarm]);
      } else if (ev.state) {
        const st = stateName(ev.state.state);
        if (job) showJob({ ...job, state: ev.state.state, error: ev.state.error || job.error, stopReason: ev.state.reason || job.stopReason }, num(ev.seq));
        if (ended(st)) {
          source.close();
          api(`/v1/jobs/${encodeURIComponent(id)}`).then((j) => { showJob(j); keptAt = -1; maybeLoadKept(j); }).catch(() => {});
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
  deleteBtn.addEventListener('click', () => {
    document.getElementById('delete-question').textContent =
      `Delete ${job && job.name ? `“${job.name}” (${id})` : id}, its events and its snapshots? This cannot be undone.`;
    confirmBox.hidden = false;
    document.getElementById('delete-keep').focus();
  });
  document.getElementById('delete-keep').addEventListener('click', () => { confirmBox.hidden = true; });
  document.getElementById('delete-confirm').addEventListener('click', async () => {
    try { await api(`/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' }); location.hash = '#/'; }
    catch (e) { message.textContent = e.message; confirmBox.hidden = true; }
  });
  generatorBtn.addEventListener('click', () => download(
    `/v1/jobs/${encodeURIComponent(id)}/generator`, null, `${id}-generator.pt`)
    .catch((e) => { message.textContent = e.message; }));

  (async () => {
    try {
      showJob(await api(`/v1/jobs/${encodeURIComponent(id)}`));
    } catch (e) {
      if (closed) return;
      if (e.status === 404) { cleanupOnce(); notFound(id, e.message); return; }
      message.textContent = e.message;
      cancelBtn.disabled = generatorBtn.disabled = deleteBtn.disabled = samplesBtn.disabled = drawBtn.disabled = true;
      return;
    }
    follow();
    clock = setInterval(() => { if (job && !ended(stateName(job.state))) drawTimings(job); }, 1000);
    if (table) return;  // a table's rows are not points: no scatter
    try {
      dataset = (await api(`/v1/jobs/${encodeURIComponent(id)}/dataset?max_points=2000`)).points;
      if (dataset) setupAxes(num(dataset.dim), (job.spec.dataset || {}).columns);
      drawScatter();
    } catch (e) {
      message.textContent = e.message;
    }
  })();

  function cleanup() {
    closed = true;
    if (source) source.close();
    if (frame) cancelAnimationFrame(frame);
    if (logFrame) cancelAnimationFrame(logFrame);
    clearInterval(clock);
    clearTimeout(slideTimer);
    for (const c of [loss, metrics, scatter]) c.destroy();
  }
  return cleanupOnce;
}
