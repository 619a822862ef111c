// Roles in the dashboard (issue 26, point 1), in Debian's Chromium driven
// by playwright-core, against a real gantryd with --credentials-file:
//   - vic (viewer) signs in through the login form: the header names him,
//     "New job" is gone, bob's running job shows Cancel disabled with the
//     reason, and the same cancel sent from the page with his session is
//     refused 403 naming the rule; the job still runs;
//   - bob (member): Cancel is disabled on alice's job and enabled on his
//     own, which his click cancels;
//   - alice (admin): cancels bob's other job and deletes it through the
//     page's Delete and its confirmation; bob's Delete is disabled on
//     alice's ended job and the server refuses it;
//   - the audit log (as alice) holds each attempt: vic's refused cancel,
//     bob's and alice's cancels, alice's delete and the three sign-ins;
//   - a principal removed from the file is signed out on his next request,
//     without a restart.
// Screenshots land in OUT (viewer-job.png).
//
//   node tests/e2e/browser/teams_test.mjs --gantryd build/bin/gantryd --out build/dashboard
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { spawnGantryd, waitFor as waitUntil, watchErrors } from './gantryd.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const gantryd = args.gantryd || 'build/bin/gantryd';
const out = path.resolve(args.out || 'build/dashboard');
fs.mkdirSync(out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-teams-'));
const TIMEOUT = 60_000;
const TOKENS = { alice: 'alice-token-1', bob: 'bob-token-2', vic: 'vic-token-3' };
const ROLES = { alice: 'admin', bob: 'member', vic: 'viewer' };

function step(msg) { console.log(`[teams] ${msg}`); }
const waitFor = (fn, what, timeout = TIMEOUT) => waitUntil(fn, what, timeout, 50);
const sha256 = (t) => crypto.createHash('sha256').update(t).digest('hex');

function writeCredentials(file, names) {
  fs.writeFileSync(file, names.map((n) => `${n} ${ROLES[n]} sha256:${sha256(TOKENS[n])}\n`).join(''));
}

async function call(base, who, method, p, body) {
  const res = await fetch(base + p, { method, headers: { 'Content-Type': 'application/json',
    Authorization: `Bearer ${TOKENS[who]}` }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() };
}

// A job that trains for minutes: it is still running when it is cancelled.
const longJob = (name) => ({ name, spec: { epochs: 100000, dataset: { size: 64 } } });

async function signIn(browser, base, who) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  watchErrors(page, errors);
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/login`);
  await page.fill('#token', TOKENS[who]);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
  await waitFor(async () => (await page.textContent('#whoami')) === `${who} · ${ROLES[who]}`, `${who}'s name in the header`);
  return { ctx, page, errors };
}

async function openJob(page, base, id) {
  await page.goto(`${base}/#/jobs/${id}`);
  await page.waitForSelector('[data-stat="owner"]');
}

const credentials = path.join(tmp, 'credentials');
writeCredentials(credentials, ['alice', 'bob', 'vic']);
const g = await spawnGantryd({ gantryd, out, tmp, name: 'teams', extra: ['--credentials-file', credentials] });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
let code = 1;
try {
  const bobJob = (await call(g.base, 'bob', 'POST', '/v1/jobs', longJob('bob 1'))).body;
  const bobJob2 = (await call(g.base, 'bob', 'POST', '/v1/jobs', longJob('bob 2'))).body;
  const aliceJob = (await call(g.base, 'alice', 'POST', '/v1/jobs', longJob('alice 1'))).body;
  assert.equal(bobJob.owner, 'bob');
  assert.equal(aliceJob.owner, 'alice');

  step('vic (viewer): the header, no New job, Cancel disabled, and the server refuses');
  const vic = await signIn(browser, g.base, 'vic');
  assert.equal(await vic.page.isHidden('#nav-new'), true, 'a viewer sees no New job');
  await openJob(vic.page, g.base, bobJob.id);
  assert.equal(await vic.page.textContent('[data-stat="owner"] .v'), 'bob');
  await waitFor(() => vic.page.isDisabled('#cancel'), 'a disabled Cancel for the viewer');
  assert.match(await vic.page.getAttribute('#cancel', 'title'), /viewers only read/);
  const refused = await vic.page.evaluate(async (id) => {
    const res = await fetch(`/v1/jobs/${id}:cancel`, { method: 'POST', credentials: 'same-origin' });
    return { status: res.status, body: await res.json() };
  }, bobJob.id);
  assert.equal(refused.status, 403, JSON.stringify(refused));
  assert.equal(refused.body.error.status, 'PERMISSION_DENIED');
  assert.match(refused.body.error.message, /viewer 'vic' may not cancel/);
  await vic.page.screenshot({ path: path.join(out, 'viewer-job.png'), fullPage: true });
  const still = (await call(g.base, 'alice', 'GET', `/v1/jobs/${bobJob.id}`)).body;
  assert.ok(['JOB_STATE_QUEUED', 'JOB_STATE_RUNNING'].includes(still.state), still.state);

  step('bob (member): Cancel disabled on alice\'s job, enabled on his own, which he cancels');
  const bob = await signIn(browser, g.base, 'bob');
  await openJob(bob.page, g.base, aliceJob.id);
  await waitFor(() => bob.page.isDisabled('#cancel'), 'a disabled Cancel on another\'s job');
  assert.match(await bob.page.getAttribute('#cancel', 'title'), /their own jobs only \(this one is alice's\)/);
  await openJob(bob.page, g.base, bobJob.id);
  await waitFor(() => bob.page.isEnabled('#cancel'), 'an enabled Cancel on his own job');
  await bob.page.click('#cancel');
  await waitFor(async () => (await call(g.base, 'alice', 'GET', `/v1/jobs/${bobJob.id}`)).body.state === 'JOB_STATE_CANCELLED',
    'bob\'s job cancelled by his click');

  step('alice (admin): cancels bob\'s other job and deletes it');
  const alice = await signIn(browser, g.base, 'alice');
  await openJob(alice.page, g.base, bobJob2.id);
  await waitFor(() => alice.page.isEnabled('#cancel'), 'an enabled Cancel for the admin');
  await alice.page.click('#cancel');
  await alice.page.waitForSelector('#delete:not([hidden])');
  await waitFor(() => alice.page.isEnabled('#delete'), 'an enabled Delete for the admin');
  await alice.page.click('#delete');
  await alice.page.click('#delete-confirm');
  await alice.page.waitForURL(`${g.base}/#/`);
  assert.equal((await call(g.base, 'alice', 'GET', `/v1/jobs/${bobJob2.id}`)).status, 404);
  await call(g.base, 'alice', 'POST', `/v1/jobs/${aliceJob.id}:cancel`);
  await waitFor(async () => (await call(g.base, 'alice', 'GET', `/v1/jobs/${aliceJob.id}`)).body.state === 'JOB_STATE_CANCELLED',
    'alice\'s job cancelled');

  step('bob (member): Delete disabled on alice\'s ended job, and refused by the server');
  await openJob(bob.page, g.base, aliceJob.id);
  await bob.page.waitForSelector('#delete:not([hidden])');
  await waitFor(() => bob.page.isDisabled('#delete'), 'a disabled Delete on another\'s job');
  assert.match(await bob.page.getAttribute('#delete', 'title'), /their own jobs only \(this one is alice's\)/);
  const notHis = await bob.page.evaluate(async (id) => (await fetch(`/v1/jobs/${id}`, { method: 'DELETE' })).status,
    aliceJob.id);
  assert.equal(notHis, 403);

  step('the audit log holds each attempt');
  const audit = (await call(g.base, 'alice', 'GET', '/v1/audit?page_size=100')).body.entries;
  const has = (p, action, target, allowed, codeName) => audit.some((e) => (e.principal || '') === p &&
    e.action === action && (e.target || '') === target && Boolean(e.allowed) === allowed && e.code === codeName);
  assert.ok(has('vic', 'CancelJob', bobJob.id, false, 'PERMISSION_DENIED'), JSON.stringify(audit));
  assert.ok(has('bob', 'CancelJob', bobJob.id, true, 'OK'), JSON.stringify(audit));
  assert.ok(has('alice', 'CancelJob', bobJob2.id, true, 'OK'), JSON.stringify(audit));
  assert.ok(has('alice', 'DeleteJob', bobJob2.id, true, 'OK'), JSON.stringify(audit));
  for (const who of ['alice', 'bob', 'vic']) assert.ok(has(who, 'Login', '', true, 'OK'), `${who}'s sign-in`);
  // vic reads only his own entries, and may not ask for another's.
  const own = (await call(g.base, 'vic', 'GET', '/v1/audit')).body.entries;
  assert.ok(own.length >= 2 && own.every((e) => e.principal === 'vic'), JSON.stringify(own));
  assert.equal((await call(g.base, 'vic', 'GET', '/v1/audit?principal=bob')).status, 403);

  step('bob removed from the file: his session ends without a restart');
  writeCredentials(credentials, ['alice', 'vic']);
  await waitFor(async () => (await bob.page.evaluate(async () => (await fetch('/v1/jobs')).status)) === 401,
    'bob\'s session refused once the file no longer names him', 30_000);
  for (const s of [vic, bob, alice]) assert.deepEqual(s.errors.filter((e) => !/status of 40[13]/.test(e)), []);
  code = 0;
  step('PASS');
} catch (e) {
  console.error(e);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: path.join(out, 'teams-failure.png'), fullPage: true });
  } catch { /* best effort */ }
} finally {
  await browser.close();
  await g.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
