// The new-job form (#/new): every JobSpec field a user sets, the rarely
// used ones under "Advanced"; empty fields are left out (the server's
// defaults). A refused spec shows the server's message, and beside the
// field it names ("learning_rate: ..." next to Learning rate).
import { view, api, num, el, KINDS, KIND_LABELS, OVERRIDES, POINT_METRICS, TABLE_METRICS } from './common.js';

// A points file: rows of numbers (comma, semicolon or whitespace between
// them); a first row of names is the columns' names.
function parsePoints(text) {
  const rows = [];
  let dim = 0;
  let columns = null;
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const raw = t.split(/[\s,;]+/).filter(Boolean);
    const cells = raw.map(Number);
    if (cells.some(Number.isNaN)) {
      if (rows.length === 0 && !columns) { columns = raw; return; }  // a header
      throw new Error(`dataset.points: line ${i + 1}: not numbers: ${t.slice(0, 40)}`);
    }
    if (dim && cells.length !== dim) throw new Error(`dataset.points: line ${i + 1}: ${cells.length} values, expected ${dim}`);
    dim = cells.length;
    rows.push(cells);
  });
  if (rows.length < 2) throw new Error('dataset.points: the file needs at least 2 rows of numbers');
  const points = { dim, values: rows.flat() };
  return { points, columns: columns && columns.length === dim ? columns : null };
}

const sizes = (field, text) => String(text || '').split(/[\s,]+/).filter(Boolean).map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`${field}: '${s}' is not an integer`);
  return n;
});

const names = (text) => String(text || '').split(',').map((s) => s.trim()).filter(Boolean);

// "key=value, key=value" as a labels map.
function parseLabels(text) {
  const labels = {};
  for (const term of names(text)) {
    const eq = term.indexOf('=');
    if (eq <= 0) throw new Error(`labels: '${term}' is not key=value`);
    labels[term.slice(0, eq).trim()] = term.slice(eq + 1).trim();
  }
  return labels;
}

function kib(bytes) {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// The model fields' defaults: the seed program's for point data sets,
// CTGAN's for tables (see JobSpec in gantry.proto).
const MODEL_DEFAULTS = {
  points: { lr: 0.001, batch: 32, latent: 2, ghidden: '16,32', dhidden: '256,128,64' },
  table: { lr: 0.0002, batch: 500, latent: 128, ghidden: '256,256', dhidden: '256,256' },
};

// The optional spec fields: [proto name, label, input attributes, kind
// ('number', 'int', 'text', 'select:a,b', 'bool'), where ('main', 'advanced',
// 'table'), help].
const OPTIONAL = [
  ['noise', 'Noise (std. dev.)', { step: 'any', min: 0, max: 10, placeholder: 'the kind\'s default' }, 'number', 'main', 'dataset'],
  ['loss', 'Loss', {}, 'select:,bce,non_saturating,hinge,wgan_gp', 'main'],
  ['select_by', 'Select best by', {}, 'select:', 'main'],
  ['eval_every', 'Evaluate every (epochs)', { min: 1, max: 100000, placeholder: '10' }, 'int', 'main'],
  ['patience', 'Early-stop patience (epochs)', { min: 0, max: 100000, placeholder: '0: off' }, 'int', 'main'],
  ['dropout', 'Dropout', { step: 'any', min: 0, max: 0.99, placeholder: '0.3' }, 'number', 'advanced'],
  ['beta1', 'Adam beta1', { step: 'any', min: 0, max: 0.999, placeholder: '0.9' }, 'number', 'advanced'],
  ['beta2', 'Adam beta2', { step: 'any', min: 0, max: 0.9999, placeholder: '0.999' }, 'number', 'advanced'],
  ['gp_weight', 'Gradient penalty weight (wgan_gp)', { step: 'any', min: 0, max: 1000, placeholder: '10' }, 'number', 'advanced'],
  ['n_critic', 'D steps per G step (n_critic)', { min: 1, max: 100, placeholder: '1 (wgan_gp: 5)' }, 'int', 'advanced'],
  ['spectral_norm', 'Spectral normalisation of D', {}, 'bool', 'advanced'],
  ['eval_points', 'Evaluation points', { min: 16, max: 10000, placeholder: '512' }, 'int', 'advanced'],
  ['eval_fraction', 'Held-out fraction (user data, tables)', { step: 'any', min: 0, max: 0.5, placeholder: '0' }, 'number', 'advanced'],
  ['min_delta', 'Early-stop min. improvement', { step: 'any', min: 0, placeholder: '0' }, 'number', 'advanced'],
  ['preview_points', 'Preview points per epoch', { min: 0, max: 4096, placeholder: '64' }, 'int', 'advanced'],
  ['checkpoint_every', 'Snapshot every (epochs)', { min: 1, max: 100000, placeholder: '10' }, 'int', 'advanced'],
  ['on_non_finite', 'When a loss goes non-finite', {}, 'select:,fail,continue', 'advanced'],
  ['trainer_path', 'Trainer path', { placeholder: 'the server picks' }, 'text', 'advanced'],
  ['weight_decay', 'Weight decay', { step: 'any', min: 0, max: 1, placeholder: '1e-6' }, 'number', 'table'],
  ['pac', 'Pac (rows per D input)', { min: 1, max: 64, placeholder: '10' }, 'int', 'table'],
  ['max_modes', 'Max. modes per numeric column', { min: 1, max: 32, placeholder: '10' }, 'int', 'table'],
  ['target', 'Target column (utility)', { placeholder: 'none' }, 'text', 'table'],
  ['max_dcr_share', 'Max. DCR share (privacy)', { step: 'any', min: 0, max: 1, placeholder: 'no constraint' }, 'number', 'table'],
];

// Spec (and request) field names, as the server's messages name them, to the form's inputs.
const FIELD_INPUTS = {
  name: 'f-name', labels: 'f-labels', epochs: 'f-epochs', seed: 'f-seed', learning_rate: 'f-lr',
  batch_size: 'f-batch', latent_dim: 'f-latent', generator_hidden: 'f-ghidden', discriminator_hidden: 'f-dhidden',
  dataset: 'f-kind', 'dataset.kind': 'f-kind', 'dataset.size': 'f-size', 'dataset.noise': 'f-noise',
  'dataset.points': 'f-points', 'dataset.columns': 'f-points', 'dataset.table': 'f-table',
  ...Object.fromEntries(OPTIONAL.filter(([k]) => k !== 'noise').map(([k]) => [k, `f-${k}`])),
  ...Object.fromEntries(OVERRIDES.map((o) => [`dataset.table.${o}`, `f-${o}`])),
};

// The input a message ("spec.learning_rate: ...", "dataset.points: row 3 ...",
// "generator_hidden.sizes[0]: ...") names, or null.
function fieldOf(message) {
  const m = /^(?:spec\.)?([a-z_0-9]+(?:\[\d+\])?(?:\.[a-z_0-9]+(?:\[\d+\])?)*)\s*:/.exec(String(message || ''));
  if (!m) return null;
  const parts = m[1].replace(/\[\d+\]/g, '').split('.');
  for (let n = parts.length; n > 0; n--) {
    const id = FIELD_INPUTS[parts.slice(0, n).join('.')];
    if (id) return id;
  }
  return null;
}

export function renderNew() {
  const error = el('p', { class: 'error', role: 'alert', id: 'form-error' });
  const status = el('p', { class: 'muted', id: 'form-status' });
  const kind = el('select', { name: 'kind', id: 'f-kind' },
    KINDS.map((k) => el('option', { value: k }, KIND_LABELS[k] || k)));
  const file = el('input', { type: 'file', name: 'points', id: 'f-points', accept: '.csv,.txt,.tsv' });
  const fileLabel = el('label', { class: 'wide', hidden: true }, 'Points file (CSV or whitespace-separated, one point per line; a header row names the columns)', file);
  const tableFile = el('input', { type: 'file', name: 'table', id: 'f-table', accept: '.csv,.tsv,.txt,text/csv' });
  const field = (label, name, attrs) => el('label', {}, label, el('input', { name, id: `f-${name}`, ...attrs }));
  const sizeLabel = field('Dataset size', 'size', { type: 'number', min: 2, value: 1024 });
  const tableFields = el('fieldset', { class: 'wide table-fields', id: 'table-fields', hidden: true },
    el('legend', {}, 'Table'),
    el('label', { class: 'wide' }, 'CSV file (a header row; comma, semicolon, tab or | between fields)', tableFile),
    el('p', { class: 'muted wide hint' },
      'Column types are inferred; to override, list column names (comma-separated) under a type.'),
    OVERRIDES.map((o) => field(o[0].toUpperCase() + o.slice(1), o, { type: 'text', placeholder: 'col1, col2' })));

  const optional = {};  // proto name -> [label element, input]
  for (const [key, label, attrs, type] of OPTIONAL) {
    let input;
    if (type.startsWith('select:')) {
      input = el('select', { name: key, id: `f-${key}` },
        type.slice(7).split(',').map((v) => el('option', { value: v }, v || 'default')));
    } else if (type === 'bool') {
      input = el('select', { name: key, id: `f-${key}` }, el('option', { value: '' }, 'default (off)'),
        el('option', { value: 'true' }, 'on'), el('option', { value: 'false' }, 'off'));
    } else {
      input = el('input', { name: key, id: `f-${key}`, type: type === 'text' ? 'text' : 'number',
        ...(type === 'int' ? { step: 1 } : {}), ...attrs });
    }
    optional[key] = [el('label', { 'data-field': key }, label, input), input, type];
  }
  const group = (where) => OPTIONAL.filter((o) => o[4] === where).map(([k]) => optional[k][0]);
  const selectBySel = optional.select_by[1];
  function fillSelectBy(table) {
    const keep = selectBySel.value;
    selectBySel.replaceChildren(el('option', { value: '' }, `default (${table ? 'quality' : 'sliced_w1'})`),
      ...(table ? TABLE_METRICS : POINT_METRICS).map((m) => el('option', { value: m }, m)));
    selectBySel.value = [...selectBySel.options].some((o) => o.value === keep) ? keep : '';
  }
  fillSelectBy(false);
  const tableAdvanced = el('fieldset', { class: 'wide', id: 'table-advanced', hidden: true },
    el('legend', {}, 'Table model'), group('table'));
  const advanced = el('details', { class: 'wide advanced', id: 'advanced' },
    el('summary', {}, 'Advanced: optimiser, discriminator, evaluation, early stopping, snapshots, trainer'),
    el('div', { class: 'advanced-grid' }, group('advanced'), tableAdvanced));

  const submit = el('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Submit job');
  const form = el('form', { class: 'job', id: 'new-job', novalidate: true },
    field('Name', 'name', { type: 'text', maxlength: 200, placeholder: 'optional' }),
    field('Labels', 'labels', { type: 'text', placeholder: 'key=value, key=value' }),
    el('label', {}, 'Priority', el('select', { name: 'priority', id: 'f-priority' },
      ...['normal', 'high', 'low'].map((p) => el('option', { value: p }, p)))),
    el('label', {}, 'Dataset', kind),
    sizeLabel,
    optional.noise[0],
    fileLabel,
    tableFields,
    field('Epochs', 'epochs', { type: 'number', min: 1, max: 100000, value: 300, required: true }),
    field('Seed', 'seed', { type: 'number', min: 0, value: 111 }),
    field('Learning rate', 'lr', { type: 'number', step: 'any', min: 0, value: MODEL_DEFAULTS.points.lr }),
    field('Batch size', 'batch', { type: 'number', min: 1, value: MODEL_DEFAULTS.points.batch }),
    field('Latent dimension', 'latent', { type: 'number', min: 1, max: 1024, value: MODEL_DEFAULTS.points.latent }),
    field('Generator hidden sizes', 'ghidden', { type: 'text', value: MODEL_DEFAULTS.points.ghidden }),
    field('Discriminator hidden sizes', 'dhidden', { type: 'text', value: MODEL_DEFAULTS.points.dhidden }),
    group('main').filter((l) => l !== optional.noise[0]),
    advanced,
    el('div', { class: 'wide actions' }, submit),
    el('div', { class: 'wide' }, status, error));

  let mode = 'points';
  kind.addEventListener('change', () => {
    const next = kind.value === 'table' ? 'table' : 'points';
    fileLabel.hidden = kind.value !== 'user';
    sizeLabel.hidden = kind.value === 'user' || kind.value === 'table';
    optional.noise[0].hidden = kind.value === 'user' || kind.value === 'table';
    tableFields.hidden = next !== 'table';
    tableAdvanced.hidden = next !== 'table';
    if (next !== mode) {
      // Switching between the point model and the table model: its defaults.
      for (const [k, v] of Object.entries(MODEL_DEFAULTS[next])) form.querySelector(`#f-${k}`).value = v;
      fillSelectBy(next === 'table');
      mode = next;
    }
  });

  // A message beside the input it names (and the details opened around it).
  function clearFieldErrors() {
    for (const e of form.querySelectorAll('.field-error')) e.remove();
    for (const e of form.querySelectorAll('.invalid')) e.classList.remove('invalid');
  }
  function showFieldError(message) {
    const id = fieldOf(message);
    const input = id && form.querySelector(`#${id}`);
    if (!input) return;
    const label = input.closest('label') || input.parentElement;
    label.classList.add('invalid');
    label.append(el('span', { class: 'field-error', id: `${id}-error`, role: 'alert', 'data-for': id }, message));
    const details = input.closest('details');
    if (details) details.open = true;
    input.setAttribute('aria-invalid', 'true');
    label.scrollIntoView({ block: 'nearest' });
  }
  form.addEventListener('input', (e) => {
    const label = e.target.closest('label.invalid');
    if (label) { label.classList.remove('invalid'); label.querySelector('.field-error')?.remove(); e.target.removeAttribute('aria-invalid'); }
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

  // A number field: its value, or an Error naming it.
  function numberOf(key, text, integer) {
    const t = String(text).trim();
    const v = Number(t);
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new Error(`${key}: '${t}' is not ${integer ? 'a whole number' : 'a number'}`);
    }
    return v;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    status.textContent = '';
    clearFieldErrors();
    const f = new FormData(form);
    submit.disabled = true;
    try {
      const spec = {
        epochs: numberOf('epochs', f.get('epochs'), true),
        learningRate: numberOf('learning_rate', f.get('lr')), batchSize: numberOf('batch_size', f.get('batch'), true),
        latentDim: numberOf('latent_dim', f.get('latent'), true),
        generatorHidden: { sizes: sizes('generator_hidden', f.get('ghidden')) },
        discriminatorHidden: { sizes: sizes('discriminator_hidden', f.get('dhidden')) },
      };
      const seedText = String(f.get('seed') || '').trim();
      if (seedText) spec.seed = seedText;  // empty: the server's default
      const table = kind.value === 'table';
      for (const [key, , , type, where] of OPTIONAL) {
        if (key === 'noise' || (where === 'table' && !table)) continue;
        const raw = String(f.get(key) ?? '').trim();
        if (!raw) continue;
        const camelKey = key.replace(/_([a-z0-9])/g, (_m, c) => c.toUpperCase());
        if (type === 'number') spec[camelKey] = numberOf(key, raw);
        else if (type === 'int') spec[camelKey] = numberOf(key, raw, true);
        else if (type === 'bool') spec[camelKey] = raw === 'true';
        else spec[camelKey] = raw;
      }
      const labels = parseLabels(f.get('labels'));
      if (kind.value === 'user') {
        if (!file.files.length) throw new Error('dataset.points: choose a points file for a user dataset');
        const { points, columns } = parsePoints(await file.files[0].text());
        spec.dataset = { kind: 'DATASET_KIND_USER', points };
        if (columns) spec.dataset.columns = columns;
      } else if (table) {
        if (!tableFile.files.length) throw new Error('dataset.table: choose a CSV file for a table dataset');
        const info = await upload(tableFile.files[0]);
        const schema = info.schema || {};
        status.textContent = `Uploaded ${info.name}: ${num(schema.rows)} rows, ` +
          `${(schema.columns || []).length} columns (table ${String(info.id).slice(0, 12)}…). Creating the job…`;
        const source = { tableId: info.id };
        for (const o of OVERRIDES) {
          const list = names(f.get(o));
          if (list.length) source[o] = list;
        }
        spec.dataset = { kind: 'DATASET_KIND_TABLE', table: source };
      } else {
        spec.dataset = { kind: `DATASET_KIND_${kind.value.toUpperCase()}`, size: numberOf('dataset.size', f.get('size'), true) };
        const noise = String(f.get('noise') || '').trim();
        if (noise) spec.dataset.noise = numberOf('dataset.noise', noise);
      }
      const body = { name: f.get('name'), spec };
      if (Object.keys(labels).length) body.labels = labels;
      if (f.get('priority') && f.get('priority') !== 'normal') body.priority = `PRIORITY_${f.get('priority').toUpperCase()}`;
      const job = await api('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body) });
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      error.textContent = err.message;
      // "upload refused: ..." names the file, not a field; the rest may name one.
      showFieldError(err.message.replace(/^upload refused: /, 'dataset.table: '));
      status.textContent = status.textContent.replace(/ Creating the job…$/, '');  // the upload stands
    }
    submit.disabled = false;
  });
  view.replaceChildren(el('section', { class: 'card' }, el('h1', {}, 'New job'), form));
  return () => {};
}
