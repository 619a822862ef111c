// Cross-site requests in a real browser: Debian's Chromium, headless, driven
// by playwright-core, against a real gantryd with --http-listen on loopback
// (server/README.md, "Cross-site requests").
//
// An attacker's static server (in this test) serves pages from two other
// origins: http://127.0.0.1:Q (the same site, another port: SameSite=Strict
// cookies go along) and http://localhost:Q (another site). Each page, on
// load, sends a hostile request at gantryd:
//   - create-form: a text/plain form whose one field's name and value make
//     the body a CreateJobRequest's JSON (the '=' lands inside "name");
//   - create-form-noref: the same from a page with Referrer-Policy
//     no-referrer, so that the browser sends "Origin: null" (then
//     Sec-Fetch-Site decides);
//   - cancel-form: an empty form POST to /v1/jobs/ID:cancel for a running job;
//   - create-fetch: fetch(no-cors, credentials: include) with a Blob body;
//   - login-form (with a token): a login CSRF, a form POST to /login.
// Twice: without a token, and with --auth-token-file after the browser
// signed in at http://127.0.0.1:P/login (so the cookie exists). After each
// attack: its answers are 403 (as Playwright sees them; a no-cors fetch's
// status is not the page's to read, the job count decides), no job was
// created, the running job still runs, the cookie is unchanged. Then the
// dashboard itself, in the same browser, still works: a job submitted
// through its form, a CSV table uploaded and trained through its form, the
// attacked job cancelled with its Cancel button and deleted with Delete.
// The sign-in is a form post from the login page, whose Referrer-Policy is
// same-origin, so it carries the page's real Origin (asserted: under
// no-referrer it would be "null", and plain-HTTP origins other than
// loopback get no Sec-Fetch-Site to fall back on); the dashboard's fetch()
// calls carry it too.
//
//   node tests/e2e/browser/cross_site_test.mjs --gantryd build/bin/gantryd --out build/cross_site
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { freePort, spawnGantryd, waitFor as waitUntil } from './gantryd.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const gantryd = args.gantryd || 'build/bin/gantryd';
const out = path.resolve(args.out || 'build/cross_site');
fs.mkdirSync(out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-cross-site-'));
const TIMEOUT = 120_000;
const TOKEN = 'cross-site-s3cret';

function step(msg) { console.log(`[cross_site] ${msg}`); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const waitFor = (fn, what, timeout = TIMEOUT) => waitUntil(fn, what, timeout, 50);

async function startGantryd(name, ...extra) {
  const { base, stop } = await spawnGantryd({ gantryd, out, tmp, name, extra });
  const auth = extra.includes('--auth-token-file') ? { Authorization: `Bearer ${TOKEN}` } : {};
  const g = {
    base,
    async call(method, p, body) {
      const res = await fetch(base + p, { method, headers: { 'Content-Type': 'application/json', ...auth },
        body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, json: await res.json() };
    },
    async api(method, p, body) {
      const { status, json } = await g.call(method, p, body);
      assert.ok(status >= 200 && status < 300, `${method} ${p}: ${status} ${JSON.stringify(json)}`);
      return json;
    },
    async jobs() {
      const list = await g.api('GET', '/v1/jobs?page_size=1000');
      return list.jobs || [];
    },
    async state(id) { return (await g.api('GET', `/v1/jobs/${id}`)).state; },
    stop,
  };
  return g;
}

// The attacker: one static server answering on 127.0.0.1:Q (and [::1]:Q
// where it can, for http://localhost:Q), its pages aimed at `target`.
const target = { base: '', job: '' };
const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
function attackerPage(kind, from) {
  const noref = kind.endsWith('-noref');
  const head = `<!doctype html><html><head><meta charset="utf-8">${noref ? '<meta name="referrer" content="no-referrer">' : ''}` +
    `<title>free GPUs</title></head><body>`;
  const submit = '<script>addEventListener("load", () => document.getElementById("f").submit());</script></body></html>';
  const jobName = `csrf ${kind} from ${from}`;
  switch (kind) {
    case 'create-form':
    case 'create-form-noref': {
      // Body: name=value\r\n = {"spec":{...},"name":"csrf=<jobName>"}\r\n
      const fieldName = '{"spec":{"epochs":1,"dataset":{"size":64}},"name":"csrf';
      const fieldValue = `${jobName.replace(/^csrf /, '')}"}`;
      return `${head}<form id="f" method="POST" enctype="text/plain" action="${esc(target.base)}/v1/jobs">` +
        `<input type="hidden" name="${esc(fieldName)}" value="${esc(fieldValue)}"></form>${submit}`;
    }
    case 'cancel-form':
      return `${head}<form id="f" method="POST" action="${esc(target.base)}/v1/jobs/${esc(encodeURIComponent(target.job))}:cancel">` +
        `</form>${submit}`;
    case 'create-fetch': {
      const body = JSON.stringify({ name: jobName, spec: { epochs: 1, dataset: { size: 64 } } });
      return `${head}<script>
        fetch(${JSON.stringify(`${target.base}/v1/jobs`)}, { method: 'POST', mode: 'no-cors', credentials: 'include',
          body: new Blob([${JSON.stringify(body)}]) })
          .then(() => { document.title = 'sent'; }, (e) => { document.title = 'failed: ' + e; });
        </script></body></html>`;
    }
    case 'login-form':
      return `${head}<form id="f" method="POST" action="${esc(target.base)}/login">` +
        '<input type="hidden" name="token" value="the-attackers-token"></form>' + submit;
    default:
      return null;
  }
}
function handleAttacker(req, res) {
  const url = new URL(req.url, 'http://attacker');
  const html = attackerPage(url.pathname.slice(1), req.headers.host);
  res.writeHead(html ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html || 'no such page');
}
async function startAttacker() {
  const port = await freePort();
  const servers = [];
  for (const host of ['127.0.0.1', '::1']) {
    const s = http.createServer(handleAttacker);
    const ok = await new Promise((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, host, () => resolve(true));
    });
    if (ok) servers.push(s);
    else if (host === '127.0.0.1') throw new Error(`the attacker cannot listen on ${host}:${port}`);
  }
  return { port, close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))) };
}

const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  return ok;
}

// One attack: open the page, wait for gantryd's answer to its request (and
// for a fetch, for the page to see its promise settle), then compare the
// job list and the running job.
async function attack(g, ctx, scenario, origin, kind, runningId) {
  const before = await g.jobs();
  const runningBefore = await g.state(runningId);
  const cookiesBefore = JSON.stringify(await ctx.cookies(g.base));
  const page = await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const expectPath = kind === 'login-form' ? '/login' : kind === 'cancel-form' ? ':cancel' : '/v1/jobs';
  const answered = page.waitForResponse((r) => r.url().startsWith(g.base) && r.request().method() === 'POST' &&
    new URL(r.url()).pathname.endsWith(expectPath), { timeout: TIMEOUT });
  await page.goto(`${origin}/${kind}`);
  let status = '?';
  let sent = {};
  let said = '';
  try {
    const r = await answered;
    status = r.status();
    sent = await r.request().allHeaders();
    // gantryd's own words name the Origin and Sec-Fetch-Site it saw (the
    // browser does not report a no-cors fetch's headers to Playwright).
    const text = await r.text().catch(() => '');
    try {
      const j = JSON.parse(text);
      said = j.error ? j.error.message : j.id ? `job ${j.id} ${j.state}` : text.slice(0, 80);
    } catch { said = text.slice(0, 80).replace(/\s+/g, ' '); }
    if (!said) said = '(body not shown)';
  } catch (e) {
    status = `no answer seen (${e.message.split('\n')[0]})`;
  }
  if (kind === 'create-fetch') {
    await waitFor(async () => /^(sent|failed)/.test(await page.title()), 'the fetch to settle');
  }
  // gantryd answered before the browser saw the answer; a short settle
  // loop all the same, so that a late effect would show.
  let after = await g.jobs();
  for (let i = 0; i < 5; i += 1) {
    await sleep(100);
    after = await g.jobs();
  }
  const runningState = await g.state(runningId);
  const cookiesAfter = JSON.stringify(await ctx.cookies(g.base));
  const created = after.filter((j) => !before.some((b) => b.id === j.id));
  // Chromium does not report a no-cors fetch's request headers to
  // Playwright (it always sends Sec-Fetch-Mode to a loopback server).
  const headers = 'sec-fetch-mode' in sent
    ? `Origin: ${sent.origin ?? '(none)'}, Sec-Fetch-Site: ${sent['sec-fetch-site'] ?? '(none)'}, ` +
      `Content-Type: ${sent['content-type'] ?? '(none)'}, cookie sent: ${/gantry_session=/.test(sent.cookie || '')}`
    : 'headers not reported';
  step(`${scenario}: ${kind} from ${origin}: ${status} (${headers}); ` +
    `gantryd: "${said}"; jobs ${before.length} -> ${after.length}${created.length ? ` (created: ${created.map((j) => `'${j.name}'`).join(', ')})` : ''}; ` +
    `running job ${runningState}${runningBefore !== 'JOB_STATE_RUNNING' ? ' (before this attack too)' : ''}`);
  const tag = `${scenario}: ${kind} from ${origin}`;
  // A no-cors fetch's answer is opaque to the page; where Playwright saw
  // its status it must be 403 all the same, and the job count decides.
  if (kind !== 'create-fetch' || typeof status === 'number') check(status === 403, `${tag}: answered ${status}, not 403`);
  check(after.length === before.length && created.length === 0, `${tag}: jobs ${before.length} -> ${after.length}`);
  if (runningBefore === 'JOB_STATE_RUNNING') check(runningState === runningBefore, `${tag}: the running job is ${runningState}`);
  check(cookiesAfter === cookiesBefore, `${tag}: the cookie changed: ${cookiesBefore} -> ${cookiesAfter}`);
  await page.close();
}

// The dashboard itself, from http://127.0.0.1:P/, in the same context.
async function dashboardStillWorks(g, ctx, scenario, runningId) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  const badge = () => page.evaluate(() => {
    const e = document.querySelector('.card .state');
    return e ? e.textContent : null;
  });
  const answerTo = (method, suffix) => page.waitForResponse((r) => r.url().startsWith(g.base) &&
    r.request().method() === method && new URL(r.url()).pathname.endsWith(suffix));
  const describe = async (r) => {
    const h = await r.request().allHeaders();
    return `${r.status()} (Origin: ${h.origin ?? '(none)'}, Sec-Fetch-Site: ${h['sec-fetch-site'] ?? '(none)'}, ` +
      `Content-Type: ${h['content-type'] ?? '(none)'})`;
  };
  // The dashboard's fetch() calls carry its real Origin, and Sec-Fetch-Site
  // says same-origin.
  const sameOrigin = async (r, what) => {
    const h = await r.request().allHeaders();
    if (r.status() !== 200) assert.fail(`${what}: ${r.status()} ${await r.text().catch(() => '')}`);
    assert.equal(h.origin, g.base, `${what}: Origin`);
    assert.equal(h['sec-fetch-site'], 'same-origin', `${what}: Sec-Fetch-Site`);
  };

  await page.goto(`${g.base}/`);
  await page.waitForSelector('#jobs');

  // A job through the form (fetch, Content-Type: application/json).
  await page.click('#nav-new');
  await page.fill('#f-name', `legit ${scenario}`);
  await page.selectOption('#f-kind', 'sine');
  await page.fill('#f-size', '64');
  await page.fill('#f-epochs', '2');
  let answer = answerTo('POST', '/v1/jobs');
  await page.click('#submit');
  let r = await answer;
  await page.waitForURL(/#\/jobs\/j-/);
  const legitId = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));
  step(`${scenario}: dashboard: submit through the form: ${await describe(r)} -> ${legitId}`);
  await sameOrigin(r, 'the form\'s POST /v1/jobs');
  assert.equal((await g.api('GET', `/v1/jobs/${legitId}`)).name, `legit ${scenario}`);

  // A CSV table through the form (POST /v1/tables, text/csv), then its job.
  const csv = path.join(tmp, 'legit.csv');
  fs.writeFileSync(csv, 'color,size\n' + Array.from({ length: 60 }, (_, i) =>
    `${['red', 'green', 'blue'][i % 3]},${(10 + (i % 7) / 2).toFixed(1)}`).join('\n') + '\n');
  await page.click('#nav-new');
  await page.fill('#f-name', `legit table ${scenario}`);
  await page.selectOption('#f-kind', 'table');
  await page.setInputFiles('#f-table', csv);
  await page.fill('#f-epochs', '1');
  await page.fill('#f-batch', '20');
  const upload = answerTo('POST', '/v1/tables');
  answer = answerTo('POST', '/v1/jobs');
  await page.click('#submit');
  const ru = await upload;
  r = await answer;
  await page.waitForURL(/#\/jobs\/j-/);
  const tableJobId = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));
  step(`${scenario}: dashboard: upload a CSV through the form: ${await describe(ru)}; its job: ${await describe(r)} -> ${tableJobId}`);
  await sameOrigin(ru, 'the form\'s POST /v1/tables');
  await sameOrigin(r, 'the form\'s table POST /v1/jobs');
  assert.equal((await g.api('GET', `/v1/jobs/${tableJobId}`)).spec.dataset.kind, 'DATASET_KIND_TABLE');

  // Cancel the job the attacker went for, with its page's Cancel button;
  // then Delete it. (Where an attack did cancel it, a fresh one.)
  if (await g.state(runningId) !== 'JOB_STATE_RUNNING') {
    runningId = (await g.api('POST', '/v1/jobs', { name: 'to cancel', spec: { epochs: 100000, dataset: { size: 256 } } })).id;
  }
  await page.goto(`${g.base}/#/jobs/${runningId}`);
  await waitFor(async () => ['RUNNING', 'QUEUED'].includes(await badge()), 'the job\'s page');
  answer = answerTo('POST', ':cancel');
  await page.click('#cancel');
  r = await answer;
  step(`${scenario}: dashboard: Cancel: ${await describe(r)}`);
  await sameOrigin(r, 'Cancel');
  await waitFor(async () => (await badge()) === 'CANCELLED', 'CANCELLED on the page');
  assert.equal(await g.state(runningId), 'JOB_STATE_CANCELLED');
  answer = answerTo('DELETE', `/v1/jobs/${runningId}`);
  await page.click('#delete');
  await page.click('#delete-confirm');  // the dashboard asks first
  r = await answer;
  step(`${scenario}: dashboard: Delete: ${await describe(r)}`);
  await sameOrigin(r, 'Delete');
  await page.waitForURL(`${g.base}/#/`);
  assert.equal((await g.call('GET', `/v1/jobs/${runningId}`)).status, 404);

  assert.deepEqual(errors, [], 'no script or console errors on the dashboard');
  await page.close();
}

async function scenario(browser, attacker, name, withToken) {
  step(`scenario ${name}`);
  let extra = [];
  if (withToken) {
    const tokenFile = path.join(tmp, 'token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`);
    extra = ['--auth-token-file', tokenFile];
  }
  const g = await startGantryd(name, ...extra);
  const ctx = await browser.newContext();
  try {
    // The job the attacker tries to cancel: running, long.
    const running = await g.api('POST', '/v1/jobs', { name: 'victim', spec: { epochs: 100000, dataset: { size: 256 } } });
    await waitFor(async () => (await g.state(running.id)) === 'JOB_STATE_RUNNING', 'the victim job to run');
    target.base = g.base;
    target.job = running.id;

    if (withToken) {
      // Sign in legitimately (the login page's own form: a same-origin
      // POST with the page's Origin, its Referrer-Policy being same-origin).
      const page = await ctx.newPage();
      page.setDefaultTimeout(TIMEOUT);
      await page.goto(`${g.base}/`);
      await page.waitForURL(`${g.base}/login`);
      await page.fill('#token', TOKEN);
      const answer = page.waitForResponse((r) => r.url() === `${g.base}/login` && r.request().method() === 'POST');
      await page.click('button[type=submit]');
      const r = await answer;
      const h = await r.request().allHeaders();
      step(`${name}: sign in at ${g.base}/login: ${r.status()} (Origin: ${h.origin ?? '(none)'}, ` +
        `Sec-Fetch-Site: ${h['sec-fetch-site'] ?? '(none)'})`);
      assert.equal(r.status(), 303, 'the sign-in');
      assert.equal(h.origin, g.base, 'the sign-in\'s Origin');
      assert.equal(h['sec-fetch-site'], 'same-origin', 'the sign-in\'s Sec-Fetch-Site');
      await page.waitForURL(`${g.base}/`);
      await page.waitForSelector(`tr[data-job="${running.id}"]`);
      const cookies = await ctx.cookies(g.base);
      assert.ok(cookies.some((c) => c.name === 'gantry_session' && /^[0-9a-f]{64}$/.test(c.value) &&
        c.sameSite === 'Strict'), 'the session cookie');
      await page.close();
    }

    const origins = [`http://127.0.0.1:${attacker.port}`, `http://localhost:${attacker.port}`];
    const kinds = ['create-form', 'create-form-noref', 'cancel-form', 'create-fetch'];
    if (withToken) kinds.push('login-form');
    for (const origin of origins) {
      for (const kind of kinds) await attack(g, ctx, name, origin, kind, running.id);
    }

    await dashboardStillWorks(g, ctx, name, running.id);
  } finally {
    await ctx.close();
    const rc = await g.stop();
    if (rc !== 0) failures.push(`${name}: gantryd exited ${rc}`);
  }
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const attacker = await startAttacker();
let code = 1;
try {
  await scenario(browser, attacker, 'no token', false);
  await scenario(browser, attacker, 'token', true);
  if (failures.length) {
    console.error(`[cross_site] FAIL: ${failures.length} attack checks failed:`);
    for (const f of failures) console.error(`[cross_site]   ${f}`);
  } else {
    code = 0;
    step('PASS');
  }
} catch (e) {
  console.error(e);
  if (failures.length) console.error('[cross_site] attack checks failed before that:', failures);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: path.join(out, 'failure.png'), fullPage: true });
  } catch { /* best effort */ }
} finally {
  await browser.close();
  await attacker.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
