// gantry dashboard: the router. Each page is a module (plain ES modules,
// loaded by the browser; no build step):
//   common.js  the API, elements, formats, charts and helpers every page uses
//   runs.js    the runs view (#/ and #/?state=&sweep=&label=&q=): filters, sort, leaderboard
//   compare.js the overlay of selected jobs' curves and samples (opened from the runs view)
//   job.js     a job's page (#/jobs/ID), with table.js for a table job's columns and samples
//   report.js  a table job's report (#/jobs/ID/report[?epoch=N])
//   new.js     the new-job form (#/new)
//   studies.js the studies (#/studies) and a study's page (#/studies/ID)
// A new page is a module exporting render(...) -> cleanup and a route below.
// Talks only to gantryd's JSON API (/v1/...), with the session cookie when a token is set.
import { renderRuns } from './runs.js';
import { renderJob } from './job.js';
import { renderReport } from './report.js';
import { renderNew } from './new.js';
import { renderStudies, renderStudy } from './studies.js';
import { caller } from './common.js';

// The shown view: its route key, how to leave it, and (the report) how to
// follow a change of its query without being drawn again.
let current = { key: '', cleanup: () => {}, update: null };

function route() {
  const hash = location.hash || '#/';
  const r = /^#\/jobs\/([^/?]+)\/report(?:\?(.*))?$/.exec(hash);
  const m = /^#\/jobs\/([^/?]+)$/.exec(hash);
  const study = /^#\/studies\/([^/?]+)$/.exec(hash);
  const list = /^#\/?(?:\?(.*))?$/.exec(hash);
  if (r) {
    const id = decodeURIComponent(r[1]);
    const epoch = new URLSearchParams(r[2] || '').get('epoch') || '';
    if (current.key === `report:${id}` && current.update) { current.update(epoch); return; }
    current.cleanup();
    current = { key: `report:${id}`, ...renderReport(id, epoch) };
    return;
  }
  current.cleanup();
  let cleanup;
  if (m) cleanup = renderJob(decodeURIComponent(m[1]));
  else if (study) cleanup = renderStudy(decodeURIComponent(study[1]));
  else if (hash === '#/studies' || hash === '#/studies/') cleanup = renderStudies();
  else if (hash === '#/new') { document.title = 'New job · gantry'; cleanup = renderNew(); }
  else { document.title = 'Jobs · gantry'; cleanup = renderRuns(list ? list[1] : ''); }
  current = { key: hash, cleanup, update: null };
}

window.addEventListener('hashchange', route);
route();

// The signed-in principal and role beside a sign-out button (servers with
// credentials only).
caller().then((who) => {
  if (!who.role) return;
  const whoami = document.getElementById('whoami');
  whoami.textContent = `${who.principal} · ${who.role}`;
  whoami.hidden = false;
  document.getElementById('logout').hidden = false;
  if (who.role === 'viewer') document.getElementById('nav-new').hidden = true;
});
