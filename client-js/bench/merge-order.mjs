// Applies the per-transaction updates of concurrent editing sessions to a new
// replica in order, reversed and shuffled (seeded), and reports the CPU time
// of each merge (process CPU, garbage collection included; median of --runs)
// and the ratios reversed / in order and shuffled / in order. Out of order,
// units wait in the pending set until what they depend on arrives. Every
// order must end in the same text and snapshot bytes as in order.
//
//   node client-js/bench/merge-order.mjs [--traces DIR] [--runs N] [--events N] [--limit SECONDS] [--only NAME]
//
// The sessions: the concurrent traces in DIR/concurrent_traces (default
// ../shared/traces relative to the repository root, or $TANDEM_TRACES), one
// update per transaction made by one replica per agent, when they are there;
// and a generated two-writer session of --events single-character edits
// (default 100,000; seeded), so that the benchmark runs without the traces.
// A merge that passes --limit seconds of CPU (default 300) is stopped and
// reported as more than that.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Doc } from '../src/crdt/index.js';
import { xorshift32 } from '../src/crdt/scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

function parseArgs(argv) {
  const o = { traces: process.env.TANDEM_TRACES || resolve(repo, '..', 'shared', 'traces'), runs: 3, events: 100000, limit: 300, only: '' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--traces') o.traces = argv[++i];
    else if (argv[i] === '--runs') o.runs = Number(argv[++i]);
    else if (argv[i] === '--events') o.events = Number(argv[++i]);
    else if (argv[i] === '--limit') o.limit = Number(argv[++i]);
    else if (argv[i] === '--only') o.only = argv[++i];
  }
  return o;
}

/** cpuMs returns the process's CPU time (user + system) in milliseconds. */
function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * traceUpdates replays a concurrent trace on one replica per agent and
 * returns the update of every transaction in trace order (a causal order).
 */
function traceUpdates(tr) {
  const n = tr.numAgents;
  const docs = [];
  const have = [];
  for (let a = 0; a < n; a++) {
    docs.push(new Doc(a + 1));
    have.push(new Array(n).fill(0));
  }
  const byAgent = Array.from({ length: n }, () => []);
  const versions = [];
  const out = [];
  for (const txn of tr.txns) {
    const a = txn.agent;
    const v = new Array(n).fill(0);
    for (const p of txn.parents) for (let x = 0; x < n; x++) v[x] = Math.max(v[x], versions[p][x]);
    for (let x = 0; x < n; x++) for (; have[a][x] < v[x]; have[a][x]++) docs[a].apply(byAgent[x][have[a][x]]);
    const t = docs[a].text('body');
    for (const [pos, del, ins] of txn.patches) {
      if (del > 0) t.delete(pos, del);
      if (ins !== '') t.insert(pos, ins);
    }
    const u = docs[a].takeUpdate() ?? new Uint8Array([1, 0, 0, 0, 0]);
    byAgent[a].push(u);
    out.push(u);
    have[a][a]++;
    v[a]++;
    versions.push(v);
  }
  return out;
}

/**
 * twoWriterUpdates generates a seeded session of two writers: single-character
 * inserts (mostly at the end) and deletes, an update per edit, the writers
 * catching up with each other every ~40 edits so that their edits depend on
 * each other. It returns the updates in the order they were made.
 */
function twoWriterUpdates(seed, events) {
  const next = xorshift32(seed);
  const int = (n) => next() % n;
  const w = [new Doc(1), new Doc(2)];
  const got = [0, 0];
  const mine = [[], []];
  const out = [];
  while (out.length < events) {
    const i = int(2);
    if (int(40) === 0) {
      const o = 1 - i;
      for (; got[i] < mine[o].length; got[i]++) w[i].apply(out[mine[o][got[i]]]);
    }
    const t = w[i].text('body');
    const n = t.length;
    if (n > 0 && int(4) === 0) t.delete(int(n), 1);
    else t.insert(int(8) === 0 ? int(n + 1) : n, String.fromCharCode(97 + int(26)));
    mine[i].push(out.length);
    out.push(/** @type {Uint8Array} */ (w[i].takeUpdate()));
  }
  return out;
}

/** shuffled returns a seeded shuffle of a. */
function shuffled(a, seed) {
  const next = xorshift32(seed);
  const b = a.slice();
  for (let k = b.length - 1; k > 0; k--) {
    const j = next() % (k + 1);
    [b[k], b[j]] = [b[j], b[k]];
  }
  return b;
}

/**
 * merge applies updates to a new replica and returns its CPU time, or null
 * when it passed the limit.
 */
function merge(updates, limitMs) {
  const d = new Doc(2 ** 40);
  const t0 = cpuMs();
  for (let i = 0; i < updates.length; i++) {
    d.apply(updates[i]);
    if ((i & 255) === 0 && cpuMs() - t0 > limitMs) return { ms: null, doc: d };
  }
  return { ms: cpuMs() - t0, doc: d };
}

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

function hex(b) {
  return Buffer.from(b).toString('hex');
}

const o = parseArgs(process.argv.slice(2));
const sets = [];
const dir = join(o.traces, 'concurrent_traces');
if (existsSync(dir)) {
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json.gz')).sort()) {
    const name = f.replace('.json.gz', '');
    sets.push({ name, make: () => traceUpdates(JSON.parse(gunzipSync(readFileSync(join(dir, f))).toString('utf8'))) });
  }
} else {
  console.log(`no traces in ${dir}: the generated session only`);
}
sets.push({ name: `two-writers-${o.events}`, make: () => twoWriterUpdates(1, o.events) });

console.log(`| updates (CPU ms per merge, median of ${o.runs}) | in order | reversed | shuffled | reversed / in order | shuffled / in order |`);
console.log('|---|---|---|---|---|---|');
for (const s of sets) {
  if (o.only !== '' && !s.name.includes(o.only)) continue;
  const updates = s.make();
  const orders = [
    ['inorder', updates],
    ['reversed', updates.slice().reverse()],
    ['shuffled', shuffled(updates, 3)],
  ];
  const res = {};
  let want = null;
  for (const [name, us] of orders) {
    const times = [];
    for (let r = 0; r < o.runs; r++) {
      const { ms, doc } = merge(us, o.limit * 1000);
      if (ms === null) {
        times.length = 0;
        break;
      }
      const got = hex(doc.encodeSnapshot());
      if (want === null) want = got;
      else if (got !== want) throw new Error(`${s.name}, ${name}: the merge differs from the in-order one`);
      if (doc.pendingBytes() !== 0) throw new Error(`${s.name}, ${name}: ${doc.pendingBytes()} bytes left pending`);
      times.push(ms);
    }
    res[name] = times.length === 0 ? null : median(times);
  }
  const f = (x) => (x === null ? `> ${o.limit * 1000} (stopped)` : x.toFixed(1));
  const ratio = (x) => (x === null || res.inorder === null ? '—' : `${(x / res.inorder).toFixed(1)}x`);
  console.log(`| ${s.name} (${updates.length}) | ${f(res.inorder)} | ${f(res.reversed)} | ${f(res.shuffled)} | ${ratio(res.reversed)} | ${ratio(res.shuffled)} |`);
}
