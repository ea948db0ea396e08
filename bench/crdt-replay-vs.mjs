// The JavaScript twin's replay of a sequential trace beside json-joy's and Yjs's, in the loop the
// anchors' script runs (each transaction's patches as delete then insert; json-joy flushes its
// patch after every transaction, Yjs makes one transaction of them). Two kinds of process, each
// library's interleaved with the others':
//
//   - warm: --rounds processes per library, each replaying the trace --runs times (Yjs, a hundred
//     times slower, --yjs-runs times); the runs after the first two are warm (the code is
//     optimised by then);
//   - cold: --cold more processes per library that replay the trace once, which is what the anchors'
//     script measures ("cold process"); the first run of every warm process is a cold run too.
//
// Each replay is timed three ways: wall time (performance.now, as the anchors' script does), the
// process's CPU time (the compiler's and the garbage collector's helper threads included) and, on
// Linux, the CPU time of the main thread alone (/proc/thread-self/schedstat), which moves least
// with the load of other work on the machine. The libraries come from the anchors' scratch folder
// (../shared/anchors/crdt/setup.sh installs them there, never into the project):
//
//   node bench/crdt-replay-vs.mjs --anchors /tmp/anchors-crdt [--trace FILE] [--rounds 3] [--runs 10]
//        [--cold 5] [--libs tandem,json-joy,yjs] [--yjs-runs 3] [--before DIR]
//
// The library none is the loop calling functions that only keep a length (its replays are not
// checked): what the loop itself costs. The library before is the twin of another checkout (--before
// DIR, a worktree or a copy holding client-js/src), to compare two versions in one interleaved run.
//
// It prints one line per process, then per library the medians of the cold runs and of the warm
// runs, and the ratios to tandem's; each replay is checked against endContent.

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
  cold: 5,
  yjsRuns: 3,
  libs: 'tandem,json-joy,yjs',
  lib: '',
  before: '',
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--anchors') opts.anchors = process.argv[++i];
  else if (a === '--trace') opts.trace = process.argv[++i];
  else if (a === '--rounds') opts.rounds = Number(process.argv[++i]);
  else if (a === '--runs') opts.runs = Number(process.argv[++i]);
  else if (a === '--cold') opts.cold = Number(process.argv[++i]);
  else if (a === '--yjs-runs') opts.yjsRuns = Number(process.argv[++i]);
  else if (a === '--libs') opts.libs = process.argv[++i];
  else if (a === '--lib') opts.lib = process.argv[++i];
  else if (a === '--before') opts.before = process.argv[++i];
  else throw new Error(`unknown argument ${a}`);
}

/**
 * Times is one replay's times in ms: wall, process CPU, main thread CPU (NaN where unknown).
 * @typedef {{wall: number, cpu: number, main: number}} Times
 */

if (opts.lib === '') parent();
else await child();

function parent() {
  const libs = opts.libs.split(',');
  /** @type {Record<string, {cold: Times[], warm: Times[]}>} */
  const all = {};
  for (const lib of libs) all[lib] = { cold: [], warm: [] };
  /**
   * @param {string} lib
   * @param {number} runs
   * @returns {Times[]}
   */
  const spawn = (lib, runs) => {
    const args = ['--expose-gc', self, '--anchors', opts.anchors, '--trace', opts.trace, '--runs', String(runs), '--lib', lib, '--before', opts.before];
    const out = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`${lib}: ${out.stderr}`);
    return JSON.parse(out.stdout);
  };
  const fmt = (/** @type {Times[]} */ ts) => ts.map((t) => t.wall.toFixed(1)).join(' ');
  for (let r = 0; r < opts.rounds; r++) {
    for (const lib of libs) {
      const ts = spawn(lib, lib === 'yjs' ? opts.yjsRuns : opts.runs);
      console.log(`warm round ${r + 1} ${lib.padEnd(8)} wall ms: ${fmt(ts)}`);
      all[lib].cold.push(ts[0]);
      all[lib].warm.push(...ts.slice(2));
    }
  }
  for (let r = 0; r < opts.cold; r++) {
    const line = [];
    for (const lib of libs) {
      const ts = spawn(lib, 1);
      line.push(`${lib} ${ts[0].wall.toFixed(1)}`);
      all[lib].cold.push(ts[0]);
    }
    console.log(`cold round ${r + 1} wall ms: ${line.join(', ')}`);
  }
  const median = (/** @type {number[]} */ a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  /** @type {(ts: Times[], k: keyof Times) => number} */
  const med = (ts, k) => median(ts.map((t) => t[k]));
  console.log('\nmedians in ms (n cold, n warm): cold wall / CPU / main thread; warm wall / CPU / main thread');
  for (const lib of libs) {
    const { cold, warm } = all[lib];
    const w = warm.length > 0 ? `warm ${med(warm, 'wall').toFixed(1)} / ${med(warm, 'cpu').toFixed(1)} / ${med(warm, 'main').toFixed(1)}` : 'warm -';
    console.log(`${lib.padEnd(8)} (${cold.length}, ${warm.length}): cold ${med(cold, 'wall').toFixed(1)} / ${med(cold, 'cpu').toFixed(1)} / ${med(cold, 'main').toFixed(1)}; ${w}`);
  }
  const t = all.tandem;
  if (t === undefined) return;
  for (const lib of libs) {
    if (lib === 'tandem') continue;
    const o = all[lib];
    /** @type {(k: keyof Times) => string} */
    const ratio = (k) => `${(med(o.cold, k) / med(t.cold, k)).toFixed(2)}x`;
    /** @type {(k: keyof Times) => string} */
    const wratio = (k) => (o.warm.length > 0 && t.warm.length > 0 ? `${(med(o.warm, k) / med(t.warm, k)).toFixed(2)}x` : '-');
    console.log(`${lib} / tandem: cold wall ${ratio('wall')}, CPU ${ratio('cpu')}, main thread ${ratio('main')}; warm wall ${wratio('wall')}, CPU ${wratio('cpu')}, main thread ${wratio('main')}`);
  }
}

async function child() {
  const trace = JSON.parse(gunzipSync(readFileSync(opts.trace)).toString('utf8'));
  /** @type {[number, number, string][][]} */
  const txns = trace.txns.map((/** @type {any} */ x) => x.patches.map((/** @type {any} */ p) => [p[0], p[1], p[2]]));
  const require = createRequire(join(opts.anchors, 'package.json'));
  /** @type {() => {run: () => void, text: () => string}} */
  let make;
  if (opts.lib === 'json-joy') {
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
  } else if (opts.lib === 'yjs') {
    const Y = await import(pathToFileURL(require.resolve('yjs')).href);
    make = () => {
      const doc = new Y.Doc();
      const text = doc.getText('text');
      return {
        run() {
          for (const patches of txns) {
            doc.transact(() => {
              for (const [p, d, s] of patches) {
                if (d) text.delete(p, d);
                if (s) text.insert(p, s);
              }
            });
          }
        },
        text: () => text.toString(),
      };
    };
  } else if (opts.lib === 'tandem' || opts.lib === 'before') {
    const src = opts.lib === 'tandem' ? '../client-js/src/crdt/index.js' : pathToFileURL(join(resolve(opts.before), 'client-js', 'src', 'crdt', 'index.js')).href;
    const { Doc } = await import(src);
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
  } else if (opts.lib === 'none') {
    // The loop alone: calls that keep a length and nothing else, so that
    // what the loop itself costs cold (its iteration runs unoptimised until
    // it is compiled) can be told from what the libraries cost.
    make = () => {
      let len = 0;
      const text = {
        delete: (/** @type {number} */ p, /** @type {number} */ d) => {
          len -= d;
        },
        insert: (/** @type {number} */ p, /** @type {string} */ s) => {
          len += s.length;
        },
      };
      return {
        run() {
          for (const patches of txns) {
            for (const [p, d, s] of patches) {
              if (d) text.delete(p, d);
              if (s) text.insert(p, s);
            }
          }
        },
        text: () => (len >= 0 ? trace.endContent : ''), // nothing to check
      };
    };
  } else {
    throw new Error(`unknown library ${opts.lib}`);
  }
  /** @returns {number} the main thread's CPU time in ms, NaN where /proc has none */
  const mainCpu = () => {
    try {
      return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
    } catch {
      return NaN;
    }
  };
  /** @type {Times[]} */
  const times = [];
  for (let r = 0; r < opts.runs; r++) {
    globalThis.gc?.();
    const m = make();
    const m0 = mainCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    m.run();
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    const m1 = mainCpu();
    if (m.text() !== trace.endContent) throw new Error(`${opts.lib}: the replay does not end with endContent`);
    times.push({ wall: t1 - t0, cpu: (c.user + c.system) / 1000, main: m1 - m0 });
  }
  console.log(JSON.stringify(times));
}
