// The runs view, the comparison and the job page in a real browser (Debian's
// Chromium, headless, playwright-core) against a real gantryd (issue 25).
//
// Submits a sweep of three small ring8 jobs through the API (label
// sweep=s1, three learning rates, eval_every 5, checkpoint_every 5), one
// job outside it and a saturating one (lr 10, no dropout); once they ended:
// the list revalidates with If-None-Match (an unchanged page answers 304);
// "Load more" pages; the saturating job's alarm badge (row and page, and
// its event log); filtering to the sweep leaves its three jobs; the
// leaderboard ranks them as their best sliced_w1 from the API does;
// sorting and search; the three selected and compared (three datasets,
// one per job, in each overlay chart; their samples side by side); the best
// job's page (title, spec, timings, event log, metrics chart, alarms) where
// the epoch slider redraws the scatter from another kept epoch (the
// chart's points equal the API's Sample of that epoch and seed) and a
// sample of the best epoch downloads with count and seed set (the CSV
// equals the API's); Delete asks first (Keep: the job stays); an unknown
// id shows the not-found page; the phone layout keeps the key columns;
// the form sends the new fields and shows a refusal beside its field.
// Screenshots to --out: runs-overlay.png, job-page.png, phone-runs.png.
//
//   node tests/e2e/browser/runs_test.mjs --gantryd build/bin/gantryd --out build/dashboard
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { spawnGantryd, waitFor as waitUntil, api as apiAt, watchErrors } from './gantryd.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const gantryd = args.gantryd || 'build/bin/gantryd';
const out = path.resolve(args.out || 'build/dashboard');
fs.mkdirSync(out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-runs-'));
const TIMEOUT = 240_000;

function step(msg) { console.log(`[runs] ${msg}`); }

const waitFor = (fn, what, timeout = TIMEOUT) => waitUntil(fn, what, timeout, 100);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const g = await spawnGantryd({ gantryd, out, tmp, name: 'runs' });
const base = g.base;
const api = (method, p, body) => apiAt(base, method, p, body);
const errors = [];
const LOWER = new Set(['sliced_w1', 'mmd']);
const camel = (s) => s.replace(/_([a-z0-9])/g, (_m, c) => c.toUpperCase());

let code = 1;
try {
  step('a sweep of three ring8 jobs (three learning rates) and one job outside it');
  const LRS = [0.0005, 0.002, 0.004];
  const spec = (lr) => ({ dataset: { kind: 'ring8', size: 512 }, epochs: 40, batchSize: 64, learningRate: lr,
    evalEvery: 5, checkpointEvery: 5, evalPoints: 256, seed: '3', previewPoints: 64 });
  const sweep = [];
  for (const lr of LRS) sweep.push(await api('POST', '/v1/jobs', { name: `ring lr ${lr}`, labels: { sweep: 's1' }, spec: spec(lr) }));
  const other = await api('POST', '/v1/jobs', { name: 'outside the sweep', spec: { dataset: { kind: 'sine', size: 256 }, epochs: 10 } });
  // lr 10 without dropout: the discriminator saturates (issue 25's case), an alarm.
  const alarmed = await api('POST', '/v1/jobs', { name: 'saturating', labels: { case: 'alarm' },
    spec: { dataset: { kind: 'sine', size: 256 }, epochs: 30, learningRate: 10, dropout: 0 } });
  const ids = [...sweep.map((j) => j.id), other.id, alarmed.id];
  const done = await waitFor(async () => {
    const js = await Promise.all(ids.map((id) => api('GET', `/v1/jobs/${id}`)));
    return js.every((j) => ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(j.state)) && js;
  }, 'the jobs to end');
  for (const j of done.slice(0, 4)) assert.equal(j.state, 'JOB_STATE_SUCCEEDED', `${j.name}: ${j.error}`);
  const alarmedJob = done[4];
  assert.ok((alarmedJob.alarms || []).some((a) => a.kind === 'saturation'), `alarms ${JSON.stringify(alarmedJob.alarms)}`);
  const jobs = done.slice(0, 3);
  const metric = jobs[0].spec.selectBy || 'sliced_w1';
  const best = (j) => Number(j.bestMetrics[camel(metric)]);
  const ranked = [...jobs].sort((a, b) => (LOWER.has(metric) ? best(a) - best(b) : best(b) - best(a)));
  const bestJob = ranked[0];

  step('the list\'s ETag: an unchanged page answers 304 (server and browser)');
  const listUrl = '/v1/jobs?view=summary&page_size=100';
  const first = await fetch(base + listUrl);
  const etag = first.headers.get('ETag');
  const fullBytes = (await first.text()).length;
  assert.ok(etag, 'the list carries an ETag');
  const again = await fetch(base + listUrl, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await again.text()).length, 0);

  // The dashboard's files too (Chart.js is 200 KB): an ETag, and a 304 for a page load that has them.
  for (const f of ['/static/chart.min.js', '/static/runs.js', '/static/style.css']) {
    const r = await fetch(base + f);
    const tag = r.headers.get('ETag');
    assert.ok(tag && (await r.arrayBuffer()).byteLength > 0, `${f}: ETag ${tag}`);
    assert.equal((await fetch(base + f, { headers: { 'If-None-Match': tag } })).status, 304, f);
  }

  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  watchErrors(page, errors);
  const listStatuses = [];
  page.on('response', (r) => { if (r.url().includes('/v1/jobs?')) listStatuses.push(r.status()); });
  await page.goto(`${base}/`);
  await page.waitForSelector(`tr[data-job="${other.id}"]`);
  assert.equal(await page.$$eval('#jobs tbody tr', (rs) => rs.length), 5);
  // Three refreshes (every 2 s) with nothing changed: revalidated, small.
  await waitFor(() => page.evaluate(() => window.gantryStats.list.length >= 3), 'three list requests', 20_000);
  const stats = await page.evaluate(() => window.gantryStats.list);
  const revalidated = stats.slice(1).filter((s) => s.transferSize !== null && s.transferSize < s.bodySize);
  console.log(`[runs] list requests: ${JSON.stringify(stats.slice(0, 4))}; statuses seen ${listStatuses.join(',')}; ` +
    `a full page is ${fullBytes} bytes`);
  assert.ok(revalidated.length >= 1 || listStatuses.includes(304), 'a refresh of an unchanged list is a 304');
  for (const s of revalidated) assert.ok(s.transferSize < 600, `a 304 costs ${s.transferSize} bytes`);

  step('pages: two rows a page, "Load more" follows next_page_token');
  await page.goto(`${base}/#/?page_size=2`);
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 2);
  assert.deepEqual(await page.$$eval('#jobs tbody tr', (rs) => rs.map((r) => r.dataset.job)), [alarmed.id, other.id], 'newest first');
  await page.click('#load-more');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 4);
  await page.click('#load-more');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 5);
  assert.ok(!(await page.isVisible('#load-more')), 'no more pages');
  await page.goto(`${base}/#/`);
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 5);

  step('an alarm: a badge on the row (its message as the title), the list on the job page, the event log');
  const alarmTitle = await page.$eval(`tr[data-job="${alarmed.id}"] .alarm`, (e) => e.title);
  assert.match(alarmTitle, /saturation: /);
  assert.ok(alarmTitle.includes(alarmedJob.alarms.find((a) => a.kind === 'saturation').message));
  assert.equal(await page.$(`tr[data-job="${other.id}"] .alarm`), null, 'no badge without alarms');
  await page.goto(`${base}/#/jobs/${alarmed.id}`);
  await page.waitForSelector('#alarms li[data-kind="saturation"]');
  await page.waitForSelector('#alarm-badge .alarm');
  await page.waitForSelector('#event-log li.log-alarm');
  assert.match(await page.textContent('#event-log li.log-alarm'), /alarm saturation at epoch \d+/);
  await page.goto(`${base}/#/`);
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 5);

  step('filter to the sweep: its three jobs; the leaderboard ranks them by their best value');
  await page.waitForSelector('#filter-sweep option[value="s1"]', { state: 'attached' });
  await page.selectOption('#filter-sweep', 's1');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 3);
  assert.equal(await page.$(`tr[data-job="${other.id}"]`), null, 'the job outside the sweep is filtered out');
  assert.match(page.url(), /#\/\?sweep=s1$/);
  await page.waitForSelector('#leaderboard');
  const board = await page.$$eval('#leaderboard tbody tr', (rs) => rs.map((r) => r.dataset.job));
  assert.deepEqual(board, ranked.map((j) => j.id), 'leaderboard order = the API\'s best values');
  const shownBest = await page.$eval(`#leaderboard tbody tr[data-job="${bestJob.id}"] td.key`, (e) => e.textContent);
  assert.equal(shownBest, best(bestJob).toFixed(4));
  // The differing hyper-parameter (learning_rate) is a column; equal ones are not.
  const params = await page.$$eval('#leaderboard th.param', (ts) => ts.map((t) => t.dataset.param));
  assert.deepEqual(params, ['learning_rate']);
  const metricCols = await page.$$eval('#leaderboard thead th[data-metric]', (ts) => ts.map((t) => t.dataset.metric));
  assert.deepEqual(metricCols, ['sliced_w1', 'mmd', 'precision', 'recall', 'density', 'coverage', 'modes']);
  assert.equal(await page.$eval(`#leaderboard tbody tr[data-job="${bestJob.id}"] td[data-metric="modes"]`, (e) => e.textContent),
    String(Number(bestJob.bestMetrics.modes || 0)));

  step('sort by the best column; search by name');
  await page.click('th[data-sort="best"]');
  let order = await page.$$eval('#jobs tbody tr', (rs) => rs.map((r) => Number(r.querySelector('td.best').dataset.best)));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'ascending');
  await page.click('th[data-sort="best"]');
  order = await page.$$eval('#jobs tbody tr', (rs) => rs.map((r) => Number(r.querySelector('td.best').dataset.best)));
  assert.deepEqual(order, [...order].sort((a, b) => b - a), 'descending');
  await page.fill('#filter-search', 'lr 0.002');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 1);
  assert.equal(await page.$eval('#jobs tbody tr', (r) => r.dataset.job), sweep[1].id);
  await page.fill('#filter-search', '');
  await page.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 3);

  step('select the three and compare: one dataset per job in each chart, samples side by side');
  for (const j of jobs) await page.check(`tr[data-job="${j.id}"] input.pick`);
  assert.equal(await page.textContent('#compare'), 'Compare 3 jobs');
  await page.click('#compare');
  for (const box of ['#compare-loss-d', '#compare-loss-g', '#compare-metric-chart']) {
    await page.waitForFunction((sel) => Number(document.querySelector(sel).dataset.points) > 0, box);
  }
  // Every job's whole history: 40 epochs each, 9 evaluations each (1, 5, ..., 40).
  await page.waitForFunction(() => Number(document.querySelector('#compare-loss-d').dataset.points) === 120);
  await page.waitForFunction(() => Number(document.querySelector('#compare-metric-chart').dataset.points) === 27);
  const overlay = await page.evaluate(() => ['#compare-loss-d', '#compare-loss-g', '#compare-metric-chart'].map((s) => {
    const c = Chart.getChart(document.querySelector(`${s} canvas`));
    return c.data.datasets.map((ds) => [ds.label, ds.data.length, ds.borderColor]);
  }));
  for (const chart of overlay) {
    assert.equal(chart.length, 3, 'three datasets');
    assert.deepEqual(chart.map(([label]) => label).sort(), jobs.map((j) => j.name).sort());
    assert.equal(new Set(chart.map(([, , color]) => color)).size, 3, 'a colour per job');
  }
  await page.waitForSelector('#compare-samples[data-ready="1"]');
  assert.deepEqual(await page.$$eval('#compare-samples .small-scatter', (bs) => bs.map((b) => Number(b.dataset.points))), [500, 500, 500]);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'runs-overlay.png'), fullPage: true });

  step('open the best job: title, spec, timings, event log, metrics by epoch');
  await page.click(`#leaderboard tbody tr[data-job="${bestJob.id}"] a`);
  await page.waitForURL(new RegExp(`#/jobs/${bestJob.id}$`));
  await page.waitForFunction(() => Number(document.querySelector('#loss-chart').dataset.points) === 40);
  assert.equal(await page.title(), `${bestJob.name} · gantry`);
  assert.equal(await page.$eval('#spec tr[data-key="learning_rate"] td', (e) => e.textContent), String(bestJob.spec.learningRate));
  assert.equal(await page.$eval('#spec tr[data-key="dataset.kind"] td', (e) => e.textContent), 'ring8');
  assert.equal(await page.$eval('#labels [data-label="sweep"]', (e) => e.textContent), 'sweep=s1');
  assert.match(await page.$eval('[data-timing="throughput"] .v', (e) => e.textContent), /epochs\/s$/);
  assert.notEqual(await page.$eval('[data-timing="duration"] .v', (e) => e.textContent), '–');
  assert.equal(await page.$eval(`[data-stat="best epoch"] .v`, (e) => e.textContent), String(bestJob.bestEpoch));
  await page.waitForFunction(() => Number(document.querySelector('#metrics-chart').dataset.points) === 9);
  const log = await page.$$eval('#event-log li', (ls) => ls.map((l) => [l.dataset.kind, l.dataset.state || '', l.textContent]));
  assert.deepEqual(log.filter(([k]) => k === 'state').map(([, s]) => s), ['QUEUED', 'RUNNING', 'SUCCEEDED']);
  assert.ok(log.some(([k, , t]) => k === 'epochs' && /epochs 1–40 \(40 epochs\)/.test(t)), JSON.stringify(log));
  // Losses alone on the loss chart; the metrics on their own chart.
  assert.deepEqual(await page.evaluate(() => Chart.getChart(document.querySelector('#loss-canvas')).data.datasets.length), 2);

  step('the epoch slider redraws the scatter from another kept epoch');
  await page.waitForFunction(() => !document.querySelector('#epoch-slider').disabled);
  const kept = (await page.$eval('#epoch-slider', (s) => s.dataset.epochs)).split(',').map(Number);
  assert.ok(kept.includes(5) && kept.includes(40), `kept epochs ${kept}`);
  assert.equal(await page.$eval('#scatter-chart', (e) => e.dataset.epoch), 'latest');
  await page.focus('#epoch-slider');
  await page.keyboard.press('Home');
  await page.waitForFunction((e) => document.querySelector('#scatter-chart').dataset.epoch === String(e), kept[0]);
  const seed = await page.$eval('#scatter-chart', (e) => e.dataset.seed);
  const drawn = await page.evaluate(() => Chart.getChart(document.querySelector('#scatter-canvas')).data.datasets[1].data.map((p) => [p.x, p.y]));
  const ref = await api('GET', `/v1/jobs/${bestJob.id}/samples?count=1000&seed=${seed}&epoch=${kept[0]}`);
  assert.equal(ref.epoch, String(kept[0]));
  const refXY = [];
  for (let i = 0; i < ref.points.values.length; i += 2) refXY.push([ref.points.values[i], ref.points.values[i + 1]]);
  assert.deepEqual(drawn, refXY, 'the scatter is the API\'s sample of that epoch and seed');
  // Equal aspect: one unit spans as many pixels on x as on y.
  const aspect = Number(await page.$eval('#scatter-chart', (e) => e.dataset.aspect));
  assert.ok(Math.abs(aspect - 1) < 0.02, `aspect ${aspect}`);
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((e) => document.querySelector('#scatter-chart').dataset.epoch === String(e), kept[1]);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'job-page.png'), fullPage: true });

  step('download a sample of the best epoch with count and seed');
  await page.fill('#d-count', '200');
  await page.fill('#d-seed', '42');
  await page.selectOption('#d-epoch', 'best');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-samples')]);
  const file = path.join(out, 'best-samples.csv');
  await download.saveAs(file);
  const csv = fs.readFileSync(file, 'utf8');
  assert.equal(csv.trim().split('\n').length, 201, 'a header and 200 rows');
  const apiCsv = await (await fetch(`${base}/v1/jobs/${bestJob.id}/samples?count=200&seed=42&epoch=best`,
    { headers: { Accept: 'text/csv' } })).text();
  assert.equal(csv, apiCsv, 'the same points as the API\'s CSV for that seed, epoch and count');
  // A bad count is refused beside the form, nothing downloaded.
  let downloads = 0;
  const countDownload = () => { downloads += 1; };
  page.on('download', countDownload);
  await page.fill('#d-count', '0');
  await page.click('#download-samples');
  await page.waitForFunction(() => /points: a whole number/.test(document.querySelector('#d-error').textContent));
  // Long enough for a download the click might have started to show up.
  await new Promise((r) => setTimeout(r, 500));
  page.off('download', countDownload);
  assert.equal(downloads, 0, 'a refused count downloads nothing');

  step('Delete asks first: Keep leaves the job; Delete deletes');
  await page.goto(`${base}/#/jobs/${other.id}`);
  await page.waitForSelector('#delete', { state: 'visible' });
  await page.click('#delete');
  await page.waitForSelector('#delete-confirm-box', { state: 'visible' });
  assert.match(await page.textContent('#delete-question'), /outside the sweep/);
  await page.click('#delete-keep');
  assert.ok(!(await page.isVisible('#delete-confirm-box')));
  assert.equal((await api('GET', `/v1/jobs/${other.id}`)).id, other.id, 'still there');
  await page.click('#delete');
  await page.click('#delete-confirm');
  await page.waitForURL(`${base}/#/`);
  assert.equal((await fetch(`${base}/v1/jobs/${other.id}`)).status, 404);

  step('an unknown id: the not-found page, no buttons');
  await page.goto(`${base}/#/jobs/j-nosuchjob`);
  await page.waitForSelector('#not-found');
  assert.equal(await page.title(), 'Job not found · gantry');
  for (const sel of ['#cancel', '#delete', '#download-samples', '#download-generator', '#loss-chart']) {
    assert.equal(await page.$(sel), null, `no ${sel}`);
  }
  errors.length = 0;  // the browser logs that 404; it was the point

  step('a phone: the list keeps its key columns in view');
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const ppage = await phone.newPage();
  watchErrors(ppage, errors);
  await ppage.goto(`${base}/#/?sweep=s1`);
  await ppage.waitForFunction(() => document.querySelectorAll('#jobs tbody tr').length === 3);
  // Inside the table's box, which does not scroll sideways.
  const wrap = await ppage.$eval('#runs .table-wrap', (w) => [w.getBoundingClientRect().right, w.scrollWidth, w.clientWidth]);
  assert.ok(wrap[1] <= wrap[2] + 1, `the list scrolls sideways: ${wrap[1]} > ${wrap[2]}`);
  for (const col of ['name', 'state', 'epoch', 'best']) {
    const boxes = await ppage.$$eval(`#jobs td[data-col="${col}"]`, (tds) => tds.map((td) => {
      const r = td.getBoundingClientRect();
      return [r.width, r.right, getComputedStyle(td).display];
    }));
    for (const [w, right, display] of boxes) {
      assert.ok(display !== 'none' && w > 0 && right <= wrap[0] + 0.5, `${col}: width ${w}, right ${right} (box ${wrap[0]})`);
    }
  }
  for (const col of ['lossD', 'age']) assert.ok(!(await ppage.isVisible(`#jobs td[data-col="${col}"]`)), `${col} hidden`);
  assert.ok(await ppage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await ppage.screenshot({ path: path.join(out, 'phone-runs.png'), fullPage: true });
  await phone.close();

  step('the form: new fields reach the spec; a refusal shows beside its field');
  await page.goto(`${base}/#/new`);
  await page.fill('#f-name', 'form fields');
  await page.fill('#f-labels', 'sweep=form, team=a');
  await page.selectOption('#f-priority', 'low');
  await page.selectOption('#f-kind', 'ring8');
  await page.fill('#f-size', '256');
  await page.fill('#f-noise', '0.05');
  await page.fill('#f-epochs', '3');
  await page.selectOption('#f-loss', 'hinge');
  await page.selectOption('#f-select_by', 'coverage');
  await page.fill('#f-eval_every', '2');
  await page.fill('#f-patience', '50');
  assert.ok(!(await page.isVisible('#f-beta1')), 'Advanced is collapsed');
  await page.click('#advanced summary');
  await page.fill('#f-beta1', '1.5');
  await page.fill('#f-dropout', '0.1');
  await page.fill('#f-checkpoint_every', '2');
  await page.selectOption('#f-spectral_norm', 'true');
  await page.selectOption('#f-on_non_finite', 'continue');
  await page.click('#advanced summary');  // closed again: the refusal opens it
  await page.click('#submit');
  await page.waitForSelector('#f-beta1-error', { state: 'visible' });
  assert.match(await page.textContent('#f-beta1-error'), /beta1/);
  assert.match(await page.textContent('#form-error'), /beta1/);
  errors.length = 0;  // the 400 was the point
  await page.fill('#f-beta1', '0.5');
  assert.equal(await page.$('#f-beta1-error'), null, 'the message goes once the field changes');
  await page.click('#submit');
  await page.waitForURL(/#\/jobs\/j-/);
  const formJob = await api('GET', `/v1/jobs/${decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''))}`);
  assert.deepEqual(formJob.labels, { sweep: 'form', team: 'a' });
  assert.equal(formJob.priority, 'PRIORITY_LOW');
  assert.equal(formJob.spec.loss, 'hinge');
  assert.equal(formJob.spec.selectBy, 'coverage');
  assert.equal(formJob.spec.evalEvery, '2');
  assert.equal(formJob.spec.patience, '50');
  assert.equal(formJob.spec.beta1, 0.5);
  assert.equal(formJob.spec.dropout, 0.1);
  assert.equal(formJob.spec.checkpointEvery, '2');
  assert.equal(formJob.spec.spectralNorm, true);
  assert.equal(formJob.spec.onNonFinite, 'continue');
  assert.equal(formJob.spec.dataset.noise, 0.05);

  await context.close();

  assert.deepEqual(errors, [], 'no script or console errors');
  code = 0;
  step('PASS');
} catch (e) {
  console.error(e);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: path.join(out, 'runs-failure.png'), fullPage: true });
  } catch { /* best effort */ }
  if (errors.length) console.error('browser errors:', errors);
} finally {
  await browser.close();
  const rc = await g.stop();
  if (rc !== 0) { console.error(`gantryd exited ${rc}`); code = 1; }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
