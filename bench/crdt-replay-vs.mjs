// The JavaScript twin's replay of a sequential trace beside json-joy's, in the loop the anchors'
// script runs (each transaction's patches as delete then insert; json-joy flushes its patch after
// every transaction): --rounds rounds, each a fresh process per library, interleaved, each process
// replaying the trace --runs times and printing the process CPU time of every run (the first is
// cold). json-joy comes from the anchors' scratch folder (../shared/anchors/crdt/setup.sh installs
// it there, never into the project):
//
//   node bench/crdt-replay-vs.mjs --anchors /tmp/anchors-crdt [--trace FILE] [--rounds 3] [--runs 10]
//
// It prints one line per process and, per library, the median and minimum of the warm runs (all
// but the first two of each process) and the cold runs; each replay is checked against endContent.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';

const self = fileURLToPath(import.meta.url);
const repo = resolve(dirname(self), '..');
const opts = {
  anchors: '/tmp/anchors-crdt',
  trace: join(process.env.TANDEM_TRACES || resolve(repo, '..', 'shared', 'traces'), 'sequential_traces', 'automerge-paper.json.gz'),
  rounds: 3,
  runs: 10,
  lib: '',
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--anchors') opts.anchors = process.argv[++i];
  else if (a === '--trace') opts.trace = process.argv[++i];
  else if (a === '--rounds') opts.rounds = Number(process.argv[++i]);
  else if (a === '--runs') opts.runs = Number(process.argv[++i]);
  else if (a === '--lib') opts.lib = process.argv[++i];
}
const libs = ['tandem', 'json-joy'];

if (opts.lib === '') {
  /** @type {Record<string, {cold: number[], warm: number[]}>} */
  const all = {};
  for (let r = 0; r < opts.rounds; r++) {
    for (const lib of libs) {
      const args = ['--expose-gc', self, ...process.argv.slice(2), '--lib', lib];
      const out = spawnSync(process.execPath, args, { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${lib}: ${out.stderr}`);
      const times = out.stdout.trim().split(' ').map(Number);
      console.log(`round ${r + 1} ${lib.padEnd(8)} CPU ms: ${times.map((t) => t.toFixed(1)).join(' ')}`);
      all[lib] ??= { cold: [], warm: [] };
      all[lib].cold.push(times[0]);
      all[lib].warm.push(...times.slice(2));
    }
  }
  const median = (/** @type {number[]} */ a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  for (const lib of libs) {
    const { cold, warm } = all[lib];
    console.log(`${lib.padEnd(8)} warm median ${median(warm).toFixed(1)} ms, min ${Math.min(...warm).toFixed(1)} ms; cold median ${median(cold).toFixed(1)} ms`);
  }
  const t = all.tandem;
  const j = all['json-joy'];
  console.log(`json-joy / tandem: warm median ${(median(j.warm) / median(t.warm)).toFixed(2)}x, min ${(Math.min(...j.warm) / Math.min(...t.warm)).toFixed(2)}x, cold median ${(median(j.cold) / median(t.cold)).toFixed(2)}x`);
} else {
  const trace = JSON.parse(gunzipSync(readFileSync(opts.trace)).toString('utf8'));
  /** @type {[number, number, string][][]} */
  const txns = trace.txns.map((/** @type {any} */ x) => x.patches.map((/** @type {any} */ p) => [p[0], p[1], p[2]]));
  /** @type {() => {run: () => void, text: () => string}} */
  let make;
  if (opts.lib === 'json-joy') {
    const require = createRequire(join(opts.anchors, 'package.json'));
    const { Model } = await import(pathToFileURL(require.resolve('json-joy/lib/json-crdt/index.js')).href);
    make = () => {
      const model = Model.create();
      model.api.set({ text: '' });
      model.api.flush();
      const str = model.api.str(['text']);
      return {
        run() {
          for (const patches of txns) {
            for (const [p, d, s] of patches) {
              if (d) str.del(p, d);
              if (s) str.ins(p, s);
            }
            model.api.flush();
          }
        },
        text: () => str.view(),
      };
    };
  } else {
    const { Doc } = await import('../client-js/src/crdt/index.js');
    make = () => {
      const doc = new Doc(1);
      const text = doc.text('text');
      return {
        run() {
          for (const patches of txns) {
            for (const [p, d, s] of patches) {
              if (d) text.delete(p, d);
              if (s) text.insert(p, s);
            }
          }
        },
        text: () => text.toString(),
      };
    };
  }
  const times = [];
  for (let r = 0; r < opts.runs; r++) {
    globalThis.gc?.();
    const m = make();
    const c0 = process.cpuUsage();
    m.run();
    const c = process.cpuUsage(c0);
    if (m.text() !== trace.endContent) throw new Error(`${opts.lib}: the replay does not end with endContent`);
    times.push((c.user + c.system) / 1000);
  }
  console.log(times.join(' '));
}
