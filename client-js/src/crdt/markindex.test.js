// The index of marks by position (markindex.js) against two oracles, after
// every operation of seeded random sessions: spans computed from a scan of
// every mark operation (the resolution before the index), and spans resolved
// character by character from the rule of docs/crdt.md section 4.2 (the
// latest covering operation per name wins). Three replicas type, delete,
// insert embeds and format concurrently (marks growing to the end of the
// text included), exchange updates in any order, and now and then one is
// replaced by a replica loaded from another's snapshot. TANDEM_SEEDS=N runs N
// seeds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './index.js';
import { spans, gap, compareMarks } from './rich.js';
import { xorshift32 } from './scenario.js';

/**
 * @typedef {import('./text.js').TextState} TextState
 * @typedef {import('./rich.js').MarkEntry} MarkEntry
 * @typedef {import('./handles.js').RawSpan} RawSpan
 */

/**
 * rng returns a seeded xorshift32 generator of floats in [0, 1).
 * @param {number} seed
 */
function rng(seed) {
  const next = xorshift32(seed);
  return () => next() / 4294967296;
}

/**
 * scanOverlaps is the resolution before the index: the gaps of every mark operation of the root.
 * @type {import('./rich.js').Overlaps}
 */
function scanOverlaps(ix, root) {
  /** @type {import('./markindex.js').Overlap[]} */
  const out = [];
  if (root.rich === null) return out;
  for (const ops of root.rich.byName.values()) {
    for (const m of ops) out.push({ m, s: gap(ix, root, m.skind, m.sc, m.sk), e: gap(ix, root, m.ekind, m.ec, m.ek) });
  }
  return out;
}

/**
 * perItem resolves the spans of [from, to) one visible item at a time: for each, the latest
 * operation of each name that covers it.
 * @param {Doc} d
 * @param {TextState} root
 * @param {number} from
 * @param {number} to
 * @returns {RawSpan[]}
 */
function perItem(d, root, from, to) {
  /** @type {{ m: MarkEntry, s: number, e: number }[]} */
  const ops = scanOverlaps(d, root, 0, root.seq.tot);
  /** @type {RawSpan[]} */
  const out = [];
  let tot = 0;
  let vis = 0;
  for (let p = root.seq.first; p !== null; p = p.next) {
    const chars = p.deleted ? [] : [...p.str];
    for (let k = 0; k < p.len; k++, tot++) {
      if (p.deleted) continue;
      const v = vis++;
      if (v < from || v >= to) continue;
      /** @type {Map<string, MarkEntry>} */
      const win = new Map();
      for (const { m, s, e } of ops) {
        if (s > tot || tot >= e) continue;
        const w = win.get(m.name);
        if (w === undefined || compareMarks(m, w) > 0) win.set(m.name, m);
      }
      /** @type {Map<string, string>} */
      const marks = new Map();
      for (const [name, m] of win) if (m.value !== null) marks.set(name, m.value);
      if (p.run.embed !== null) {
        /** @type {Map<string, string>} */
        const attrs = new Map();
        for (const [key, a] of root.rich?.attrsOf(p.client, p.clock) ?? []) attrs.set(key, /** @type {string} */ (a.value));
        out.push({ embed: p.run.embed, attrs, marks });
        continue;
      }
      const last = out[out.length - 1];
      if (last !== undefined && 'insert' in last && sameMap(last.marks, marks)) last.insert += chars[k];
      else out.push({ insert: chars[k], marks });
    }
  }
  return out;
}

/**
 * @param {Map<string, string>} a
 * @param {Map<string, string>} b
 */
function sameMap(a, b) {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/**
 * show makes spans comparable: maps as objects with sorted keys.
 * @param {RawSpan[]} ss
 */
function show(ss) {
  const obj = (/** @type {Map<string, string>} */ m) => Object.fromEntries([...m].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)));
  return JSON.stringify(ss.map((s) => ('insert' in s ? { insert: s.insert, marks: obj(s.marks) } : { embed: s.embed, attrs: obj(s.attrs), marks: obj(s.marks) })));
}

const PIECES = ['a', 'bc', 'hello ', 'é', '😀', 'xyz😀q'];
const NAMES = ['bold', 'italic', 'link', 'comment:1', 'comment:2'];
const VALUES = [true, { href: 'a' }, { href: 'b' }, null, 7];
const EXPANDS = ['none', 'before', 'after', 'both'];

/**
 * session runs one seeded random session, checking every replica after every operation.
 * @param {number} seed
 * @param {number} steps
 */
function session(seed, steps) {
  const r = rng(seed);
  const pick = (/** @type {any[]} */ a) => a[Math.floor(r() * a.length)];
  let nextId = 1;
  /** @type {Doc[]} */
  const docs = [new Doc(nextId++), new Doc(nextId++), new Doc(nextId++)];
  /** @type {Uint8Array[][]} */
  const inbox = docs.map(() => []);
  const check = (/** @type {number} */ i, /** @type {number} */ step) => {
    const d = docs[i];
    const root = /** @type {any} */ (d)._texts.get('body');
    if (root === undefined) return;
    const n = root.seq.vis;
    const ranges = [[0, n]];
    for (let k = 0; k < 3 && n > 0; k++) {
      const a = Math.floor(r() * n);
      ranges.push([a, a + 1 + Math.floor(r() * Math.min(n - a, 12))]);
    }
    for (const [from, to] of ranges) {
      const got = show(spans(d, root, from, to));
      const where = `seed ${seed} step ${step} replica ${i} slice [${from}, ${to}) (repeat: TANDEM_SEEDS=${seed} node --test src/crdt/markindex.test.js)`;
      assert.equal(got, show(spans(d, root, from, to, scanOverlaps)), `${where}: the index and the scan of every mark differ`);
      assert.equal(got, show(perItem(d, root, from, to)), `${where}: the index and the per-item resolution differ`);
    }
  };
  for (let step = 0; step < steps; step++) {
    const i = Math.floor(r() * docs.length);
    const d = docs[i];
    const t = d.text('body');
    const x = r();
    if (x < 0.35) {
      t.insert(Math.floor(r() * (t.length + 1)), pick(PIECES));
    } else if (x < 0.45) {
      t.insertEmbed(Math.floor(r() * (t.length + 1)), pick([{ block: 'paragraph' }, { inline: 'image', src: 'x' }]));
    } else if (x < 0.58 && t.length > 0) {
      const p = Math.floor(r() * t.length);
      t.delete(p, Math.min(t.length - p, 1 + Math.floor(r() * 6)));
    } else if (x < 0.85 && t.length > 0) {
      const p = Math.floor(r() * t.length);
      // Up to the end of the text now and then: with expand after or both, the end anchor is End.
      const n = r() < 0.2 ? t.length - p : Math.min(t.length - p, 1 + Math.floor(r() * 10));
      t.format(p, n, pick(NAMES), pick(VALUES), /** @type {any} */ (pick(EXPANDS)));
    } else if (x < 0.95) {
      const u = d.takeUpdate();
      if (u !== null) for (let j = 0; j < docs.length; j++) if (j !== i) inbox[j].push(u);
      // Deliver another replica's inbox in a shuffled order.
      const j = Math.floor(r() * docs.length);
      const q = inbox[j];
      inbox[j] = [];
      for (let k = q.length - 1; k > 0; k--) {
        const s = Math.floor(r() * (k + 1));
        [q[k], q[s]] = [q[s], q[k]];
      }
      for (const b of q) docs[j].apply(b);
      check(j, step);
    } else {
      // Replace another replica with one loaded from this one's snapshot (its unsent edits travel in it).
      const j = (i + 1 + Math.floor(r() * (docs.length - 1))) % docs.length;
      const u = d.takeUpdate();
      if (u !== null) for (let k = 0; k < docs.length; k++) if (k !== i) inbox[k].push(u);
      const fresh = new Doc(nextId++);
      fresh.apply(d.encodeSnapshot());
      const old = docs[j].takeUpdate();
      if (old !== null) {
        fresh.apply(old);
        for (let k = 0; k < docs.length; k++) if (k !== j) inbox[k].push(old);
      }
      docs[j] = fresh;
      check(j, step);
    }
    check(i, step);
  }
}

test('spans from the index of marks equal a scan of every mark and the per-item rule', () => {
  const n = Number(process.env.TANDEM_SEEDS ?? 0);
  const seeds = n > 0 ? Array.from({ length: n }, (_, k) => k + 1) : [1, 2, 3, 4, 5, 6];
  for (const seed of seeds) session(seed, 400);
});

test('the index stays ordered while the text grows inside and around many marks', () => {
  // Enough marks to split chunks, then typing before, inside and after them, and slices everywhere.
  const d = new Doc(1);
  const t = d.text('body');
  t.insert(0, 'x'.repeat(2000));
  for (let i = 0; i < 600; i++) t.format((i * 37) % 1990, 1 + (i % 9), i % 3 === 0 ? 'bold' : `comment:${i % 5}`, i % 7 === 0 ? null : true, /** @type {any} */ (EXPANDS[i % 4]));
  const root = /** @type {any} */ (d)._texts.get('body');
  for (let k = 0; k < 300; k++) {
    const p = (k * 131) % t.length;
    t.insert(p, 'ab');
    if (k % 5 === 0) t.delete((p + 7) % t.length, 1);
    if (k % 10 === 0) t.format((k * 53) % (t.length - 20), 15, 'italic', true, 'after');
    const a = (k * 97) % (t.length - 30);
    assert.equal(show(spans(d, root, a, a + 30)), show(spans(d, root, a, a + 30, scanOverlaps)), `slice at ${a} after ${k} insertions`);
  }
  assert.equal(show(spans(d, root, 0, t.length)), show(perItem(d, root, 0, t.length)));
});
