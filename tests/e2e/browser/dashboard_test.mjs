// The dashboard in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against a real gantryd with --http-listen on loopback.
//
// It submits the seed job through the form, sees it in the list, sees the
// loss chart gain points while the job trains and the scatter drawn,
// downloads samples (CSV) and the generator, uploads user points of
// dimension 3 and switches the scatter's coordinates, uploads a CSV table
// through the form (a bad file and a bad override refused inline), trains a
// small table job and checks its columns, column distance and conditioned
// samples (table and CSV), opens a table job's report (scores, privacy,
// utility, scores by epoch, per-column charts and heatmaps checked against
// GET /v1/jobs/ID/report; another epoch), cancels another job
// from its page, checks the page on a phone-sized screen, and signs in with
// the token form when gantryd has --auth-token-file. Screenshots go to --out.
// It prints (never asserts) the time from an epoch's end (the event's time)
// to its point being drawn in the chart: p50 over the seed job's live epochs.
//
//   node tests/e2e/browser/dashboard_test.mjs --gantryd build/bin/gantryd --out build/dashboard
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { spawnGantryd, waitFor as waitUntil, api, watchErrors } from './gantryd.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const gantryd = args.gantryd || 'build/bin/gantryd';
const out = path.resolve(args.out || 'build/dashboard');
fs.mkdirSync(out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-dashboard-'));
const TIMEOUT = 300_000;

function step(msg) { console.log(`[dashboard] ${msg}`); }

async function startGantryd(...extra) {
  const g = await spawnGantryd({ gantryd, out, tmp, extra });
  const { base } = g;
  return {
    base,
    api: (method, p, body, headers = {}) => api(base, method, p, body, headers),
    stop: g.stop,
  };
}

// null while the element is not on the page yet (e.g. right after a click).
const attr = (page, sel, name) => page.evaluate(([s, n]) => {
  const e = document.querySelector(s);
  return e ? Number(e.getAttribute(n)) : null;
}, [sel, name]);
// Waits for a report page to show its report (or fails with its error).
async function reportShown(page) {
  await page.waitForFunction(() => document.querySelector('#report-scores')
    || (document.querySelector('#report-error') || {}).textContent);
  assert.equal(await page.textContent('#report-error'), '', 'the report page\'s error');
}
const badge = (page) => page.evaluate(() => {
  const e = document.querySelector('.card .state');
  return e ? e.textContent : null;
});

const waitFor = (fn, what, timeout = TIMEOUT) => waitUntil(fn, what, timeout, 50);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const d = await startGantryd();
const errors = [];
let code = 1;
let latencyLine = 'p50 epoch->chart latency: not measured';
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchErrors(page, errors);

  step('empty list');
  await page.goto(`${d.base}/`);
  await page.waitForSelector('#jobs');
  await page.waitForSelector('text=No jobs yet');

  step('a bad spec is refused with the server\'s message');
  await page.click('#nav-new');
  await page.fill('#f-epochs', '0');
  await page.$eval('#f-epochs', (e) => e.removeAttribute('min'));
  await page.click('#submit');
  await page.waitForFunction(() => document.querySelector('#form-error').textContent.includes('epochs: 0 is out of range'));
  errors.length = 0;  // the browser logs that 400; it was the point

  step('submit the seed job through the form');
  await page.fill('#f-name', 'seed from the browser');
  await page.selectOption('#f-kind', 'sine');
  await page.fill('#f-size', '1024');
  await page.fill('#f-epochs', '300');
  await page.fill('#f-seed', '111');
  await page.fill('#f-lr', '0.001');
  await page.fill('#f-batch', '32');
  await page.fill('#f-ghidden', '16,32');
  await page.fill('#f-dhidden', '256,128,64');
  await page.click('#submit');
  await page.waitForURL(/#\/jobs\/j-/);
  const seedId = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));
  const openedAt = Date.now();
  const seedJob = await d.api('GET', `/v1/jobs/${seedId}`);
  assert.equal(seedJob.name, 'seed from the browser');
  assert.equal(seedJob.spec.epochs, '300');
  assert.deepEqual(seedJob.spec.generatorHidden.sizes, ['16', '32']);

  step('the loss chart gains points while the job trains; the scatter is drawn');
  const first = await waitFor(async () => (await attr(page, '#loss-chart', 'data-points')) || 0, 'a first epoch');
  await waitFor(async () => (await attr(page, '#loss-chart', 'data-points')) > first + 5, 'more epochs');
  assert.equal(await badge(page), 'RUNNING');
  assert.ok((await attr(page, '#scatter-chart', 'data-points')) > 0, 'generated points drawn');

  step('the job is in the list while it runs');
  await page.click('#nav-jobs');
  const row = `tr[data-job="${seedId}"]`;
  await page.waitForSelector(row);
  assert.match(await page.$eval(row, (e) => e.textContent), /seed from the browser/);
  await page.waitForFunction((sel) => /RUNNING/.test(document.querySelector(sel).textContent), row);
  await page.click(row);
  await page.waitForURL(new RegExp(`#/jobs/${seedId}$`));

  step('the job runs to its end with every epoch drawn');
  await waitFor(async () => (await badge(page)) === 'SUCCEEDED', 'SUCCEEDED');
  await waitFor(async () => (await attr(page, '#loss-chart', 'data-points')) === 300, '300 points');
  assert.ok(!(await page.isVisible('#axis-x')), 'no coordinate choice for 2-D data');
  // The scatter's axes span the real data: sine's x runs over [0, 2 pi].
  const [xmin, xmax] = await page.evaluate(() => {
    const c = Chart.getChart(document.querySelector('#scatter-canvas'));
    return [c.scales.x.min, c.scales.x.max];
  });
  assert.ok(xmin <= 0.05 && xmax >= 6.2, `scatter x axis ${xmin}..${xmax}`);
  await page.screenshot({ path: path.join(out, 'dashboard-job.png'), fullPage: true });
  const stats = await page.evaluate(() => window.gantryStats.epochs);
  // The first drawing of each epoch that ended after the page opened (the
  // page was opened twice: replays are not live).
  const firstDrawn = new Map();
  for (const e of stats) {
    if (e.job === seedId && e.eventTime >= openedAt && !firstDrawn.has(e.epoch)) firstDrawn.set(e.epoch, e);
  }
  const lat = [...firstDrawn.values()].map((e) => e.drawnAt - e.eventTime).sort((a, b) => a - b);
  if (lat.length) {
    latencyLine = `p50 epoch->chart latency: ${lat[Math.floor(lat.length / 2)]} ms ` +
      `(p90 ${lat[Math.floor(lat.length * 0.9)]} ms, ${lat.length} live epochs of the seed job)`;
  }

  step('download samples (CSV) and the generator');
  let [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-samples')]);
  await download.saveAs(path.join(out, 'samples.csv'));
  const csv = fs.readFileSync(path.join(out, 'samples.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'x0,x1');
  assert.equal(csv.length, 1001);
  assert.ok(csv.slice(1).every((l) => l.split(',').length === 2 && l.split(',').every((v) => Number.isFinite(Number(v)))));
  [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-generator')]);
  assert.equal(download.suggestedFilename(), `${seedId}-generator-epoch300.pt`);
  await download.saveAs(path.join(out, 'generator.pt'));
  assert.equal(fs.readFileSync(path.join(out, 'generator.pt')).subarray(0, 2).toString(), 'PK');

  step('the list shows the finished job');
  await page.click('#nav-jobs');
  await page.waitForFunction((sel) => {
    const r = document.querySelector(sel);
    return r && /SUCCEEDED/.test(r.textContent) && /300\/300/.test(r.textContent);
  }, row);

  step('user points of dimension 3 by file upload; the scatter\'s coordinates are selectable');
  const pts = path.join(tmp, 'points.csv');
  fs.writeFileSync(pts, 'a,b,c\n' + Array.from({ length: 200 }, (_, i) => {
    const t = i / 200 * 2 * Math.PI;
    return `${Math.cos(t).toFixed(4)},${Math.sin(t).toFixed(4)},${(i / 100).toFixed(4)}`;
  }).join('\n') + '\n');
  await page.click('#nav-new');
  await page.fill('#f-name', 'helix');
  await page.selectOption('#f-kind', 'user');
  await page.setInputFiles('#f-points', pts);
  await page.fill('#f-epochs', '5');
  await page.click('#submit');
  await page.waitForURL(/#\/jobs\/j-/);
  await waitFor(async () => (await badge(page)) === 'SUCCEEDED', 'the user job to end');
  await page.waitForSelector('#axis-y', { state: 'visible' });
  assert.equal(await page.$$eval('#axis-x option', (o) => o.length), 3);
  await page.selectOption('#axis-y', '2');
  assert.ok((await attr(page, '#scatter-chart', 'data-points')) > 0);
  const userJob = await d.api('GET', `/v1/jobs/${decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''))}`);
  assert.equal(userJob.spec.dataset.kind, 'DATASET_KIND_USER');

  step('a table job: upload a CSV through the form, errors inline, overrides, the small model');
  // 200 rows: a text category, an integer code (1..4, which inference reads
  // as categorical codes: the form overrides it to integer), and a float
  // with 12 missing cells.
  const COLORS = ['red', 'green', 'blue'];
  const people = path.join(tmp, 'people.csv');
  let missingSizes = 0;
  fs.writeFileSync(people, 'color,code,size\n' + Array.from({ length: 200 }, (_, i) => {
    const color = COLORS[(i * 7) % 3];
    const code = 1 + ((i * 5 + (i >> 3)) % 4);
    const missing = i % 17 === 5;
    if (missing) missingSizes += 1;
    const size = missing ? '' : (10 + 4 * COLORS.indexOf(color) + ((i * 37) % 100) / 25).toFixed(2);
    return `${color},${code},${size}`;
  }).join('\n') + '\n');
  assert.equal(missingSizes, 12);
  const bad = path.join(tmp, 'bad.csv');
  fs.writeFileSync(bad, 'color,code,size\nred,1,2.5\nblue,2,3.5,extra\n');
  await page.click('#nav-new');
  await page.selectOption('#f-kind', 'table');
  assert.ok(await page.isVisible('#f-table'));
  assert.ok(!(await page.isVisible('#f-size')), 'no dataset size for a table');
  assert.equal(await page.inputValue('#f-batch'), '500', 'CTGAN\'s batch size by default');
  await page.setInputFiles('#f-table', bad);
  await page.fill('#f-epochs', '3');
  await page.click('#submit');
  // The upload's refusal, with core's message naming the file and line.
  await page.waitForFunction(() => /bad\.csv: line 3: 4 fields/.test(document.querySelector('#form-error').textContent));
  assert.match(await page.textContent('#form-error'), /upload refused/);
  // The job's refusal: a type override the column cannot take names file, line and column.
  await page.setInputFiles('#f-table', people);
  await page.fill('#f-integer', 'color');
  await page.click('#submit');
  await page.waitForFunction(() => /people\.csv: line 2, column 'color'/.test(document.querySelector('#form-error').textContent));
  errors.length = 0;  // the browser logs both 400s; they were the point
  assert.equal(new URL(page.url()).hash, '#/new', 'no job for a refused spec');
  await page.screenshot({ path: path.join(out, 'dashboard-new-table.png'), fullPage: true });

  await page.fill('#f-name', 'people table');
  await page.fill('#f-integer', 'code');
  await page.fill('#f-epochs', '3');
  await page.fill('#f-seed', '7');
  await page.fill('#f-batch', '100');
  await page.fill('#f-latent', '16');
  await page.fill('#f-ghidden', '32');
  await page.fill('#f-dhidden', '32');
  await page.click('#submit');
  await page.waitForURL(/#\/jobs\/j-/);
  const tableJobId = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));
  const tableJob = await d.api('GET', `/v1/jobs/${tableJobId}`);
  assert.equal(tableJob.spec.dataset.kind, 'DATASET_KIND_TABLE');
  assert.deepEqual(tableJob.spec.dataset.table.integer, ['code']);
  assert.deepEqual(tableJob.spec.dataset.table.categorical, []);
  assert.equal(tableJob.spec.epochs, '3');
  assert.equal(tableJob.spec.batchSize, '100');
  assert.equal(tableJob.spec.latentDim, '16');
  assert.deepEqual(tableJob.spec.generatorHidden.sizes, ['32']);
  assert.deepEqual(tableJob.spec.discriminatorHidden.sizes, ['32']);
  const tableId = tableJob.spec.dataset.table.tableId;
  const stored = await d.api('GET', `/v1/tables/${tableId}`);
  assert.equal(stored.name, 'people.csv');

  step('the table job\'s page: columns, quality score and column distance, best epoch, no scatter');
  await waitFor(async () => (await badge(page)) === 'SUCCEEDED', 'the table job to end');
  await waitFor(async () => (await attr(page, '#loss-chart', 'data-points')) === 3, '3 epochs drawn');
  const columns = await page.$$eval('#columns tbody tr', (rs) => rs.map((r) => ({
    name: r.dataset.column, type: r.dataset.type, cells: [...r.cells].map((c) => c.textContent) })));
  assert.deepEqual(columns.map((c) => [c.name, c.type]),
    [['color', 'categorical'], ['code', 'integer'], ['size', 'continuous']]);
  assert.match(columns[0].cells[2], /^3 levels/);
  assert.match(columns[0].cells[2], /blue, green, red/);
  assert.equal(columns[1].cells[2], '1 .. 4');
  assert.match(columns[2].cells[2], /^\d+\.\d\d \.\. \d+\.\d\d$/);
  assert.deepEqual(columns.map((c) => c.cells[3]), ['0', '0', String(missingSizes)]);
  assert.match(await page.textContent('#loss-title'), /quality score and column distance/);
  const chart = await page.evaluate(() => {
    const c = Chart.getChart(document.querySelector('#loss-canvas'));
    return { labels: c.data.datasets.map((ds) => ds.label), axis: c.options.scales.quality.title.text,
      q: c.data.datasets[2].data.map((p) => [p.x, p.y]), cd: c.data.datasets[3].data.map((p) => [p.x, p.y]) };
  });
  assert.match(chart.labels[2], /quality score \(higher is better\)/);
  assert.match(chart.labels[3], /column distance \(lower is better\)/);
  assert.equal(chart.axis, 'quality score, column distance');
  // Evaluated epochs only: the first and the last (eval_every 10).
  assert.deepEqual(chart.q.map(([x]) => x), [1, 3]);
  assert.deepEqual(chart.cd.map(([x]) => x), [1, 3]);
  assert.ok([...chart.q, ...chart.cd].every(([, y]) => y >= 0 && y <= 1), `scores ${JSON.stringify(chart)}`);
  assert.ok(!(await page.isVisible('#scatter-card')), 'no scatter for a table job');
  const stat = (k) => page.$eval(`[data-stat="${k}"] .v`, (e) => e.textContent);
  const datasetStat = await stat('dataset');
  assert.match(datasetStat, /^table /);
  assert.ok(datasetStat.includes(tableId.slice(0, 12)), datasetStat);
  assert.match(datasetStat, /200 rows × 3 columns/);
  const done = await d.api('GET', `/v1/jobs/${tableJobId}`);
  assert.equal(await stat('best epoch'), String(done.bestEpoch));
  assert.ok(['1', '3'].includes(done.bestEpoch), `best epoch ${done.bestEpoch}`);
  assert.equal(await stat('best column distance'), Number(done.bestMetrics.columnDistance).toFixed(4));
  assert.equal(await stat('best quality'), `${(100 * Number(done.bestMetrics.quality || 0)).toFixed(1)}%`);
  // A table's EpochReport.quality is the latest evaluation's quality score.
  assert.equal(await stat('quality'), `${(100 * Number(done.latest.quality || 0)).toFixed(1)}%`);
  assert.equal(chart.q[chart.q.length - 1][1], Number(done.latest.quality || 0));

  step('sample 20 rows with conditions; every row meets them; the same rows as CSV');
  assert.equal(await page.inputValue('#s-count'), '20');
  await page.fill('#s-seed', '5');
  await page.fill('#s-where', 'color=purple');
  await page.click('#s-fetch');
  await page.waitForFunction(() => /purple/.test(document.querySelector('#s-error').textContent));
  errors.length = 0;  // the refused condition's 400
  await page.fill('#s-where', 'color=red; code=1..3');
  await page.click('#s-fetch');
  await page.waitForFunction(() => document.querySelectorAll('#sample-rows tbody tr').length === 20);
  assert.equal(await page.textContent('#s-error'), '');
  const header = await page.$$eval('#sample-rows thead th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(header, ['color', 'code', 'size']);
  const shown = await page.$$eval('#sample-rows tbody tr', (rs) => rs.map((r) => [...r.cells].map((c) =>
    (c.classList.contains('missing') ? null : c.textContent))));
  for (const [color, code, size] of shown) {
    assert.equal(color, 'red');
    assert.ok(Number.isInteger(Number(code)) && Number(code) >= 1 && Number(code) <= 3, `code ${code}`);
    assert.ok(size === null || (Number.isFinite(Number(size)) && size !== ''), `size ${size}`);
  }
  assert.match(await page.textContent('#s-note'), /^20 rows · seed 5 · epoch 3/);
  // Missing cells are drawn empty (and grey).
  assert.ok(await page.$$eval('#sample-rows td.missing', (tds) => tds.every((t) => t.textContent === '')));
  [download] = await Promise.all([page.waitForEvent('download'), page.click('#s-csv')]);
  await download.saveAs(path.join(out, 'table-samples.csv'));
  const tcsv = fs.readFileSync(path.join(out, 'table-samples.csv'), 'utf8').trim().split('\n');
  assert.equal(tcsv[0], 'color,code,size');
  assert.equal(tcsv.length, 21);
  tcsv.slice(1).forEach((line, i) => {
    const [color, code, size] = line.split(',');
    assert.equal(color, shown[i][0]);
    assert.equal(code, shown[i][1]);
    if (shown[i][2] === null) assert.equal(size, '');
    else assert.ok(Math.abs(Number(size) - Number(shown[i][2])) < 1e-6, `${size} vs ${shown[i][2]}`);
  });
  await page.evaluate(() => window.scrollTo(0, 0));  // the sticky header at the top of the shot
  await page.screenshot({ path: path.join(out, 'dashboard-table-job.png'), fullPage: true });

  step('a table job\'s report: every section with the server\'s figures, another epoch, the list\'s quality');
  // 300 rows of six types (a category, integer codes, a float with missing
  // cells, a date, a boolean, an integer), `color` the target: privacy,
  // utility and pairs of every kind. Evaluated epochs 1, 2 and 4, all kept.
  const reportCsv = 'color,code,size,joined,member,visits\n' + Array.from({ length: 300 }, (_, i) => {
    const color = COLORS[(i * 7) % 3];
    const size = i % 13 === 4 ? '' : (10 + 4 * COLORS.indexOf(color) + ((i * 37) % 100) / 25).toFixed(2);
    const joined = new Date(Date.UTC(2023, 0, 1) + ((i * 11) % 365) * 86400000).toISOString().slice(0, 10);
    return `${color},${1 + (i % 4)},${size},${joined},${(i * 3) % 5 < 2 ? 'true' : 'false'},${(i * 17) % 61}`;
  }).join('\n') + '\n';
  const upload = await fetch(`${d.base}/v1/tables?name=report.csv`, { method: 'POST',
    headers: { 'Content-Type': 'text/csv' }, body: reportCsv });
  assert.ok(upload.ok, `upload: ${upload.status}`);
  const reportTable = await upload.json();
  const rjob = await d.api('POST', '/v1/jobs', { name: 'report table', spec: {
    epochs: 4, seed: '3', batchSize: 100, latentDim: 16, generatorHidden: { sizes: [32] },
    discriminatorHidden: { sizes: [32] }, evalEvery: 2, checkpointEvery: 1, target: 'color', maxDcrShare: 1,
    dataset: { kind: 'DATASET_KIND_TABLE', table: { tableId: reportTable.id } } } });
  await waitFor(async () => (await d.api('GET', `/v1/jobs/${rjob.id}`)).state === 'JOB_STATE_SUCCEEDED',
    'the report job to end');
  const rdone = await d.api('GET', `/v1/jobs/${rjob.id}`);
  await page.goto(`${d.base}/#/jobs/${rjob.id}`);
  await page.waitForSelector('#report-link', { state: 'visible' });
  assert.equal(await page.title(), 'report table · gantry');
  const bestQuality = await page.$eval('[data-stat="best quality"] .v', (e) => e.textContent);
  assert.equal(bestQuality, `${(100 * Number(rdone.bestMetrics.quality || 0)).toFixed(1)}%`);
  await page.click('#report-link');
  await page.waitForURL(new RegExp(`#/jobs/${rjob.id}/report$`));
  await reportShown(page);
  const rep = await d.api('GET', `/v1/jobs/${rjob.id}/report`);
  const n0 = (v) => Number(v || 0);
  const pctText = (v, digits = 1) => `${(100 * n0(v)).toFixed(digits)}%`;
  assert.equal(await page.title(), 'Report · report table · gantry');
  assert.match(await page.textContent('#report-head h1'), /report table/);
  assert.equal(rep.epoch, rep.bestEpoch, 'the best epoch by default');
  assert.equal(rep.bestEpoch, rdone.bestEpoch);
  assert.deepEqual(rep.history.map((h) => h.epoch), ['1', '2', '4']);
  // The epoch selector: the evaluated epochs, the best one chosen and named.
  const options = await page.$$eval('#report-epoch option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options.map(([v]) => v), ['1', '2', '4']);
  assert.equal(await page.inputValue('#report-epoch'), rep.epoch);
  assert.ok(options.some(([v, t]) => v === rep.bestEpoch && /best/.test(t)));
  // Scores: the large figures are the report's.
  const scores = await page.$$eval('[data-score]', (es) => es.map((e) => [e.dataset.score, Number(e.dataset.value),
    e.querySelector('.big').textContent]));
  assert.deepEqual(scores.map(([k]) => k),
    ['quality', 'columnShapes', 'columnPairs', 'missingSimilarity', 'columnCoverage', 'adherence']);
  for (const [k, v, text] of scores) {
    assert.equal(v, n0(rep.metrics[k]), k);
    assert.equal(text, pctText(rep.metrics[k]), k);
  }
  assert.ok(n0(rep.metrics.quality) > 0 && n0(rep.metrics.quality) <= 1, `quality ${rep.metrics.quality}`);
  // Privacy: the verdict in words, coloured; the constraint.
  assert.ok(rep.privacy && rep.privacy.verdict, 'held-out rows give privacy figures');
  const verdict = await page.$eval('#privacy-verdict', (e) => [e.dataset.verdict, e.dataset.level, e.className,
    e.querySelector('.headline').textContent]);
  assert.equal(verdict[0], rep.privacy.verdict);
  assert.ok(['ok', 'warn', 'bad'].includes(verdict[1]) && verdict[2].includes(verdict[1]));
  assert.equal(verdict[3].toLowerCase(), rep.privacy.verdict.split(':')[0].toLowerCase());
  // The level follows the verdict's words.
  assert.equal(verdict[1], /^no sign/.test(rep.privacy.verdict) ? 'ok' : /copies/.test(rep.privacy.verdict) ? 'bad' : 'warn');
  assert.equal(await page.textContent('[data-privacy="dcrShare"] .v'), pctText(rep.privacy.dcrShare));
  assert.match(await page.textContent('#privacy-constraint'), /at most 100\.0% — met/);
  // Utility: train on synthetic against train on real, on `color`.
  assert.equal(rep.utility.target, 'color');
  assert.equal(rep.utility.task, 'classification');
  const utility = await page.$$eval('#utility-table tbody tr', (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(utility, [
    ['synthetic rows', n0(rep.utility.synthetic).toFixed(3), pctText(rep.utility.syntheticAccuracy), String(n0(rep.utility.trainRows))],
    ['real rows', n0(rep.utility.real).toFixed(3), pctText(rep.utility.realAccuracy), String(n0(rep.utility.trainRows))]]);
  // Scores by epoch: one point per evaluated epoch, the report's figures.
  const hist = await page.evaluate(() => {
    const c = Chart.getChart(document.querySelector('#history-canvas'));
    return c.data.datasets.map((ds) => [ds.label, ds.data.map((p) => [p.x, p.y])]);
  });
  assert.deepEqual(hist[0], ['quality', rep.history.map((h) => [Number(h.epoch), n0(h.metrics.quality)])]);
  assert.ok(hist.some(([label]) => label === 'DCR share') && hist.some(([label]) => /utility/.test(label)));
  // One chart per column, each with its score; a histogram for numbers, bars for levels.
  assert.equal(rep.columns.length, 6);
  const colCards = await page.$$eval('.col-card', (cs) => cs.map((c) => [c.dataset.column,
    c.querySelector('.col-score').textContent, Chart.getChart(c.querySelector('canvas')).data.labels.length]));
  assert.deepEqual(colCards.map(([name]) => name), rep.columns.map((c) => c.name));
  rep.columns.forEach((c, i) => {
    assert.equal(colCards[i][1], c.shape === undefined ? 'undefined' : pctText(c.shape), c.name);
    assert.equal(colCards[i][2], c.real.length, `${c.name}: bars`);
    assert.ok(c.edges && c.edges.length ? colCards[i][2] >= c.edges.length - 1 : colCards[i][2] === c.labels.length, c.name);
  });
  // The heatmaps: one cell per pair of columns, each defined where the report is.
  assert.equal(rep.pairs.length, 15);
  await page.waitForSelector('#heatmap-difference canvas[data-cells]');
  const cells = await page.$$eval('.hm-canvas', (cs) => cs.map((c) => [c.dataset.kind, Number(c.dataset.cells), Number(c.dataset.defined)]));
  const defined = (k) => rep.pairs.filter((p) => p[k] !== undefined && Number.isFinite(Number(p[k]))).length;
  const both = rep.pairs.filter((p) => Number.isFinite(Number(p.real)) && Number.isFinite(Number(p.synthetic))).length;
  assert.deepEqual(cells, [['real', 15, defined('real')], ['synthetic', 15, defined('synthetic')], ['difference', 15, both]]);
  // Hovering the first cell (code × color) names the pair.
  const hm = await page.$('#heatmap-real canvas');
  await hm.scrollIntoViewIfNeeded();
  const hb = await hm.boundingBox();
  const [left, top, cell] = await page.$eval('#heatmap-real canvas', (c) => [c.dataset.left, c.dataset.top, c.dataset.cell].map(Number));
  await page.mouse.move(hb.x + left + cell / 2, hb.y + top + cell / 2);
  await page.waitForSelector('.hm-tip', { state: 'visible' });
  assert.match(await page.textContent('.hm-tip'), /^color × code/);
  await page.mouse.move(0, 0);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'dashboard-report.png'), fullPage: true });

  step('the report of another epoch: the selector, the URL, the figures');
  const other = rep.epoch === '1' ? '2' : '1';
  await page.selectOption('#report-epoch', other);
  await page.waitForURL(new RegExp(`#/jobs/${rjob.id}/report\\?epoch=${other}$`));
  await page.waitForFunction((e) => document.querySelector('#report-content').dataset.epoch === e, other);
  const rep2 = await d.api('GET', `/v1/jobs/${rjob.id}/report?epoch=${other}`);
  assert.equal(rep2.epoch, other);
  assert.equal(await page.$eval('[data-score="quality"] .big', (e) => e.textContent), pctText(rep2.metrics.quality));
  assert.equal(await page.inputValue('#report-epoch'), other);
  assert.equal(await page.textContent('#report-error'), '');
  assert.match(await page.textContent('#report-meta'), new RegExp(`^Epoch ${other}; the best is ${rep.bestEpoch}`));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'dashboard-report-epoch.png'), fullPage: false });
  // Back: the best epoch again, without a new request's error.
  await page.goBack();
  await page.waitForFunction((e) => document.querySelector('#report-content').dataset.epoch === e, rep.epoch);

  step('a table job without a target has no utility; a point job has no report');
  await page.goto(`${d.base}/#/jobs/${tableJobId}/report`);
  await reportShown(page);
  assert.ok(await page.isVisible('#utility-none'));
  assert.ok(!(await page.isVisible('#report-utility')));
  await page.goto(`${d.base}/#/jobs/${seedId}`);
  await waitFor(async () => (await attr(page, '#loss-chart', 'data-points')) === 300, 'the seed job page');
  assert.ok(!(await page.isVisible('#report-link')), 'no Report for a point job');
  await page.goto(`${d.base}/#/jobs/${seedId}/report`);
  await page.waitForFunction(() => document.querySelector('#report-error').textContent.length > 0);
  assert.match(await page.textContent('#report-error'), /^No report: /);
  errors.length = 0;  // that refusal's 4xx was the point

  step('the list shows a table job\'s best quality score');
  await page.goto(`${d.base}/#/`);
  const rrow = `tr[data-job="${rjob.id}"]`;
  await page.waitForSelector(rrow);
  assert.equal(await page.$eval(rrow, (r) => r.querySelector('[data-col="quality"]').textContent), pctText(rdone.bestMetrics.quality));

  step('the list shows the table job\'s dataset as table');
  await page.click('#nav-jobs');
  const trow = `tr[data-job="${tableJobId}"]`;
  await page.waitForSelector(trow);
  assert.equal(await page.$eval(trow, (r) => r.querySelector('[data-col="dataset"]').textContent), 'table');
  assert.match(await page.$eval(trow, (r) => r.textContent), /SUCCEEDED/);

  step('cancel another job from its page');
  const long = await d.api('POST', '/v1/jobs', { name: 'to cancel', spec: { epochs: 100000 } });
  await page.goto(`${d.base}/#/jobs/${long.id}`);
  await waitFor(async () => ['RUNNING', 'QUEUED'].includes(await badge(page)), 'the job page');
  await page.click('#cancel');
  await waitFor(async () => (await badge(page)) === 'CANCELLED', 'CANCELLED on the page');
  assert.equal((await d.api('GET', `/v1/jobs/${long.id}`)).state, 'JOB_STATE_CANCELLED');
  assert.ok(await page.isVisible('#delete'));
  assert.ok(!(await page.isVisible('#cancel')), 'no Cancel on an ended job');

  await page.goto(`${d.base}/`);
  await page.waitForSelector(`tr[data-job="${long.id}"]`);
  await page.screenshot({ path: path.join(out, 'dashboard-list.png'), fullPage: true });

  step('a phone-sized screen: no sideways scrolling');
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const ppage = await phone.newPage();
  watchErrors(ppage, errors);
  await ppage.goto(`${d.base}/#/jobs/${seedId}`);
  await waitFor(async () => (await attr(ppage, '#loss-chart', 'data-points')) === 300, 'the phone chart');
  assert.ok(await ppage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await ppage.screenshot({ path: path.join(out, 'dashboard-job-phone.png'), fullPage: true });
  await ppage.goto(`${d.base}/#/jobs/${tableJobId}`);
  await ppage.waitForSelector('#columns tbody tr');
  await ppage.fill('#s-where', 'color=green');
  await ppage.click('#s-fetch');
  await ppage.waitForFunction(() => document.querySelectorAll('#sample-rows tbody tr').length === 20);
  assert.ok(await ppage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await ppage.screenshot({ path: path.join(out, 'dashboard-table-phone.png'), fullPage: true });
  await ppage.goto(`${d.base}/#/jobs/${rjob.id}/report`);
  await reportShown(ppage);
  await ppage.waitForSelector('.hm-canvas[data-cells="15"]');
  assert.equal(await ppage.$$eval('.col-card', (cs) => cs.length), 6);
  assert.ok(await ppage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await ppage.screenshot({ path: path.join(out, 'dashboard-report-phone.png'), fullPage: true });
  await ppage.goto(`${d.base}/#/`);
  await ppage.waitForSelector(row);
  await ppage.screenshot({ path: path.join(out, 'dashboard-list-phone.png'), fullPage: true });
  await phone.close();
  await context.close();

  step('with --auth-token-file: the login form and its cookie');
  const tokenFile = path.join(tmp, 'token');
  fs.writeFileSync(tokenFile, 'browser-s3cret\n');
  const t = await startGantryd('--auth-token-file', tokenFile);
  try {
    const auth = { Authorization: 'Bearer browser-s3cret' };
    const job = await t.api('POST', '/v1/jobs', { name: 'behind a token', spec: { epochs: 40, dataset: { size: 256 } } }, auth);
    const tctx = await browser.newContext();
    const tpage = await tctx.newPage();
    watchErrors(tpage, errors);
    await tpage.goto(`${t.base}/`);
    await tpage.waitForURL(`${t.base}/login`);
    await tpage.fill('#token', 'wrong');
    await tpage.click('button[type=submit]');
    await tpage.waitForSelector('text=That token is not valid.');
    await tpage.fill('#token', 'browser-s3cret');
    await tpage.click('button[type=submit]');
    await tpage.waitForURL(`${t.base}/`);
    await tpage.waitForSelector(`tr[data-job="${job.id}"]`);
    const cookies = await tctx.cookies();
    // The cookie is a session id (64 hex digits), never the token.
    assert.ok(cookies.some((c) => c.name === 'gantry_session' && /^[0-9a-f]{64}$/.test(c.value) &&
      c.httpOnly && c.sameSite === 'Strict'));
    assert.equal(await tpage.evaluate(() => document.cookie), '', 'the cookie is HttpOnly');
    await tpage.click(`tr[data-job="${job.id}"]`);
    await waitFor(async () => (await attr(tpage, '#loss-chart', 'data-points')) === 40, 'events through the cookie');
    await tctx.close();
  } finally {
    assert.equal(await t.stop(), 0);
  }

  // The login page's 401 for the wrong token is expected; nothing else may fail.
  const unexpected = errors.filter((e) => !/401 \(Unauthorized\)/.test(e));
  assert.deepEqual(unexpected, [], 'no script or console errors');
  code = 0;
  step('PASS');
} catch (e) {
  console.error(e);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: path.join(out, 'failure.png'), fullPage: true });
  } catch { /* best effort */ }
  if (errors.length) console.error('browser errors:', errors);
} finally {
  console.log(`[dashboard] ${latencyLine}`);
  console.log(`[dashboard] screenshots in ${out}`);
  await browser.close();
  const rc = await d.stop();
  if (rc !== 0) { console.error(`gantryd exited ${rc}`); code = 1; }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
