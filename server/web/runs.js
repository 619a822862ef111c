// The runs view (#/ and #/?state=..&sweep=..&label=..&q=..&page_size=..): the jobs, filtered
// on the server (state=, label_selector=) and searched here (name or id),
// sorted by any column, a page of 100 (or page_size) at a time ("Load more" follows
// next_page_token), refreshed every 2 s with If-None-Match (an unchanged
// page answers 304: a few hundred bytes); checkboxes and "Compare" (the
// overlay in compare.js); a leaderboard when filtered to a sweep.
import {
  view, api, num, el, fmt, pct, has, stateName, kindName, isTable, stateBadge, progress, age,
  selectBy, bestValue, byBest, lowerIsBetter, fmtMetric, camel, alarmBadge, flattenSpec,
  POINT_METRICS, TABLE_METRICS,
} from './common.js';
import { renderCompare } from './compare.js';

const PAGE_SIZE = 100;
const REFRESH_MS = 2000;
const STATES = ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
// Exposed for tests and measurements: the list's requests (URL, status as
// the page saw it, bytes transferred per Resource Timing).
window.gantryStats.list = [];

// The list's quality: a point job's latest sliced W1 (lower is better); a
// table job's best epoch's quality score (higher is better) once evaluated.
// One value for both the cell and the column's sort, so the order matches
// what is shown; null when there is none yet.
function tableQuality(job) {
  const best = job.bestMetrics || {};
  return isTable(job.spec) && num(job.bestEpoch) && has(best, 'quality');
}
function qualityValue(job) {
  if (tableQuality(job)) return num(job.bestMetrics.quality);
  return num(job.epochsDone) ? num((job.latest || {}).quality) : null;
}
function qualityCell(job, done) {
  if (tableQuality(job)) {
    const best = job.bestMetrics;
    return el('td', { class: 'num hide-sm', 'data-col': 'quality', 'data-quality': qualityValue(job),
      title: `quality score of the best epoch (${job.bestEpoch}), higher is better` }, pct(best.quality));
  }
  return el('td', { class: 'num hide-sm', 'data-col': 'quality' }, done ? fmt((job.latest || {}).quality) : '–');
}

function bestCell(job) {
  const v = bestValue(job);
  const metric = selectBy(job.spec);
  return el('td', { class: 'num best', 'data-col': 'best', 'data-best': v === null ? '' : v,
    title: v === null ? `no evaluation yet (${metric})`
      : `best ${metric} ${lowerIsBetter(metric) ? '(lower is better)' : '(higher is better)'} at epoch ${job.bestEpoch}` },
  v === null ? '–' : fmtMetric(v), v === null ? null : el('span', { class: 'metric-name' }, ` ${metric}`));
}

// Sortable columns: [key, header, value of a job for sorting, class].
const COLUMNS = [
  ['name', 'Job', (j) => (j.name || j.id).toLowerCase(), ''],
  ['dataset', 'Dataset', (j) => kindName(j.spec && j.spec.dataset && j.spec.dataset.kind), 'hide-sm'],
  ['state', 'State', (j) => stateName(j.state), ''],
  ['epoch', 'Epoch', (j) => num(j.epochsDone), ''],
  ['best', 'Best', (j) => bestValue(j), 'num'],
  ['lossD', 'Loss D', (j) => (num(j.epochsDone) ? num((j.latest || {}).lossD) : null), 'num hide-sm'],
  ['lossG', 'Loss G', (j) => (num(j.epochsDone) ? num((j.latest || {}).lossG) : null), 'num hide-sm'],
  ['quality', 'Quality', qualityValue, 'num hide-sm'],
  ['age', 'Age', (j) => -Date.parse(j.createTime || 0), 'hide-sm'],
];

function parseQuery(q) {
  const p = new URLSearchParams(q || '');
  const size = Number(p.get('page_size'));
  return { state: p.get('state') || '', sweep: p.get('sweep') || '', label: p.get('label') || '', q: p.get('q') || '',
    page_size: Number.isInteger(size) && size >= 1 && size <= 1000 ? String(size) : '' };
}

export function renderRuns(query) {
  const filters = parseQuery(query);
  const selected = new Set();
  let sort = { key: '', dir: 1 };  // '' : the server's order, newest first
  let jobs = [];        // every loaded page's rows, in the server's order
  let pages = 1;        // pages loaded ("Load more" adds one)
  let more = false;     // the last loaded page has a next_page_token
  let lastKey = '';     // the ETags of the pages last drawn
  const sweeps = new Set(filters.sweep ? [filters.sweep] : []);
  let compare = null;
  let gen = 0;          // bumped when the filters or the pages change: an older refresh's answer is dropped

  const stateSel = el('select', { id: 'filter-state', 'aria-label': 'state' },
    STATES.map((s) => el('option', { value: s }, s || 'any state')));
  stateSel.value = filters.state;
  const sweepSel = el('select', { id: 'filter-sweep', 'aria-label': 'sweep' });
  const labelIn = el('input', { id: 'filter-label', type: 'text', placeholder: 'label: key=value,key=value',
    'aria-label': 'label selector', value: filters.label });
  const search = el('input', { id: 'filter-search', type: 'search', placeholder: 'search name or id',
    'aria-label': 'search by name or id', value: filters.q });
  const compareBtn = el('button', { id: 'compare', class: 'primary', disabled: true }, 'Compare');
  const clearBtn = el('button', { id: 'clear-selection', hidden: true }, 'Clear selection');
  const head = el('tr', {});
  const body = el('tbody');
  const note = el('p', { class: 'empty', id: 'list-note' }, 'Loading…');
  const moreBtn = el('button', { id: 'load-more', hidden: true }, 'Load more');
  const board = el('section', { class: 'card', id: 'leaderboard-card', hidden: true });
  const compareHost = el('div', { id: 'compare-host' });
  const allBox = el('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'select all shown jobs' });
  head.append(el('th', { class: 'sel' }, allBox), ...COLUMNS.map(([key, label, , cls]) =>
    el('th', { class: `sortable ${cls}`, 'data-sort': key, role: 'button', tabindex: 0,
      title: 'sort by this column' }, label)));
  view.replaceChildren(
    el('section', { class: 'card', id: 'runs' },
      el('div', { class: 'card-head' }, el('h1', {}, 'Jobs'), el('span', { class: 'muted small', id: 'list-count' })),
      el('div', { class: 'filters' }, stateSel, sweepSel, labelIn, search),
      el('div', { class: 'actions' }, compareBtn, clearBtn),
      el('div', { class: 'table-wrap' }, el('table', { id: 'jobs' }, el('thead', {}, head), body)),
      note, moreBtn),
    board, compareHost);

  function fillSweeps() {
    const have = [...sweepSel.options].map((o) => o.value);
    const want = ['', ...[...sweeps].sort()];
    if (have.join('\n') === want.join('\n')) return;
    sweepSel.replaceChildren(...want.map((s) => el('option', { value: s }, s ? `sweep ${s}` : 'any sweep')));
    sweepSel.value = filters.sweep;
  }
  fillSweeps();

  // Filters live in the URL (#/?state=..), so a filtered view can be shared and reloaded.
  function setFilters() {
    const p = new URLSearchParams();
    for (const k of ['state', 'sweep', 'label', 'q', 'page_size']) if (filters[k]) p.set(k, filters[k]);
    const hash = p.toString() ? `#/?${p}` : '#/';
    if (location.hash !== hash && !(hash === '#/' && !location.hash)) history.replaceState(null, '', hash);
  }
  const serverChange = () => {
    filters.state = stateSel.value;
    filters.sweep = sweepSel.value;
    filters.label = labelIn.value.trim();
    setFilters();
    pages = 1;
    lastKey = '';
    jobs = [];
    gen += 1;
    body.replaceChildren();
    drawBoard();
    note.textContent = 'Loading…';
    note.className = 'empty';
    refresh();
  };
  stateSel.addEventListener('change', serverChange);
  sweepSel.addEventListener('change', serverChange);
  labelIn.addEventListener('change', serverChange);
  search.addEventListener('input', () => { filters.q = search.value.trim(); setFilters(); draw(); });
  moreBtn.addEventListener('click', () => { pages += 1; gen += 1; refresh(); });
  head.addEventListener('click', (e) => {
    const th = e.target.closest('th[data-sort]');
    if (!th) return;
    const key = th.dataset.sort;
    sort = sort.key === key ? { key, dir: -sort.dir } : { key, dir: 1 };
    draw();
  });
  head.addEventListener('keydown', (e) => { if (e.key === 'Enter') e.target.click(); });
  allBox.addEventListener('change', () => {
    for (const j of shown()) { if (allBox.checked) selected.add(j.id); else selected.delete(j.id); }
    draw();
  });
  clearBtn.addEventListener('click', () => { selected.clear(); draw(); });
  compareBtn.addEventListener('click', () => {
    const chosen = jobs.filter((j) => selected.has(j.id));
    if (compare) compare.destroy();
    compare = renderCompare(compareHost, chosen, () => { compare = null; });
    compareHost.scrollIntoView({ behavior: 'instant', block: 'start' });
  });

  function selector() {
    const terms = [];
    if (filters.sweep) terms.push(`sweep=${filters.sweep}`);
    if (filters.label) terms.push(filters.label);
    return terms.join(',');
  }

  function shown() {
    const q = filters.q.toLowerCase();
    let list = q ? jobs.filter((j) => j.id.toLowerCase().includes(q) || (j.name || '').toLowerCase().includes(q)) : jobs;
    if (sort.key) {
      const value = COLUMNS.find((c) => c[0] === sort.key)[2];
      list = [...list].sort((a, b) => {
        const va = value(a);
        const vb = value(b);
        if (va === null || vb === null) return (va === null) - (vb === null);  // blanks last
        return (va < vb ? -1 : va > vb ? 1 : 0) * sort.dir;
      });
    }
    return list;
  }

  function row(job) {
    const st = stateName(job.state);
    const latest = job.latest || {};
    const total = num(job.spec && job.spec.epochs);
    const done = num(job.epochsDone);
    const box = el('input', { type: 'checkbox', class: 'pick', 'aria-label': `select ${job.name || job.id}`,
      checked: selected.has(job.id) });
    box.addEventListener('click', (e) => e.stopPropagation());
    box.addEventListener('change', () => { if (box.checked) selected.add(job.id); else selected.delete(job.id); updateActions(); });
    const sweep = (job.labels || {}).sweep;
    return el('tr', { 'data-job': job.id, onclick: () => { location.hash = `#/jobs/${job.id}`; } },
      el('td', { class: 'sel' }, box),
      el('td', { 'data-col': 'name' }, el('a', { href: `#/jobs/${job.id}` }, job.name || job.id),
        alarmBadge(job.alarms),
        job.name ? el('div', { class: 'muted small' }, job.id) : null,
        sweep ? el('div', { class: 'muted small' }, `sweep ${sweep}`) : null),
      el('td', { class: 'hide-sm', 'data-col': 'dataset' }, kindName(job.spec && job.spec.dataset && job.spec.dataset.kind)),
      el('td', { 'data-col': 'state' }, stateBadge(st)),
      el('td', { class: 'epoch', 'data-col': 'epoch' }, `${done}/${total}`, progress(done, total)),
      bestCell(job),
      el('td', { class: 'num hide-sm', 'data-col': 'lossD' }, done ? fmt(latest.lossD) : '–'),
      el('td', { class: 'num hide-sm', 'data-col': 'lossG' }, done ? fmt(latest.lossG) : '–'),
      qualityCell(job, done),
      el('td', { class: 'hide-sm', 'data-col': 'age', title: job.createTime || '' }, age(job.createTime)));
  }

  function updateActions(list = shown()) {
    const n = jobs.filter((j) => selected.has(j.id)).length;
    compareBtn.disabled = n === 0;
    compareBtn.textContent = n ? `Compare ${n} job${n === 1 ? '' : 's'}` : 'Compare';
    clearBtn.hidden = n === 0;
    allBox.checked = list.length > 0 && list.every((j) => selected.has(j.id));
  }

  function draw() {
    const list = shown();
    body.replaceChildren(...list.map(row));
    for (const th of head.querySelectorAll('th[data-sort]')) {
      const on = th.dataset.sort === sort.key;
      th.classList.toggle('sorted', on);
      th.setAttribute('aria-sort', on ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      th.dataset.dir = on ? (sort.dir > 0 ? 'asc' : 'desc') : '';
    }
    document.getElementById('list-count').textContent =
      `${list.length} shown${list.length !== jobs.length ? ` of ${jobs.length} loaded` : ''}${more ? ', more on the server' : ''}`;
    if (!jobs.length) {
      const filtered = filters.state || filters.sweep || filters.label;
      note.textContent = filtered ? 'No jobs match these filters.' : 'No jobs yet. Submit one with “New job”.';
    } else note.textContent = list.length ? '' : 'No loaded job matches the search.';
    moreBtn.hidden = !more;
    updateActions(list);
  }

  // The leaderboard of a sweep: its jobs by their best select_by value,
  // the metric columns, and the spec fields that differ between them.
  function drawBoard() {
    if (!filters.sweep || !jobs.length) { board.hidden = true; return; }
    const ranked = [...jobs].sort(byBest);
    const table = ranked.some((j) => isTable(j.spec));
    // ring8 and grid25 count the modes their samples cover (Metrics.modes).
    const modes = !table && ranked.some((j) => j.bestMetrics && j.bestMetrics.modes !== undefined);
    const metrics = table ? TABLE_METRICS : [...POINT_METRICS, ...(modes ? ['modes'] : [])];
    const flat = ranked.map((j) => new Map(flattenSpec(j.spec)));
    const keys = [...new Set(flat.flatMap((m) => [...m.keys()]))]
      .filter((k) => new Set(flat.map((m) => m.get(k) ?? '')).size > 1);
    const metric = selectBy(ranked[0].spec);
    board.replaceChildren(
      el('h2', {}, `Leaderboard: sweep ${filters.sweep}`),
      el('p', { class: 'muted small' }, `Ranked by the best ${metric} ` +
        `(${lowerIsBetter(metric) ? 'lower' : 'higher'} is better) over each job's evaluated epochs; ` +
        (keys.length ? 'the spec fields that differ between the jobs on the right.' : 'the jobs\' specs are the same.')),
      el('div', { class: 'table-wrap' }, el('table', { id: 'leaderboard', class: 'data' },
        el('thead', {}, el('tr', {}, el('th', {}, '#'), el('th', {}, 'Job'), el('th', {}, 'State'),
          el('th', { class: 'num' }, 'Best epoch'),
          metrics.map((m) => el('th', { class: `num${m === metric ? ' key' : ''}`, 'data-metric': m }, m)),
          keys.map((k) => el('th', { class: 'param', 'data-param': k }, k)))),
        el('tbody', {}, ranked.map((j, i) => el('tr', { 'data-job': j.id },
          el('td', {}, String(i + 1)),
          el('td', {}, el('a', { href: `#/jobs/${j.id}` }, j.name || j.id), alarmBadge(j.alarms)),
          el('td', {}, stateBadge(stateName(j.state))),
          el('td', { class: 'num' }, num(j.bestEpoch) ? String(num(j.bestEpoch)) : '–'),
          metrics.map((m) => el('td', { class: `num${m === metric ? ' key' : ''}`, 'data-metric': m },
            !num(j.bestEpoch) || !j.bestMetrics ? '–'
              : m === 'modes' ? String(num(j.bestMetrics.modes)) : fmtMetric(j.bestMetrics[camel(m)]))),
          keys.map((k) => el('td', { 'data-param': k }, flat[i].get(k) ?? '–'))))))));
    board.hidden = false;
  }

  let stopped = false;
  let busy = false;
  let again = false;  // a refresh was asked for while one was in flight
  let drawnAt = 0;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    const my = gen;
    try {
      const got = [];
      const etags = [];
      let token = '';
      let page = 0;
      const sel = selector();
      do {
        const q = [`view=summary`, `page_size=${filters.page_size || PAGE_SIZE}`];
        if (filters.state) q.push(`state=${filters.state}`);
        if (sel) q.push(`label_selector=${encodeURIComponent(sel)}`);
        if (token) q.push(`page_token=${encodeURIComponent(token)}`);
        const url = `/v1/jobs?${q.join('&')}`;
        // no-cache: the browser revalidates with the ETag it kept (If-None-Match)
        // and an unchanged page comes back 304, answered from its cache.
        const res = await api(url, { cache: 'no-cache', withResponse: true });
        const timing = performance.getEntriesByName(new URL(url, location.href).href).pop();
        window.gantryStats.list.push({ url, etag: res.etag, transferSize: timing ? timing.transferSize : null,
          bodySize: timing ? timing.encodedBodySize : null });
        if (window.gantryStats.list.length > 500) window.gantryStats.list.splice(0, 250);
        performance.clearResourceTimings();
        got.push(...(res.body.jobs || []));
        etags.push(res.etag || Math.random());
        token = res.body.nextPageToken || '';
        page += 1;
      } while (token && page < pages);
      if (stopped || my !== gen) return;  // the filters or pages changed meanwhile
      more = Boolean(token);
      const key = `${etags.join('|')}|${more}`;
      note.className = 'empty';
      // Nothing changed: nothing to draw (but the ages, now and then).
      if (key === lastKey && Date.now() - drawnAt < 30_000) return;
      lastKey = key;
      drawnAt = Date.now();
      jobs = got;
      for (const j of jobs) if ((j.labels || {}).sweep) sweeps.add(j.labels.sweep);
      fillSweeps();
      draw();
      drawBoard();
    } catch (e) {
      if (stopped || my !== gen) return;
      note.textContent = `Cannot list jobs: ${e.message}`;
      note.className = 'error';
      lastKey = '';
    } finally {
      busy = false;
      if (again && !stopped) { again = false; refresh(); }
    }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => { stopped = true; clearInterval(timer); if (compare) compare.destroy(); };
}
