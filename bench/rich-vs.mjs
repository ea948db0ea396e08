// A generated rich-text editing session replayed by tandem's JavaScript twin, Yjs and Automerge, each
// in fresh processes: replay time, snapshot size, load time. The session is the Go benchmarks' one
// (crdt/bench_rich_test.go: typing, backspaces, block splits, block types, bold, italic, links and
// comments, and their removal), written by Go as JSON lines:
//
//   go test ./crdt -run TestRichTraceExport -count=1 -richtrace-out /tmp/rich-trace.jsonl
//   node bench/rich-vs.mjs --anchors /tmp/anchors-crdt --trace /tmp/rich-trace.jsonl [--runs 3]
//        [--libs tandem,yjs,automerge]
//
// Every edit is its own transaction, as when a person types. How each library takes the edits:
//
//   tandem     Text.insert / delete / insertEmbed / format (with the edit's expand) / setAttr
//   Yjs        Y.Text.insert (inheriting the marks at the position) / delete / insertEmbed / format
//              (null removes) / format of the embed's one position for its attribute: the model of
//              y-quill. An insertion that inherits its marks, and a format, walk the text from its
//              start to the position (Yjs's findPosition uses its search markers only when an
//              insertion gives its attributes; y-quill's applyDelta walks from the start too, to
//              retain up to the change). Giving empty attributes instead is no faster: Yjs then
//              writes format items around every character typed inside a mark, to negate it.
//   yjs-pm     the shape y-prosemirror keeps: a Y.XmlFragment of one Y.XmlElement per block, each
//              holding one Y.XmlText with the block's formatted text. The session's flat positions
//              are mapped to (block, offset) by the harness (a cached block cursor, counted in the
//              replay time); a block marker typed splits a block (the tail's delta moves into a new
//              element), a marker deleted joins two, a format covers each block's part, and a
//              block type is an attribute of the element (y-prosemirror replaces the element).
//   Automerge  splice / splitBlock / mark and unmark with the edit's expand / updateBlock: the model
//              @automerge/prosemirror uses. Its mark values are scalars, so object values are stored
//              as their JSON text.
//
// The libraries come from the anchors' scratch folder (../shared/anchors/crdt/setup.sh installs
// them there, never into the project). Each replay is checked against the session's final length
// and text (embeds as newlines). Times are wall and process CPU in ms, medians of --runs processes.

import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';

const self = fileURLToPath(import.meta.url);
const repo = resolve(dirname(self), '..');
const opts = { anchors: '/tmp/anchors-crdt', trace: '/tmp/rich-trace.jsonl', runs: 3, libs: 'tandem,yjs-pm,yjs,automerge', lib: '' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--anchors') opts.anchors = process.argv[++i];
  else if (a === '--trace') opts.trace = process.argv[++i];
  else if (a === '--runs') opts.runs = Number(process.argv[++i]);
  else if (a === '--libs') opts.libs = process.argv[++i];
  else if (a === '--lib') opts.lib = process.argv[++i];
  else throw new Error(`unknown argument ${a}`);
}

/**
 * One edit of the session, as crdt/richtrace_export_test.go writes it.
 * @typedef {{k: string, p: number, n?: number, t?: string, name?: string, v?: any, x?: string}} Op
 * @typedef {{len: number, text: string}} End
 * @typedef {{lib: string, ops: number, replayWall: number, replayCPU: number, snapshot: number, snapshot2?: number, loadWall: number, loadCPU: number, heapMB: number}} Row
 */

if (opts.lib === '') parent();
else await child(opts.lib);

function parent() {
  /** @type {Record<string, Row[]>} */
  const rows = {};
  const libs = opts.libs.split(',');
  for (let r = 0; r < opts.runs; r++) {
    for (const lib of libs) {
      const out = spawnSync(process.execPath, ['--expose-gc', self, '--anchors', opts.anchors, '--trace', opts.trace, '--lib', lib], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (out.status !== 0) throw new Error(`${lib}: ${out.stderr}`);
      const row = /** @type {Row} */ (JSON.parse(out.stdout.trim().split('\n').pop() ?? ''));
      console.log(JSON.stringify(row));
      (rows[lib] ??= []).push(row);
    }
  }
  /** @param {number[]} xs */
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[(s.length - 1) >> 1];
  };
  /** @param {number} x */
  const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  console.log(`\n| library | replay ms (wall) | replay ms (CPU) | snapshot bytes | load ms (wall) | load ms (CPU) | heap after replay MB |`);
  console.log('|---|--:|--:|--:|--:|--:|--:|');
  for (const lib of libs) {
    const rs = rows[lib];
    const m = (/** @type {(r: Row) => number} */ g) => f(median(rs.map(g)));
    const size = rs[0].snapshot2 ? `${rs[0].snapshot} (v2 ${rs[0].snapshot2})` : `${rs[0].snapshot}`;
    console.log(`| ${lib} | ${m((r) => r.replayWall)} | ${m((r) => r.replayCPU)} | ${size} | ${m((r) => r.loadWall)} | ${m((r) => r.loadCPU)} | ${m((r) => r.heapMB)} |`);
  }
}

/** @param {string} lib */
async function child(lib) {
  const lines = readFileSync(opts.trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const end = /** @type {End} */ (lines.pop());
  const ops = /** @type {Op[]} */ (lines);
  const require = createRequire(join(resolve(opts.anchors), 'package.json'));
  const impl = lib === 'tandem' ? await tandem() : lib === 'yjs' ? yjs(require) : lib === 'yjs-pm' ? yjsTree(require) : lib === 'automerge' ? automerge(require) : null;
  if (!impl) throw new Error(`unknown library ${lib}`);
  const g = /** @type {() => void} */ (globalThis.gc);
  g();
  let w = performance.now(), c = process.cpuUsage();
  const doc = impl.replay(ops);
  const replayWall = performance.now() - w, replayCPU = cpuMs(c);
  g();
  const heapMB = process.memoryUsage().heapUsed / (1 << 20);
  const { text, len } = impl.read(doc);
  if (len !== end.len || text !== end.text) throw new Error(`${lib}: replay gives ${len} positions, want ${end.len}${text !== end.text ? ' (text differs)' : ''}`);
  const snap = impl.save(doc);
  w = performance.now(), c = process.cpuUsage();
  const loaded = impl.load(snap);
  const loadWall = performance.now() - w, loadCPU = cpuMs(c);
  if (impl.read(loaded).text !== end.text) throw new Error(`${lib}: the loaded snapshot differs`);
  /** @type {Row} */
  const row = { lib, ops: ops.length, replayWall, replayCPU, snapshot: snap.length, loadWall, loadCPU, heapMB };
  if (impl.save2) row.snapshot2 = impl.save2(doc).length;
  console.log(JSON.stringify(row));
}

/** @param {NodeJS.CpuUsage} c */
function cpuMs(c) {
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
}

/**
 * @typedef {{replay: (ops: Op[]) => any, read: (doc: any) => {text: string, len: number}, save: (doc: any) => Uint8Array, save2?: (doc: any) => Uint8Array, load: (b: Uint8Array) => any}} Impl
 */

/** @returns {Promise<Impl>} */
async function tandem() {
  const { Doc } = await import(pathToFileURL(join(repo, 'client-js', 'src', 'crdt', 'index.js')).href);
  /** @param {any} doc */
  const read = (doc) => {
    const t = doc.text('body');
    let text = '';
    for (const s of t.spans()) text += s.embed !== undefined ? '\n' : s.insert;
    return { text, len: t.length };
  };
  return {
    replay(ops) {
      const doc = new Doc(1);
      const t = doc.text('body');
      for (const op of ops) {
        switch (op.k) {
          case 'i': t.insert(op.p, op.t); break;
          case 'd': t.delete(op.p, op.n); break;
          case 'e': t.insertEmbed(op.p, op.v); break;
          case 'f': t.format(op.p, op.n, op.name, op.v, op.x); break;
          case 'a': t.setAttr(op.p, op.name, op.v); break;
        }
        doc.takeUpdate();
      }
      return doc;
    },
    read,
    save: (doc) => doc.encodeSnapshot(),
    load(b) {
      const doc = new Doc(2);
      doc.apply(b);
      return doc;
    },
  };
}

/**
 * @param {NodeJS.Require} require
 * @returns {Impl}
 */
function yjs(require) {
  const Y = require('yjs');
  /** @param {any} doc */
  const read = (doc) => {
    const t = doc.getText('body');
    let text = '';
    for (const d of t.toDelta()) text += typeof d.insert === 'string' ? d.insert : '\n';
    return { text, len: t.length };
  };
  return {
    replay(ops) {
      const doc = new Y.Doc();
      doc.clientID = 1;
      const t = doc.getText('body');
      for (const op of ops) {
        switch (op.k) {
          case 'i': t.insert(op.p, op.t); break;
          case 'd': t.delete(op.p, op.n); break;
          case 'e': t.insertEmbed(op.p, op.v); break;
          case 'f': t.format(op.p, op.n, { [op.name ?? '']: op.v }); break;
          case 'a': t.format(op.p, 1, { [op.name ?? '']: op.v }); break;
        }
      }
      return doc;
    },
    read,
    ...yjsEncoding(Y),
  };
}

/**
 * How both Yjs shapes save (v1 and v2 encodings) and load a document.
 * @param {any} Y the yjs module
 */
function yjsEncoding(Y) {
  return {
    save: (/** @type {any} */ doc) => Y.encodeStateAsUpdate(doc),
    save2: (/** @type {any} */ doc) => Y.encodeStateAsUpdateV2(doc),
    load(/** @type {Uint8Array} */ b) {
      const doc = new Y.Doc();
      Y.applyUpdate(doc, b);
      return doc;
    },
  };
}

/**
 * The session in y-prosemirror's shape: a fragment of blocks, each an element holding one text.
 * @param {NodeJS.Require} require
 * @returns {Impl}
 */
function yjsTree(require) {
  const Y = require('yjs');
  /** @param {any} doc */
  const read = (doc) => {
    const frag = doc.getXmlFragment('body');
    let text = '', len = 0;
    for (const el of frag.toArray()) {
      const t = el.get(0);
      text += '\n';
      for (const d of t.toDelta()) text += d.insert;
      len += 1 + t.length;
    }
    return { text, len };
  };
  /**
   * The delta of t from offset o to its end.
   * @param {any} t
   * @param {number} o
   */
  const tail = (t, o) => {
    const out = [];
    let at = 0;
    for (const d of t.toDelta()) {
      const n = d.insert.length;
      if (at + n > o) {
        const part = at >= o ? d.insert : d.insert.slice(o - at);
        out.push(d.attributes ? { insert: part, attributes: d.attributes } : { insert: part });
      }
      at += n;
    }
    return out;
  };
  return {
    replay(ops) {
      const doc = new Y.Doc();
      doc.clientID = 1;
      const frag = doc.getXmlFragment('body');
      /** @type {any[]} */
      const texts = []; // per block, its Y.XmlText
      /** @type {number[]} */
      const lens = []; // per block, its text's length (the marker not counted)
      let cb = 0, cs = 0; // a block and the flat position of its marker
      /** @param {number} p the block whose marker is at or before p, and its marker's position */
      const find = (p) => {
        while (cb > 0 && cs > p) cs -= 1 + lens[--cb];
        while (cb + 1 < lens.length && cs + 1 + lens[cb] <= p) cs += 1 + lens[cb++];
        return cb;
      };
      /**
       * @param {number} at
       * @param {any[]} delta
       */
      const newBlock = (at, delta) => {
        const el = new Y.XmlElement('paragraph');
        const t = new Y.XmlText();
        el.insert(0, [t]);
        frag.insert(at, [el]);
        if (delta.length) t.applyDelta(delta);
        texts.splice(at, 0, t);
        lens.splice(at, 0, t.length);
      };
      for (const op of ops) {
        const p = op.p;
        switch (op.k) {
          case 'e': {
            if (lens.length === 0) {
              newBlock(0, []);
              break;
            }
            const b = find(p);
            const o = p - cs - 1; // offset in block b; -1: before its marker
            if (o < 0) {
              newBlock(b, []);
              cs += 1;
              cb = b + 1;
            } else {
              const t = texts[b];
              const rest = tail(t, o);
              if (o < lens[b]) t.delete(o, lens[b] - o);
              lens[b] = o;
              newBlock(b + 1, rest);
            }
            break;
          }
          case 'i': {
            const b = find(p);
            if (p === cs && b > 0) {
              texts[b - 1].insert(lens[b - 1], op.t);
              lens[b - 1] += op.t?.length ?? 0;
              cs += op.t?.length ?? 0;
            } else {
              texts[b].insert(p - cs - 1, op.t);
              lens[b] += op.t?.length ?? 0;
            }
            break;
          }
          case 'd': {
            const b = find(p);
            if (p === cs) {
              // The marker of block b: its text joins the block before it.
              const rest = tail(texts[b], 0);
              frag.delete(b, 1);
              texts.splice(b, 1);
              const n = lens.splice(b, 1)[0];
              if (b > 0) {
                texts[b - 1].applyDelta([{ retain: lens[b - 1] }, ...rest]);
                lens[b - 1] += n;
              }
              cb = 0, cs = 0;
            } else {
              texts[b].delete(p - cs - 1, 1);
              lens[b]--;
            }
            break;
          }
          case 'f': {
            let from = p, left = op.n ?? 0;
            while (left > 0) {
              const b = find(from);
              let o = from - cs - 1;
              if (o < 0) { from++; left--; continue; } // the marker itself
              const k = Math.min(left, lens[b] - o);
              if (k > 0) texts[b].format(o, k, { [op.name ?? '']: op.v });
              from += k + 1, left -= k + 1; // past this block's part and the next marker
            }
            break;
          }
          case 'a': {
            const b = find(p);
            frag.get(b).setAttribute(op.name ?? '', JSON.stringify(op.v));
            break;
          }
        }
      }
      return doc;
    },
    read,
    ...yjsEncoding(Y),
  };
}

/**
 * @param {NodeJS.Require} require
 * @returns {Impl}
 */
function automerge(require) {
  const A = require('@automerge/automerge');
  const path = ['body'];
  /** @param {string} kind */
  const block = (kind) => ({ type: kind, parents: [], attrs: {} });
  /** @param {any} v */
  const scalar = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v);
  return {
    replay(ops) {
      let doc = A.from({ body: '' }, { actor: '01' });
      for (const op of ops) {
        doc = A.change(doc, (/** @type {any} */ d) => {
          switch (op.k) {
            case 'i': A.splice(d, path, op.p, 0, op.t); break;
            case 'd': A.splice(d, path, op.p, op.n); break;
            case 'e': A.splitBlock(d, path, op.p, block(op.v?.block ?? 'paragraph')); break;
            case 'f': {
              const range = { start: op.p, end: op.p + (op.n ?? 0), expand: op.x };
              if (op.v === null) A.unmark(d, path, range, op.name);
              else A.mark(d, path, range, op.name, scalar(op.v));
              break;
            }
            case 'a': A.updateBlock(d, path, op.p, block(String(op.v))); break;
          }
        });
      }
      return doc;
    },
    read(doc) {
      const s = String(doc.body);
      return { text: s.replaceAll('\uFFFC', '\n'), len: s.length };
    },
    save: (doc) => A.save(doc),
    load: (b) => A.load(b),
  };
}
