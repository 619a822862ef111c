// Starting gantryd for the browser tests: a free port, a process with
// --http-listen on loopback, ready once /healthz answers; and the helpers
// the tests share (waiting, the JSON API, a page's errors).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// Polls `fn` every `every` ms until it returns a truthy value (returned), or
// throws after `timeout` ms naming `what`.
export async function waitFor(fn, what, timeout, every = 50) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// The JSON API of the gantryd at `base`: the answer's JSON, asserted 2xx.
export async function api(base, method, p, body, headers = {}) {
  const res = await fetch(base + p, { method, headers: { 'Content-Type': 'application/json', ...headers },
    body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// Collects a page's uncaught errors and console errors into `errors`.
export function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
}

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Starts `gantryd` with its log at OUT/gantryd-NAME.log and its data in
// TMP/data-NAME (NAME: `name`, or the HTTP port); resolves to
// { base, proc, stop() } once it serves, or throws after 30 s.
export async function spawnGantryd({ gantryd, out, tmp, name, extra = [] }) {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const tag = name || String(httpPort);
  const log = fs.openSync(path.join(out, `gantryd-${tag}.log`), 'w');
  const proc = spawn(gantryd, ['--listen', `127.0.0.1:${grpcPort}`, '--http-listen', `127.0.0.1:${httpPort}`,
    '--data-dir', path.join(tmp, `data-${tag}`), '--max-concurrent-jobs', '2', ...extra],
  { stdio: ['ignore', log, log] });
  const base = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`gantryd did not start (${base})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    proc,
    stop() {
      if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
      return new Promise((resolve) => { proc.once('exit', (code) => resolve(code)); proc.kill('SIGTERM'); });
    },
  };
}
