// Comparing jobs: the selected jobs' loss D, loss G and a held-out metric
// (their select_by by default) by epoch, each on one shared chart, a colour
// and a legend entry per job; and side by side, a sample of each job's
// latest generator over its real data, all at the same scale.
import {
  api, num, el, toXY, camel, selectBy, lowerIsBetter, isTable, POINT_METRICS, TABLE_METRICS, PALETTE,
  equalAspect, stateName, ended,
} from './common.js';

const SAMPLE_COUNT = 500;
const SAMPLE_SEED = 1;
const MAX_LIVE = 3;

function lineChart(canvas, title, jobs) {
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: jobs.map((j, i) => ({ label: j.name || j.id, jobId: j.id, data: [],
      borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length] })) },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      elements: { point: { radius: 0 }, line: { borderWidth: 2 } },
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: { x: { type: 'linear', title: { display: true, text: 'epoch' } },
        y: { type: 'linear', title: { display: true, text: title } } },
      plugins: { legend: { labels: { boxWidth: 14, boxHeight: 2 } } },
    },
  });
}

export function renderCompare(host, jobs, onClose) {
  const table = jobs.some((j) => isTable(j.spec));
  let metric = selectBy(jobs[0] && jobs[0].spec);
  const metricSel = el('select', { id: 'compare-metric', 'aria-label': 'metric' },
    (table ? TABLE_METRICS : POINT_METRICS).map((m) => el('option', { value: m }, m)));
  metricSel.value = metric;
  const closeBtn = el('button', { id: 'compare-close' }, 'Close');
  const box = (id) => {
    const canvas = el('canvas');
    return [el('div', { class: 'chart-box', id, 'data-points': 0 }, canvas), canvas];
  };
  const [dBox, dCanvas] = box('compare-loss-d');
  const [gBox, gCanvas] = box('compare-loss-g');
  const [mBox, mCanvas] = box('compare-metric-chart');
  const metricTitle = el('h3', {}, '');
  const samples = el('div', { class: 'sample-grid', id: 'compare-samples' });
  const panel = el('section', { class: 'card', id: 'compare-panel', 'data-jobs': jobs.map((j) => j.id).join(',') },
    el('div', { class: 'card-head' }, el('h2', {}, `Comparing ${jobs.length} job${jobs.length === 1 ? '' : 's'}`),
      el('div', { class: 'actions' }, el('label', { class: 'muted small' }, 'metric ', metricSel), closeBtn)),
    el('div', { class: 'compare-charts' },
      el('div', {}, el('h3', {}, 'loss D (mean)'), dBox),
      el('div', {}, el('h3', {}, 'loss G (mean)'), gBox),
      el('div', {}, metricTitle, mBox)),
    el('h3', {}, table ? 'Samples' : `Samples: ${SAMPLE_COUNT} points of each job's latest epoch (seed ${SAMPLE_SEED}) over its real data`),
    samples);
  host.replaceChildren(panel);

  const lossD = lineChart(dCanvas, 'loss D', jobs);
  const lossG = lineChart(gCanvas, 'loss G', jobs);
  const metricChart = lineChart(mCanvas, metric, jobs);
  metricChart.data.datasets.forEach((ds) => { ds.pointRadius = 2; });
  const history = jobs.map(() => []);  // per job: [{ epoch, lossD, lossG, metrics }]
  const sources = [];
  const scatters = [];
  let frame = 0;
  let closed = false;

  function setMetricTitle() {
    metricTitle.textContent = `${metric} (${lowerIsBetter(metric) ? 'lower' : 'higher'} is better), evaluated epochs`;
    metricChart.options.scales.y.title.text = metric;
  }
  setMetricTitle();

  function redraw() {
    frame = 0;
    if (closed) return;
    history.forEach((h, i) => {
      lossD.data.datasets[i].data = h.map((r) => ({ x: r.epoch, y: r.lossD }));
      lossG.data.datasets[i].data = h.map((r) => ({ x: r.epoch, y: r.lossG }));
      metricChart.data.datasets[i].data = h.filter((r) => r.metrics && r.metrics[camel(metric)] !== undefined)
        .map((r) => ({ x: r.epoch, y: Number(r.metrics[camel(metric)]) }));
    });
    for (const [c, b] of [[lossD, dBox], [lossG, gBox], [metricChart, mBox]]) {
      c.update('none');
      b.dataset.points = c.data.datasets.reduce((n, ds) => n + ds.data.length, 0);
    }
  }
  const later = () => { if (!frame) frame = requestAnimationFrame(redraw); };

  metricSel.addEventListener('change', () => { metric = metricSel.value; setMetricTitle(); redraw(); });
  closeBtn.addEventListener('click', () => { destroy(); host.replaceChildren(); if (onClose) onClose(); });

  // A browser opens at most 6 connections to a server: at most MAX_LIVE
  // running jobs are followed live; the others' curves stop at the events
  // they had when the comparison opened (an ended job's stream ends anyway).
  let live = 0;
  const stale = [];
  jobs.forEach((j, i) => {
    const follow = ended(stateName(j.state)) || live++ < MAX_LIVE;
    if (!follow) stale.push(j.name || j.id);
    const upTo = num(j.lastSeq);
    const source = new EventSource(`/v1/jobs/${encodeURIComponent(j.id)}/events`);
    sources.push(source);
    source.onmessage = (msg) => {
      const ev = JSON.parse(msg.data);
      if (!follow && num(ev.seq) >= upTo) source.close();
      if (ev.epoch) {
        const r = ev.epoch;
        history[i].push({ epoch: num(r.epoch), lossD: num(r.lossD), lossG: num(r.lossG), metrics: r.metrics });
        later();
      } else if (ev.state && ended(stateName(ev.state.state))) {
        source.close();
      }
    };
  });

  if (stale.length) {
    panel.insertBefore(el('p', { class: 'muted small', id: 'compare-stale' },
      `Not followed live (the browser's connections are few): ${stale.join(', ')}. Compare again for their newer epochs.`),
    panel.children[1]);
  }

  // Side-by-side samples (point jobs): each job's latest generator, one
  // seed, over its real data, at one shared scale.
  async function drawSamples() {
    const cells = jobs.map((j, i) => {
      const canvas = el('canvas');
      const b = el('div', { class: 'chart-box small-scatter', 'data-job': j.id, 'data-points': 0 }, canvas);
      const cap = el('figcaption', {}, el('span', { class: 'sw', style: `background:${PALETTE[i % PALETTE.length]}` }),
        ` ${j.name || j.id}`);
      samples.append(el('figure', { class: 'sample-cell' }, cap, b));
      return { j, i, b, canvas, cap };
    });
    const loaded = await Promise.all(cells.map(async (c) => {
      if (isTable(c.j.spec) || !num(c.j.epochsDone)) return { ...c, real: [], fake: [], note: isTable(c.j.spec) ? 'a table: no points' : 'no epoch yet' };
      try {
        const [s, d] = await Promise.all([
          api(`/v1/jobs/${encodeURIComponent(c.j.id)}/samples?count=${SAMPLE_COUNT}&seed=${SAMPLE_SEED}`),
          api(`/v1/jobs/${encodeURIComponent(c.j.id)}/dataset?max_points=1000`)]);
        return { ...c, real: toXY(d.points, 0, 1), fake: toXY(s.points, 0, 1), epoch: s.epoch };
      } catch (e) {
        return { ...c, real: [], fake: [], note: e.message };
      }
    }));
    if (closed) return;
    const all = loaded.flatMap((c) => [...c.real, ...c.fake]);
    for (const c of loaded) {
      if (c.note) c.cap.append(el('div', { class: 'muted small' }, c.note));
      else c.cap.append(el('span', { class: 'muted small' }, ` · epoch ${c.epoch}`));
      const chart = new Chart(c.canvas, {
        type: 'scatter',
        data: { datasets: [
          { label: 'real', data: c.real, backgroundColor: 'rgba(120,130,150,0.3)', pointRadius: 1.5 },
          { label: 'generated', data: c.fake, backgroundColor: PALETTE[c.i % PALETTE.length], pointRadius: 2 }] },
        options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } },
          scales: { x: { type: 'linear' }, y: { type: 'linear' } } },
      });
      scatters.push(chart);
      equalAspect(chart, all);
      c.b.dataset.points = c.fake.length;
    }
    samples.dataset.ready = '1';
  }
  drawSamples();

  function destroy() {
    closed = true;
    for (const s of sources) s.close();
    if (frame) cancelAnimationFrame(frame);
    for (const c of [lossD, lossG, metricChart, ...scatters]) c.destroy();
  }
  return { destroy };
}
