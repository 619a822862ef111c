import { api, num, el, typeName, download } from './common.js';

// Table jobs on the job page: the columns and the "Sample rows" panel.

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
export function columnsTable(schema) {
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
export function samplePanel(id) {
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
