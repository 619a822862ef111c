// The table report page: GET /v1/jobs/{id}/report[?epoch=N] (a TableReport, proto JSON: zero
// fields are left out, so every figure is read with a default) drawn as
// scores, privacy, utility, scores by epoch, per-column distributions and
// association heatmaps. Route: #/jobs/ID/report[?epoch=N].
import {
  view, api, num, el, fmt, typeName, jobTabs, has, pct, scoreLevel, finite, epochMarkers,
} from './common.js';

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


// The privacy verdict's colour: its wording (core/table_eval.h), else dcr_share.
function verdictLevel(p) {
  const v = String(p.verdict || '').toLowerCase();
  if (/no sign/.test(v)) return 'ok';
  if (/cop(y|ies)/.test(v)) return 'bad';
  if (v) return 'warn';
  const s = num(p.dcrShare);
  return s <= 0.55 ? 'ok' : s <= 0.7 ? 'warn' : 'bad';
}

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

export function renderReport(id, epochParam) {
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

