// Replays the generated rich-text trace (bench/richtrace.js, the edits of Go's
// crdttest.RichTrace, so that both twins replay one trace: typing, backspaces,
// block splits, block attributes, marks and their removal) into the CRDT twin
// and reports, as medians of --runs: replay as local edits (wall and CPU),
// the same session as plain text (embeds typed as newlines, no marks), apply
// of one update per edit to another replica, snapshot size, encode and load
// time, the spans of the whole document, and a slice of one position (the
// read a binding makes per keystroke) at 1,000 places across the document,
// per slice. It checks that the loaded
// replica has the author's spans and snapshot.
//
//   node --expose-gc client-js/bench/rich-trace-bench.mjs [--ops N] [--runs N]
//
// Go's half: go test -run '^$' -bench BenchmarkRichTrace ./crdt/ (same trace at
// the default 120,000 edits).

import { performance } from 'node:perf_hooks';
import { cpuUsage } from 'node:process';
import { Doc } from '../src/crdt/index.js';
import { richTrace, applyRich } from './richtrace.js';

function parseArgs(argv) {
  const o = { ops: 120_000, runs: 5 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ops') o.ops = Number(argv[++i]);
    else if (argv[i] === '--runs') o.runs = Number(argv[++i]);
  }
  return o;
}

/** median of numbers. */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * measure runs fn runs times (after a gc when exposed) and returns the median
 * wall and CPU milliseconds and fn's last result.
 */
function measure(runs, fn) {
  const wall = [];
  const cpu = [];
  let last;
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.();
    const c0 = cpuUsage();
    const t0 = performance.now();
    last = fn();
    wall.push(performance.now() - t0);
    const c = cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu), last };
}

function replay(ops, updates) {
  const d = new Doc(1);
  const us = [];
  for (const op of ops) {
    applyRich(d, 'body', op);
    if (updates) {
      const u = d.takeUpdate();
      if (u !== null) us.push(u);
    }
  }
  return { d, us };
}

const o = parseArgs(process.argv.slice(2));
const ops = richTrace(1, o.ops);
const plainOps = [];
for (const op of ops) {
  if (op.kind === 'embed') plainOps.push({ kind: 'insert', pos: op.pos, text: '\n' });
  else if (op.kind === 'insert' || op.kind === 'delete') plainOps.push(op);
}
const { d: final, us } = replay(ops, true);
const snap = final.encodeSnapshot();
const spans = JSON.stringify(final.text('body').spans());
const fmt = (x) => x.toFixed(1);
const row = (name, m, extra = '') => console.log(`${name.padEnd(14)} ${fmt(m.wall).padStart(9)} ms wall ${fmt(m.cpu).padStart(9)} ms cpu${extra}`);

console.log(`rich-text trace: ${ops.length} edits, document ${final.text('body').length} positions, ${us.length} updates; median of ${o.runs} runs`);
row('replay', measure(o.runs, () => replay(ops, false)), `   (${fmt((measure(1, () => replay(ops, false)).wall * 1e6) / ops.length)} ns/edit)`);
const plain = measure(o.runs, () => replay(plainOps, false));
row('replay-plain', plain, `   snapshot ${plain.last.d.encodeSnapshot().length} bytes`);
row('apply', measure(o.runs, () => {
  const d = new Doc(2);
  for (const u of us) d.apply(u);
  return d;
}));
const load = measure(o.runs, () => {
  const d = new Doc(2);
  d.apply(snap);
  return d;
});
row('load', load, `   snapshot ${snap.length} bytes`);
row('encode', measure(o.runs, () => final.encodeSnapshot()));
row('spans', measure(o.runs, () => final.text('body').spans()));
const body = final.text('body');
const SLICES = 1000;
const slices = measure(o.runs, () => {
  for (let i = 0; i < SLICES; i++) body.slice(Math.floor(((i + 0.5) * body.length) / SLICES), 1);
});
console.log(`${'slice'.padEnd(14)} ${((slices.wall * 1000) / SLICES).toFixed(1).padStart(9)} µs wall ${((slices.cpu * 1000) / SLICES).toFixed(1).padStart(9)} µs cpu   (one position, mean of ${SLICES} places)`);
if (JSON.stringify(load.last.text('body').spans()) !== spans) throw new Error('the loaded replica has other spans');
const again = load.last.encodeSnapshot();
if (again.length !== snap.length || !again.every((b, i) => b === snap[i])) throw new Error('the loaded replica writes another snapshot');
