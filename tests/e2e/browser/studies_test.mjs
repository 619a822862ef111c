// The studies pages in a real browser (Debian's Chromium, headless,
// playwright-core) against a real gantryd (issue 24).
//
// Creates an ASHA study over HTTP (ring8, learning_rate log-uniform and
// dropout uniform, 9 trials, rungs 1, 3, 9, 27), finds it in #/studies and
// opens it while it runs; once the page says SUCCEEDED: the objective chart
// has one dataset per trial with an objective (its segments' end epochs and
// objectives, as GET /v1/studies/ID has them), the trials table has the
// API's trials, statuses and segment jobs, the Pareto list is the
// undominated trials computed here from the API's metrics (precision and
// coverage, then sliced_w1 and mmd: lower is better), the best trial's
// samples are the API's (500 points, seed 1) over the real data. Desktop and
// phone screenshots (no horizontal overflow on the phone). Replay best trial
// creates a job and opens its page. A second, long study: newest first in
// the list, the page stops polling once left, Cancel from the page ends it
// CANCELLED with its jobs, Delete asks first and deletes it and its jobs; an
// unknown id shows the not-found page.
// Screenshots to --out: study-page.png, study-phone.png.
//
//   node tests/e2e/browser/studies_test.mjs --gantryd build/bin/gantryd --out build/dashboard
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
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-studies-'));
const TIMEOUT = 300_000;

function step(msg) { console.log(`[studies] ${msg}`); }

const waitFor = (fn, what, timeout = TIMEOUT) => waitUntil(fn, what, timeout, 100);
const camel = (s) => s.replace(/_([a-z0-9])/g, (_m, c) => c.toUpperCase());
const LOWER = new Set(['sliced_w1', 'mmd', 'column_distance', 'dcr_share']);
const ENDED = ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'];

// The trials no other trial dominates on metrics mx and my (the API's
// Trial.metrics, each metric in its own direction).
function undominated(study, mx, my) {
  const pts = study.trials.filter((t) => t.metrics).map((t) => ({
    trial: Number(t.number), x: Number(t.metrics[camel(mx)]), y: Number(t.metrics[camel(my)]) }));
  const ge = (a, b, m) => (LOWER.has(m) ? a <= b : a >= b);
  const gt = (a, b, m) => (LOWER.has(m) ? a < b : a > b);
  const dominated = (p) => pts.some((q) => q !== p && ge(q.x, p.x, mx) && ge(q.y, p.y, my) && (gt(q.x, p.x, mx) || gt(q.y, p.y, my)));
  return { all: pts, front: pts.filter((p) => !dominated(p)).map((p) => p.trial).sort((a, b) => a - b), dominated };
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const g = await spawnGantryd({ gantryd, out, tmp, name: 'studies' });  // --max-concurrent-jobs 2
const base = g.base;
const api = (method, p, body) => apiAt(base, method, p, body);
const errors = [];
let code = 1;
try {
  step('an ASHA study over HTTP: ring8, 9 trials, rungs 1, 3, 9, 27');
  const created = await api('POST', '/v1/studies', { name: 'asha ring8', labels: { suite: 'browser' }, spec: {
    base: { dataset: { kind: 'ring8', size: 512 }, batchSize: 64, epochs: 27, evalPoints: 128, previewPoints: 0 },
    space: [{ name: 'learning_rate', kind: 'log_uniform', min: 1e-4, max: 1e-2 },
      { name: 'dropout', kind: 'uniform', min: 0, max: 0.5 }],
    algorithm: 'asha', maxTrials: 9, minEpochs: 1, seed: 1 } });
  const id = created.id;
  assert.match(id, /^st-/);
  assert.equal(created.state, 'JOB_STATE_RUNNING');

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  watchErrors(page, errors);
  page.on('crash', () => console.error('[studies] the page crashed'));

  step('#/studies lists it (the nav link), and the row opens it');
  await page.goto(`${base}/`);
  await page.click('#nav-studies');
  await page.waitForURL(/#\/studies$/);
  await page.waitForSelector(`#studies tr[data-study="${id}"]`);
  assert.equal(await page.title(), 'Studies · gantry');
  const cells = await page.$eval(`#studies tr[data-study="${id}"]`, (r) => Object.fromEntries(
    [...r.querySelectorAll('td[data-col]')].map((td) => [td.dataset.col, td.textContent])));
  assert.match(cells.name, /^asha ring8/);
  assert.equal(cells.algorithm, 'asha');
  assert.match(cells.objective, /^sliced_w1lower is better$/);
  await page.click(`#studies tr[data-study="${id}"] a`);
  await page.waitForURL(new RegExp(`#/studies/${id}$`));
  await page.waitForSelector('#study-head[data-state]:not([data-state=""])');
  const firstState = await page.$eval('#study-head', (e) => e.dataset.state);
  step(`the page opened with the study ${firstState}; it polls every 2 s until the page says SUCCEEDED`);
  await page.waitForSelector('#study-head[data-state="SUCCEEDED"]', { timeout: TIMEOUT });
  // The page's last poll saw the study ended; it is the API's from now on.
  const study = await api('GET', `/v1/studies/${id}`);
  assert.equal(study.state, 'JOB_STATE_SUCCEEDED', study.error);
  assert.equal(study.trials.length, 9);
  const sum = study.summary;
  step(`SUCCEEDED: ${sum.trials} trials, ${sum.jobs} jobs, ${sum.epochsSpent} epochs, best trial ${sum.bestTrial} ` +
    `(${sum.bestObjective} at epoch ${sum.bestEpoch} of ${sum.bestJobId})`);
  assert.equal(await page.title(), 'asha ring8 · gantry');
  assert.equal(await page.$eval('#study-head', (e) => e.dataset.trials), '9');
  const stat = (k) => page.$eval(`#study-head [data-stat="${k}"] .v`, (e) => e.textContent);
  assert.equal(await stat('best trial'), String(sum.bestTrial));
  assert.equal(await stat('best objective'), Number(sum.bestObjective).toFixed(4));
  assert.equal(await stat('jobs'), String(sum.jobs));
  assert.equal(await stat('epochs spent'), String(sum.epochsSpent));
  assert.match(await stat('best job'), new RegExp(`^${sum.bestJobId} epoch ${sum.bestEpoch}$`));
  assert.match(await stat('algorithm'), /^asha · min 1 epochs, η 3$/);
  assert.equal(await stat('objective'), 'sliced_w1 (lower is better)');
  assert.equal(await stat('budget'), '9 trials · no epoch limit · 2 at once');
  assert.deepEqual(await page.$$eval('#study-head ul.space li', (ls) => ls.map((l) => l.textContent)),
    ['learning_rate log_uniform 0.0001..0.01', 'dropout uniform 0..0.5']);
  assert.ok(await page.isVisible('#study-delete'), 'an ended study can be deleted');
  assert.ok(!(await page.isVisible('#study-cancel')), 'an ended study cannot be cancelled');
  assert.ok(await page.isEnabled('#study-replay'));

  step('the chart: one dataset per trial with an objective, its segments\' (end epoch, objective)');
  const want = study.trials.map((t) => [`trial ${t.number}`, t.segments.filter((s) => s.objective !== undefined)
    .map((s) => [Number(s.endEpoch), Number(s.objective)]).sort((a, b) => a[0] - b[0])]).filter(([, d]) => d.length);
  const drawn = await page.evaluate(() => Chart.getChart(document.querySelector('#study-curves-canvas')).data.datasets
    .map((ds) => [ds.label, ds.data.map((p) => [p.x, p.y]), ds.borderColor]));
  assert.deepEqual(drawn.map(([l, d]) => [l, d]), want);
  assert.equal(new Set(drawn.map(([, , c]) => c)).size, drawn.length, 'a colour per trial');
  assert.equal(await page.$eval('#study-curves', (e) => e.dataset.datasets), String(want.length));
  // ASHA: every rung a trial reached is a point (trial 'best' reached 27).
  assert.ok(want.some(([, d]) => d.length >= 3), 'a promoted trial has a line');

  step('the trials table: the API\'s trials, statuses and segments\' jobs');
  const rows = await page.$$eval('#trials tbody tr', (rs) => rs.map((r) => ({
    trial: r.dataset.trial, status: r.dataset.status, badge: r.querySelector('.trial-status').textContent,
    jobs: [...r.querySelectorAll('a.seg')].map((a) => a.dataset.job), lineage: r.querySelector('td.lineage').textContent,
    params: r.querySelector('td.params').textContent })));
  assert.deepEqual(rows.map((r) => r.trial), study.trials.map((t) => String(t.number)));
  for (const [i, t] of study.trials.entries()) {
    assert.equal(rows[i].status, t.status);
    assert.equal(rows[i].badge, t.status);
    assert.deepEqual(rows[i].jobs, t.segments.map((s) => s.jobId));
    assert.equal(rows[i].lineage, '–', 'ASHA promotes a trial from its own checkpoint');
    assert.match(rows[i].params, /^dropout=[\d.e-]+learning_rate=[\d.e-]+$/);
  }
  assert.ok(rows.every((r) => ['stopped', 'done'].includes(r.status)), JSON.stringify(rows.map((r) => r.status)));
  assert.equal(await page.$eval('#trials tr.best-trial', (r) => r.dataset.trial), String(sum.bestTrial));

  step('the Pareto front: precision and coverage by default, the undominated trials from the API\'s metrics');
  assert.equal(await page.$eval('#pareto-x', (s) => s.value), 'precision');
  assert.equal(await page.$eval('#pareto-y', (s) => s.value), 'coverage');
  for (const [mx, my] of [['precision', 'coverage'], ['sliced_w1', 'mmd']]) {
    await page.selectOption('#pareto-x', mx);
    await page.selectOption('#pareto-y', my);
    await page.waitForFunction(([x, y]) => {
      const c = document.querySelector('#board-card');
      return c.dataset.x === x && c.dataset.y === y;
    }, [mx, my]);
    const listed = await page.$$eval('#pareto-list li', (ls) => ls.map((l) => Number(l.dataset.trial)));
    const { all, front, dominated } = undominated(study, mx, my);
    assert.ok(listed.length > 0, `${mx}/${my}: an empty Pareto list`);
    for (const n of listed) assert.ok(!dominated(all.find((p) => p.trial === n)), `${mx}/${my}: trial ${n} is dominated`);
    assert.deepEqual([...listed].sort((a, b) => a - b), front, `${mx}/${my}: the front`);
    assert.equal(await page.$eval('#pareto', (e) => e.dataset.pareto), String(front.length));
    // On the scatter: every trial with metrics, the front's apart.
    const pts = await page.evaluate(() => Chart.getChart(document.querySelector('#pareto-canvas')).data.datasets
      .map((ds) => ds.data.length));
    assert.deepEqual(pts, [front.length, front.length, all.length - front.length]);
    step(`${mx}/${my}: the front is trial(s) ${front.join(', ')}, of ${all.length} with metrics`);
  }
  // The leaderboard ranks the trials by their latest objective (lower is better).
  const board = await page.$$eval('#study-board tbody tr', (rs) => rs.map((r) => Number(r.dataset.trial)));
  const ranked = study.trials.filter((t) => t.objective !== undefined)
    .sort((a, b) => a.objective - b.objective || a.number - b.number).map((t) => Number(t.number));
  assert.deepEqual(board, ranked);
  await page.selectOption('#pareto-x', 'precision');
  await page.selectOption('#pareto-y', 'coverage');

  step('the best trial\'s samples: the API\'s 500 points (seed 1) at the best epoch over the real data');
  await page.waitForFunction((j) => document.querySelector('#best-samples').dataset.job === j, sum.bestJobId);
  assert.equal(await page.$eval('#best-samples', (e) => e.dataset.points), '500');
  assert.equal(await page.$eval('#best-samples', (e) => e.dataset.epoch), String(sum.bestEpoch),
    'the samples are the best epoch\'s');
  const ref = await api('GET', `/v1/jobs/${sum.bestJobId}/samples?count=500&seed=1&epoch=${sum.bestEpoch}`);
  const refXY = [];
  for (let i = 0; i < ref.points.values.length; i += 2) refXY.push([ref.points.values[i], ref.points.values[i + 1]]);
  const sample = await page.evaluate(() => Chart.getChart(document.querySelector('#best-samples-canvas')).data.datasets
    .map((ds) => ds.data.map((p) => [p.x, p.y])));
  assert.deepEqual(sample[1], refXY, 'the generated points are the API\'s sample');
  assert.ok(sample[0].length >= 500, `real data: ${sample[0].length} points`);
  const aspect = Number(await page.$eval('#best-samples', (e) => e.dataset.aspect));
  assert.ok(Math.abs(aspect - 1) < 0.02, `aspect ${aspect}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(out, 'study-page.png'), fullPage: true });

  step('a phone: the study page does not overflow sideways');
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const ppage = await phone.newPage();
  watchErrors(ppage, errors);
  await ppage.goto(`${base}/#/studies/${id}`);
  await ppage.waitForSelector('#study-head[data-state="SUCCEEDED"]');
  await ppage.waitForFunction(() => document.querySelector('#best-samples').dataset.points === '500');
  const widths = await ppage.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(widths[0] <= widths[1] + 1, `the page is ${widths[0]} px wide on a ${widths[1]} px screen`);
  await ppage.screenshot({ path: path.join(out, 'study-phone.png'), fullPage: true });
  await ppage.goto(`${base}/#/studies`);
  await ppage.waitForSelector(`#studies tr[data-study="${id}"]`);
  const lw = await ppage.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(lw[0] <= lw[1] + 1, `the list is ${lw[0]} px wide on a ${lw[1]} px screen`);
  await phone.close();

  step('Replay best trial: one job, then its page');
  await page.click('#study-replay');
  await page.waitForURL(/#\/jobs\/j-[^/]+$/);
  const replayId = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));
  await page.waitForSelector('#job-title');
  const replay = await api('GET', `/v1/jobs/${replayId}`);
  assert.equal(replay.labels['replay-of'], id);
  assert.equal(replay.labels.trial, String(sum.bestTrial));
  // Its label links back to the study.
  assert.equal(await page.getAttribute('#labels a[data-label="replay-of"]', 'href'), `#/studies/${id}`);

  step('a second, long study: newest first in the list');
  const long = await api('POST', '/v1/studies', { name: 'long random', spec: {
    base: { dataset: { kind: 'ring8', size: 4096 }, epochs: 5000, evalPoints: 128, previewPoints: 0 },
    space: [{ name: 'learning_rate', kind: 'log_uniform', min: 1e-4, max: 1e-2 }],
    algorithm: 'random', maxTrials: 3, concurrency: 1, seed: 2 } });
  await page.goto(`${base}/#/studies`);
  await page.waitForSelector(`#studies tr[data-study="${long.id}"]`);
  assert.deepEqual(await page.$$eval('#studies tbody tr', (rs) => rs.map((r) => r.dataset.study)), [long.id, id]);
  assert.equal(await page.$eval(`#studies tr[data-study="${id}"]`, (r) => r.dataset.state), 'SUCCEEDED');

  step('its page polls while it runs, and stops once left');
  const polls = [];
  const onRequest = (r) => { if (r.url().endsWith(`/v1/studies/${long.id}`)) polls.push(Date.now()); };
  page.on('request', onRequest);
  await page.click(`#studies tr[data-study="${long.id}"] a`);
  await page.waitForSelector('#study-head[data-state="RUNNING"]');
  await page.waitForSelector('#trials tbody tr[data-status="running"]', { timeout: 120_000 });
  await waitFor(() => polls.length >= 3, 'three polls of the running study', 20_000);
  await page.goto(`${base}/#/studies`);
  await page.waitForSelector(`#studies tr[data-study="${long.id}"]`);
  const left = polls.length;
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(polls.length, left, 'no poll after leaving the page');
  page.off('request', onRequest);

  step('Cancel from the page: CANCELLED, its jobs too');
  await page.goto(`${base}/#/studies/${long.id}`);
  await page.waitForSelector('#study-cancel', { state: 'visible' });
  assert.ok(!(await page.isVisible('#study-delete')), 'a running study cannot be deleted');
  await page.click('#study-cancel');
  await page.waitForSelector('#study-head[data-state="CANCELLED"]');
  await page.waitForSelector('#study-delete', { state: 'visible' });
  assert.ok(!(await page.isVisible('#study-cancel')));
  // The page follows its jobs' end: no trial left queued or running.
  await page.waitForFunction(() => !document.querySelector('#trials tbody tr[data-status="running"], #trials tbody tr[data-status="queued"]'));
  const cancelled = await api('GET', `/v1/studies/${long.id}`);
  assert.equal(cancelled.state, 'JOB_STATE_CANCELLED');
  const jobsOf = async (sid) => (await api('GET', `/v1/jobs?label_selector=${encodeURIComponent(`study=${sid}`)}&page_size=1000`)).jobs || [];
  const longJobs = await waitFor(async () => {
    const js = await jobsOf(long.id);
    return js.every((j) => ENDED.includes(j.state)) && js;
  }, 'the cancelled study\'s jobs to end', 60_000);
  assert.ok(longJobs.length >= 1);
  for (const j of longJobs) assert.equal(j.state, 'JOB_STATE_CANCELLED', `${j.name}`);
  assert.ok(cancelled.trials.some((t) => t.status === 'cancelled'), JSON.stringify(cancelled.trials.map((t) => t.status)));

  step('Delete asks first: Keep keeps it; Delete deletes it and its jobs');
  await page.click('#study-delete');
  await page.waitForSelector('#study-delete-box', { state: 'visible' });
  assert.match(await page.textContent('#study-delete-question'), /long random/);
  await page.click('#study-delete-keep');
  assert.ok(!(await page.isVisible('#study-delete-box')));
  assert.equal((await api('GET', `/v1/studies/${long.id}`)).id, long.id, 'still there');
  await page.click('#study-delete');
  await page.click('#study-delete-confirm');
  await page.waitForURL(`${base}/#/studies`);
  await page.waitForSelector(`#studies tr[data-study="${id}"]`);
  assert.equal(await page.$(`#studies tr[data-study="${long.id}"]`), null);
  assert.equal((await fetch(`${base}/v1/studies/${long.id}`)).status, 404);
  assert.deepEqual(await jobsOf(long.id), [], 'its jobs are gone');

  assert.deepEqual(errors, [], 'no script or console errors');
  step('an unknown id: the not-found page');
  await page.goto(`${base}/#/studies/st-nosuchstudy`);
  await page.waitForSelector('#not-found');
  assert.equal(await page.title(), 'Study not found · gantry');
  for (const sel of ['#study-cancel', '#study-delete', '#study-replay', '#study-curves']) assert.equal(await page.$(sel), null, `no ${sel}`);
  errors.length = 0;  // the browser logs that 404; it was the point

  await context.close();
  assert.deepEqual(errors, [], 'no script or console errors');
  code = 0;
  step('PASS');
} catch (e) {
  console.error(e);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: path.join(out, 'studies-failure.png'), fullPage: true });
  } catch { /* best effort */ }
  if (errors.length) console.error('browser errors:', errors);
} finally {
  await browser.close();
  const rc = await g.stop();
  if (rc !== 0) { console.error(`gantryd exited ${rc}`); code = 1; }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
