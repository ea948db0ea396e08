// Whole-history merges and snapshot loads, tandem's JavaScript twin beside Yjs, in one process:
// per trace, the trace is replayed into tandem Docs and Y.Docs (outside any timing; a concurrent
// trace with one replica per agent, each merging exactly its transaction's parents first, then
// every agent's updates merged into one document), then each of these is timed as the median of
// --runs (process CPU time, after one warm-up):
//
//   tandem apply(full update)     the update holding the whole history, into an empty Doc
//   tandem apply(snapshot)        the snapshot, into an empty Doc
//   Yjs applyUpdate(v1)           encodeStateAsUpdate, into an empty Y.Doc
//   Yjs applyUpdateV2(v2)         encodeStateAsUpdateV2, into an empty Y.Doc
//
// and the sizes of the four encodings are printed beside them. Yjs comes from the anchors' scratch
// folder (../shared/anchors/crdt/setup.sh installs it there, never into the project):
//
//   node --expose-gc bench/crdt-merge.mjs --anchors /tmp/anchors-crdt [--traces DIR] [--runs 5] [--only NAME]

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { Doc } from '../client-js/src/crdt/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const opts = { anchors: '/tmp/anchors-crdt', traces: process.env.TANDEM_TRACES || resolve(repo, '..', 'shared', 'traces'), runs: 5, only: '' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--anchors') opts.anchors = process.argv[++i];
  else if (a === '--traces') opts.traces = process.argv[++i];
  else if (a === '--runs') opts.runs = Number(process.argv[++i]);
  else if (a === '--only') opts.only = process.argv[++i];
}
const require = createRequire(join(opts.anchors, 'package.json'));
const Y = await import(pathToFileURL(require.resolve('yjs')).href);

const gc = globalThis.gc ?? (() => {});
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** timed returns the median CPU time of runs calls of f, after one warm-up call. */
function timed(runs, f) {
  f();
  const ts = [];
  for (let r = 0; r < runs; r++) {
    gc();
    const c0 = cpuMs();
    f();
    ts.push(cpuMs() - c0);
  }
  ts.sort((a, b) => a - b);
  return +ts[ts.length >> 1].toFixed(2);
}

/**
 * replaySequential replays a sequential trace into a tandem Doc and a Y.Doc.
 * @returns {{doc: Doc, ydoc: any}}
 */
function replaySequential(t) {
  const doc = new Doc(1);
  const text = doc.text('t');
  const ydoc = new Y.Doc();
  const ytext = ydoc.getText('t');
  for (const x of t.txns) {
    ydoc.transact(() => {
      for (const [p, d, s] of x.patches) {
        if (d > 0) ytext.delete(p, d);
        if (s !== '') ytext.insert(p, s);
      }
    });
    for (const [p, d, s] of x.patches) {
      if (d > 0) text.delete(p, d);
      if (s !== '') text.insert(p, s);
    }
  }
  return { doc, ydoc };
}

/**
 * replayConcurrent replays a concurrent trace: agent a edits on its own replica (client ID a+1 in
 * both libraries), which first merges the updates of every transaction its transaction's parents
 * hold (tracked as a version: per agent, how many of its transactions); then all the updates are
 * merged into one fresh document of each library.
 * @returns {{doc: Doc, ydoc: any}}
 */
function replayConcurrent(t) {
  const n = t.numAgents;
  const docs = [];
  const ydocs = [];
  const have = [];
  /** @type {Uint8Array[][]} */ const ups = [];
  /** @type {Uint8Array[][]} */ const yups = [];
  for (let a = 0; a < n; a++) {
    docs.push(new Doc(a + 1));
    const yd = new Y.Doc();
    yd.clientID = a + 1;
    ydocs.push(yd);
    have.push(new Array(n).fill(0));
    ups.push([]);
    yups.push([]);
  }
  const versions = [];
  for (const x of t.txns) {
    const a = x.agent;
    const v = new Array(n).fill(0);
    for (const p of x.parents) for (let k = 0; k < n; k++) v[k] = Math.max(v[k], versions[p][k]);
    for (let k = 0; k < n; k++) {
      for (; have[a][k] < v[k]; have[a][k]++) {
        docs[a].apply(ups[k][have[a][k]]);
        Y.applyUpdate(ydocs[a], yups[k][have[a][k]]);
      }
    }
    const text = docs[a].text('t');
    const ytext = ydocs[a].getText('t');
    let yu = null;
    const on = (u) => {
      yu = u;
    };
    ydocs[a].on('update', on);
    ydocs[a].transact(() => {
      for (const [p, d, s] of x.patches) {
        if (d > 0) ytext.delete(p, d);
        if (s !== '') ytext.insert(p, s);
      }
    });
    ydocs[a].off('update', on);
    for (const [p, d, s] of x.patches) {
      if (d > 0) text.delete(p, d);
      if (s !== '') text.insert(p, s);
    }
    ups[a].push(docs[a].takeUpdate() ?? new Doc(a + 1).encodeUpdate());
    yups[a].push(yu ?? Y.encodeStateAsUpdate(new Y.Doc()));
    have[a][a]++;
    v[a] = have[a][a];
    versions.push(v);
  }
  const doc = new Doc(n + 1);
  const ydoc = new Y.Doc();
  for (let a = 0; a < n; a++) {
    for (const u of ups[a]) doc.apply(u);
    for (const u of yups[a]) Y.applyUpdate(ydoc, u);
  }
  return { doc, ydoc };
}

const files = [];
for (const kind of ['sequential_traces', 'concurrent_traces']) {
  const dir = join(opts.traces, kind);
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json.gz') && f.startsWith(opts.only)).sort()) files.push(join(dir, f));
}
if (files.length === 0) {
  console.error(`no traces in ${opts.traces}`);
  process.exit(1);
}
const rows = [];
for (const file of files) {
  const f = file.split('/').pop();
  const t = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
  const { doc, ydoc } = t.kind === 'concurrent' ? replayConcurrent(t) : replaySequential(t);
  const update = doc.encodeUpdate();
  const snap = doc.encodeSnapshot();
  const v1 = Y.encodeStateAsUpdate(ydoc);
  const v2 = Y.encodeStateAsUpdateV2(ydoc);
  const check = (d, what) => {
    if (d.text('t').toString() !== t.endContent) throw new Error(`${f}: ${what} differs from endContent`);
  };
  const ycheck = (d, what) => {
    if (d.getText('t').toString() !== t.endContent) throw new Error(`${f}: ${what} differs from endContent`);
  };
  let d = new Doc(2);
  d.apply(update);
  check(d, 'tandem merge');
  d = new Doc(2);
  d.apply(snap);
  check(d, 'tandem load');
  let yd = new Y.Doc();
  Y.applyUpdate(yd, v1);
  ycheck(yd, 'Yjs v1');
  yd = new Y.Doc();
  Y.applyUpdateV2(yd, v2);
  ycheck(yd, 'Yjs v2');
  const row = {
    trace: (t.kind === 'concurrent' ? 'concurrent/' : '') + f.replace('.json.gz', ''),
    tandemUpdateBytes: update.length,
    tandemSnapshotBytes: snap.length,
    yjsV1Bytes: v1.length,
    yjsV2Bytes: v2.length,
    tandemMergeCpuMs: timed(opts.runs, () => new Doc(2).apply(update)),
    tandemLoadCpuMs: timed(opts.runs, () => new Doc(2).apply(snap)),
    yjsApplyUpdateCpuMs: timed(opts.runs, () => Y.applyUpdate(new Y.Doc(), v1)),
    yjsApplyUpdateV2CpuMs: timed(opts.runs, () => Y.applyUpdateV2(new Y.Doc(), v2)),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.table(rows);
