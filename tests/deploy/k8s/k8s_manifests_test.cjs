// The k8s_manifests test: every YAML document under deploy/k8s/ (and its
// folders) validates against the Kubernetes API's schemas (validate.cjs),
// and broken copies of them fail, each naming the file, the document and
// the field.
//
//   node tests/deploy/k8s/k8s_manifests_test.cjs deploy/k8s
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
let YAML, validatePaths;
try {
  YAML = require("yaml");
  ({ validatePaths } = require("./validate.cjs"));
} catch (e) {
  console.error(`k8s_manifests: ${e.message}\n(run deploy/install-deps.sh: it npm ci's tests/deploy/k8s)`);
  process.exit(1);
}

const root = path.resolve(process.argv[2] || path.join(__dirname, "../../../deploy/k8s"));
let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? "ok" : "FAILED"}: ${what}`);
};

// 1. The manifests as committed.
const real = validatePaths([root]);
for (const l of real.lines) console.log(`  ${l}`);
for (const e of real.errors) console.log(`  error: ${e}`);
const files = (function walk(d) {
  return fs.readdirSync(d).sort().flatMap((n) => {
    const f = path.join(d, n);
    return fs.statSync(f).isDirectory() ? walk(f) : /\.ya?ml$/.test(n) ? [f] : [];
  });
})(root);
check(real.errors.length === 0 && real.documents > 0,
      `${real.documents} documents in ${files.length} files under ${root}: ${real.errors.length} errors`);
for (const f of files) {
  check(real.lines.some((l) => l.startsWith(`${f}: document `)), `${path.relative(root, f)} has a valid document`);
}

// 2. Broken copies: each mutation of one document, in a copy of its folder,
// must fail with an error that names the copy's file, the document and the
// field. Documents are found by kind and name, not by position.
function findDoc(kind, name) {
  for (const f of files) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(f, "utf8")).filter((d) => d.contents !== null);
    const i = docs.findIndex((d) => {
      const o = d.toJS();
      return o && o.kind === kind && o.metadata && o.metadata.name === name;
    });
    if (i >= 0) return { file: f, docs: docs.map((d) => d.toJS()), index: i };
  }
  throw new Error(`no ${kind} ${name} under ${root}`);
}

const container = (o) => o.spec.template.spec.containers[0];
const cases = [
  { what: "a string for an integer", kind: "Deployment", name: "gantry-replicas",
    mutate: (o) => { o.spec.replicas = "three"; }, expect: "/spec/replicas: must be integer" },
  { what: "a misspelt field (readinessProb)", kind: "Deployment", name: "gantry-replicas",
    mutate: (o) => { const c = container(o); c.readinessProb = c.readinessProbe; delete c.readinessProbe; },
    expect: '/spec/template/spec/containers/0/readinessProb: unknown field "readinessProb"' },
  { what: "a required field missing (a container's name)", kind: "StatefulSet", name: "gantry-postgres",
    mutate: (o) => { delete container(o).name; }, expect: "/spec/template/spec/containers/0/name: required" },
  { what: "a port as a word", kind: "Service", name: "gantry-replicas-headless",
    mutate: (o) => { o.spec.ports[0].port = "grpc"; }, expect: "/spec/ports/0/port: must be integer" },
  { what: "an unknown kind", kind: "Deployment", name: "gantry-replicas",
    mutate: (o) => { o.kind = "Deploymnet"; }, expect: "unknown to the Kubernetes API: apps/v1 Deploymnet" },
  { what: "a Service that selects no pod", kind: "Service", name: "gantry-replicas",
    mutate: (o) => { o.spec.selector = { app: "gantry-replica" }; }, expect: "/spec/selector: " },
  { what: "a secretKeyRef to a missing key", kind: "Deployment", name: "gantry-replicas",
    mutate: (o) => { container(o).env[0].valueFrom.secretKeyRef.key = "stor"; },
    expect: 'Secret "gantry-replicas" has no key "stor"' },
  { what: "a selector that misses the pod template", kind: "StatefulSet", name: "gantry",
    mutate: (o) => { o.spec.selector.matchLabels = { app: "gantry-x" }; }, expect: "/spec/selector/matchLabels: " },
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k8s-manifests-"));
try {
  cases.forEach((c, n) => {
    const { file, docs, index } = findDoc(c.kind, c.name);
    const dir = path.join(tmp, String(n));
    fs.cpSync(path.dirname(file), dir, { recursive: true, filter: (s) => fs.statSync(s).isDirectory() ? s === path.dirname(file) : true });
    const copy = path.join(dir, path.basename(file));
    c.mutate(docs[index]);
    fs.writeFileSync(copy, docs.map((d) => YAML.stringify(d)).join("---\n"));
    const r = validatePaths([dir]);
    const named = r.errors.filter((e) => e.startsWith(`${copy}: document ${index + 1} `) && e.includes(c.expect));
    check(named.length > 0, `broken copy, ${c.what}: ${named[0] || (r.errors.join("; ") || "no error")}`);
  });
  // and a document that is not YAML at all
  const bad = path.join(tmp, "syntax.yaml");
  fs.writeFileSync(bad, "apiVersion: v1\nkind: Service\nmetadata: {name: x\n");
  const r = validatePaths([bad]);
  check(r.errors.length === 1 && r.errors[0].startsWith(`${bad}: document 1: YAML:`),
        `broken copy, a YAML syntax error: ${r.errors[0] || "no error"}`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

console.log(`k8s_manifests: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
