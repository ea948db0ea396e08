// Replays editing traces into the CRDT twin and reports replay time (median of
// --runs, wall and CPU; and the first, cold run), heap after replay, snapshot
// size, encode and load time, and the size of the full update and the time to
// apply it to an empty replica; checks the final text, the text after a
// snapshot load, and that the update rebuilds a byte-identical snapshot.
//
//   node --expose-gc client-js/bench/trace-bench.mjs [--traces DIR] [--runs N] [--only NAME]
//
// DIR holds sequential_traces/*.json.gz (default: ../shared/traces relative to
// the repository root, or $TANDEM_TRACES). Without traces, a synthetic typing
// trace is generated (seeded) so that the benchmark always has something to run.
// Positions in the traces count code points, like the CRDT's.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Doc } from '../src/crdt/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

function parseArgs(argv) {
  const o = { traces: process.env.TANDEM_TRACES || resolve(repo, '..', 'shared', 'traces'), runs: 5, only: '' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--traces') o.traces = argv[++i];
    else if (argv[i] === '--runs') o.runs = Number(argv[++i]);
    else if (argv[i] === '--only') o.only = argv[++i];
  }
  return o;
}

/** synthetic returns a seeded typing trace: bursts, backspaces, cursor jumps. */
function synthetic(seed = 1, edits = 100000) {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
  const words = ['the ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'lazy ', 'dog ', 'héllo ', 'wörld ', '😀 ', '\n'];
  const txns = [];
  let text = [];
  let cur = 0;
  for (let i = 0; i < edits; i++) {
    const r = rnd();
    if (r < 0.02) cur = Math.floor(rnd() * (text.length + 1));
    if (r < 0.15 && cur > 0) {
      txns.push({ patches: [[cur - 1, 1, '']] });
      text.splice(cur - 1, 1);
      cur--;
      continue;
    }
    const w = [...words[Math.floor(rnd() * words.length)]];
    const ch = w[Math.floor(rnd() * w.length)];
    txns.push({ patches: [[cur, 0, ch]] });
    text.splice(cur, 0, ch);
    cur++;
  }
  return { name: 'synthetic', txns, endContent: text.join('') };
}

function loadTraces(dir, only) {
  const seq = join(dir, 'sequential_traces');
  if (!existsSync(seq)) return [synthetic()];
  return readdirSync(seq)
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .filter((f) => !only || f.startsWith(only))
    .map((f) => ({ name: f.replace('.json.gz', ''), ...JSON.parse(gunzipSync(readFileSync(join(seq, f))).toString('utf8')) }));
}

/** flatten turns txns into flat arrays so that replay measures the CRDT only. */
function flatten(trace) {
  const pos = [];
  const del = [];
  const ins = [];
  for (const t of trace.txns) {
    for (const [p, d, s] of t.patches) {
      pos.push(p);
      del.push(d);
      ins.push(s);
    }
  }
  return { pos, del, ins };
}

function replay(flat) {
  const doc = new Doc(1);
  const text = doc.text('t');
  const { pos, del, ins } = flat;
  for (let i = 0; i < pos.length; i++) {
    if (del[i] > 0) text.delete(pos[i], del[i]);
    if (ins[i] !== '') text.insert(pos[i], ins[i]);
  }
  return doc;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
/** cpuMs returns this process's CPU time in ms: steadier than wall time on a shared machine. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const gc = globalThis.gc;

function bench(trace, runs) {
  const flat = flatten(trace);
  const times = [];
  const cpus = [];
  let doc = null;
  for (let r = 0; r < runs; r++) {
    doc = null;
    if (gc) gc();
    const c0 = cpuMs();
    const t0 = performance.now();
    doc = replay(flat);
    times.push(performance.now() - t0);
    cpus.push(cpuMs() - c0);
  }
  if (gc) gc();
  const heapBefore = process.memoryUsage().heapUsed;
  doc = null;
  if (gc) gc();
  const heapEmpty = process.memoryUsage().heapUsed;
  doc = replay(flat);
  if (gc) gc();
  const heap = process.memoryUsage().heapUsed - heapEmpty;
  void heapBefore;
  const ok = doc.text('t').toString() === trace.endContent;
  const tEnc = performance.now();
  const snap = doc.encodeSnapshot();
  const encMs = performance.now() - tEnc;
  const update = doc.encodeUpdate(new Map());
  const loads = [];
  const loadCpus = [];
  let loaded = null;
  for (let r = 0; r < runs; r++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    loaded = new Doc(2);
    loaded.apply(snap);
    loads.push(performance.now() - t0);
    loadCpus.push(cpuMs() - c0);
  }
  const loadOk = loaded.text('t').toString() === trace.endContent;
  const t1 = performance.now();
  const fromUpdate = new Doc(3);
  fromUpdate.apply(update);
  const applyMs = performance.now() - t1;
  const same = Buffer.from(fromUpdate.encodeSnapshot()).equals(Buffer.from(snap));
  return {
    trace: trace.name,
    edits: flat.pos.length,
    replayMs: +median(times).toFixed(1),
    replayCpuMs: +median(cpus).toFixed(1),
    firstReplayMs: +times[0].toFixed(1),
    heapMB: gc ? +(heap / 1048576).toFixed(2) : NaN,
    snapshotBytes: snap.length,
    encodeMs: +encMs.toFixed(1),
    loadMs: +median(loads).toFixed(2),
    loadCpuMs: +median(loadCpus).toFixed(2),
    firstLoadMs: +loads[0].toFixed(2),
    updateBytes: update.length,
    applyUpdateMs: +applyMs.toFixed(1),
    ok: ok && loadOk && same,
  };
}

const opts = parseArgs(process.argv.slice(2));
if (!gc) console.error('note: run with node --expose-gc for heap figures');
const rows = [];
for (const t of loadTraces(opts.traces, opts.only)) {
  const row = bench(t, opts.runs);
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.table(rows);
if (rows.some((r) => !r.ok)) {
  console.error('FAIL: a final text, a snapshot load or an update round trip did not match');
  process.exit(1);
}
