// Validates Kubernetes manifests offline against the API's schemas, which
// kubernetes-models ships compiled into the package (one ajv validator per
// apiVersion/kind): nothing is downloaded when it validates.
//
//   node tests/deploy/k8s/validate.cjs FILE_OR_FOLDER...
//
// Every YAML document is checked for
//   - a known apiVersion and kind, and the schema: types, required fields,
//     enums and formats (kubernetes-models' validator);
//   - no unknown field (what kubectl's strict field validation rejects, and
//     what the schemas alone let through: a misspelt readinessProbe would
//     otherwise be dropped silently). The validator reads each property its
//     schema defines; a field of a structured object that it never read is
//     unknown. Maps (labels, resources.requests, stringData) are enumerated
//     by the validator and so are exempt;
//   - within each folder: a workload's selector matches its pod template's
//     labels, every Service selects some pod template, every secretKeyRef and
//     secret volume names a Secret of the folder that has that key, a
//     StatefulSet's serviceName names a Service of the folder.
// Each error names the file, the document (1-based) and the field's path.
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

function loadModel(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  const parts = apiVersion.split("/");
  if (parts.length > 2 || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  try {
    const mod = require(`kubernetes-models/${parts.join("/")}/${kind}`);
    return mod[kind] || null;
  } catch (e) {
    if (e.code === "MODULE_NOT_FOUND") return null;
    throw e;
  }
}

// Wraps obj so that every property the validator reads, and every object it
// enumerates, is recorded (in records, keyed by the original object).
function tracked(obj, records) {
  if (obj === null || typeof obj !== "object") return obj;
  let rec = records.get(obj);
  if (!rec) {
    rec = { read: new Set(), enumerated: false, proxy: null };
    records.set(obj, rec);
    rec.proxy = new Proxy(obj, {
      get(target, key, receiver) {
        if (typeof key === "string") rec.read.add(key);
        return tracked(Reflect.get(target, key, receiver), records);
      },
      has(target, key) {
        if (typeof key === "string") rec.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        rec.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
  }
  return rec.proxy;
}

function unknownFields(obj, records, where, out) {
  if (obj === null || typeof obj !== "object") return;
  if (Array.isArray(obj)) {
    obj.forEach((v, i) => unknownFields(v, records, `${where}/${i}`, out));
    return;
  }
  const rec = records.get(obj);
  // never looked into (free-form), or a map: its keys are data, not fields
  if (!rec || rec.enumerated || rec.read.size === 0) return;
  for (const key of Object.keys(obj)) {
    if (!rec.read.has(key)) {
      out.push(`${where}/${key}: unknown field "${key}"`);
    } else {
      unknownFields(obj[key], records, `${where}/${key}`, out);
    }
  }
}

// The errors of one parsed document (an empty list when it is valid).
function validateDocument(doc) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return ["(document): not a mapping"];
  }
  const Model = loadModel(doc.apiVersion, doc.kind);
  if (!Model) {
    return [`/apiVersion, /kind: unknown to the Kubernetes API: ${doc.apiVersion} ${doc.kind}`];
  }
  const records = new Map();
  const errors = [];
  try {
    Model.prototype.validate.call(tracked(doc, records));
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    for (const err of e.errors) {
      const field = err.instancePath || "/";
      const detail = err.params && err.params.missingProperty
        ? `${field === "/" ? "" : field}/${err.params.missingProperty}: required`
        : `${field}: ${err.message}`;
      errors.push(detail);
    }
  }
  unknownFields(doc, records, "", errors);
  return errors;
}

function podTemplate(doc) {
  return ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"].includes(doc.kind)
    ? doc.spec && doc.spec.template : null;
}

function matches(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);
}

// Cross-document checks inside one folder: docs are {file, index, doc}.
function crossCheck(docs) {
  const errors = [];
  const at = (d, field, msg) => errors.push(`${d.file}: document ${d.index} (${d.doc.kind} ${d.doc.metadata && d.doc.metadata.name}): ${field}: ${msg}`);
  const secrets = new Map();
  const services = new Set();
  const templates = [];
  for (const d of docs) {
    if (d.doc.kind === "Secret") {
      secrets.set(d.doc.metadata.name, new Set([
        ...Object.keys(d.doc.data || {}), ...Object.keys(d.doc.stringData || {})]));
    }
    if (d.doc.kind === "Service") services.add(d.doc.metadata.name);
    const t = podTemplate(d.doc);
    if (t) templates.push({ d, labels: (t.metadata && t.metadata.labels) || {} });
  }
  for (const { d, labels } of templates) {
    const sel = d.doc.spec.selector && d.doc.spec.selector.matchLabels;
    if (!matches(sel, labels)) {
      at(d, "/spec/selector/matchLabels", `${JSON.stringify(sel)} does not match the pod template's labels ${JSON.stringify(labels)}`);
    }
    if (d.doc.kind === "StatefulSet" && d.doc.spec.serviceName && !services.has(d.doc.spec.serviceName)) {
      at(d, "/spec/serviceName", `no Service "${d.doc.spec.serviceName}" in this folder`);
    }
    const spec = d.doc.spec.template.spec || {};
    (spec.volumes || []).forEach((v, i) => {
      if (v.secret && !secrets.has(v.secret.secretName)) {
        at(d, `/spec/template/spec/volumes/${i}/secret/secretName`, `no Secret "${v.secret.secretName}" in this folder`);
      }
    });
    for (const list of ["initContainers", "containers"]) (spec[list] || []).forEach((c, ci) => {
      (c.env || []).forEach((e, i) => {
        const ref = e.valueFrom && e.valueFrom.secretKeyRef;
        if (!ref) return;
        const field = `/spec/template/spec/${list}/${ci}/env/${i}/valueFrom/secretKeyRef`;
        if (!secrets.has(ref.name)) at(d, field, `no Secret "${ref.name}" in this folder`);
        else if (!secrets.get(ref.name).has(ref.key)) at(d, field, `Secret "${ref.name}" has no key "${ref.key}"`);
      });
    });
  }
  for (const d of docs) {
    if (d.doc.kind !== "Service" || !d.doc.spec || !d.doc.spec.selector) continue;
    if (!templates.some(({ labels }) => matches(d.doc.spec.selector, labels))) {
      at(d, "/spec/selector", `${JSON.stringify(d.doc.spec.selector)} selects no pod template in this folder`);
    }
  }
  return errors;
}

function yamlFiles(p) {
  const st = fs.statSync(p);
  if (st.isFile()) return [p];
  return fs.readdirSync(p).sort().flatMap((name) => {
    const full = path.join(p, name);
    if (fs.statSync(full).isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(name) ? [full] : [];
  });
}

// Validates files and folders; returns {documents, errors, lines}.
function validatePaths(paths) {
  const result = { documents: 0, errors: [], lines: [] };
  const byFolder = new Map();
  for (const file of paths.flatMap(yamlFiles)) {
    const parsed = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
    let index = 0;
    for (const ydoc of parsed) {
      if (ydoc.contents === null) continue;   // an empty document (a trailing ---)
      index++;
      result.documents++;
      if (ydoc.errors.length) {
        result.errors.push(`${file}: document ${index}: YAML: ${ydoc.errors[0].message.split("\n")[0]}`);
        continue;
      }
      const doc = ydoc.toJS();
      const name = doc && doc.metadata && doc.metadata.name;
      const errors = validateDocument(doc);
      for (const e of errors) result.errors.push(`${file}: document ${index} (${doc && doc.kind} ${name}): ${e}`);
      if (!errors.length) {
        result.lines.push(`${file}: document ${index}: ${doc.apiVersion} ${doc.kind} ${name}: valid`);
        const dir = path.dirname(file);
        if (!byFolder.has(dir)) byFolder.set(dir, []);
        byFolder.get(dir).push({ file, index, doc });
      }
    }
  }
  for (const docs of byFolder.values()) result.errors.push(...crossCheck(docs));
  return result;
}

module.exports = { validateDocument, validatePaths };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (!args.length) {
    console.error("usage: node validate.cjs FILE_OR_FOLDER...");
    process.exit(2);
  }
  const r = validatePaths(args);
  for (const l of r.lines) console.log(l);
  for (const e of r.errors) console.error(`error: ${e}`);
  console.log(`${r.documents} documents, ${r.errors.length} errors`);
  process.exit(r.errors.length ? 1 : 0);
}
