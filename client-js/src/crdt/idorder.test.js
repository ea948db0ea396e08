// Random sessions of three replicas (insertions, deletions, replacements at
// random places, syncs between random pairs) replayed under every assignment
// of the client IDs to the replicas: whenever no two insertions are truly
// concurrent at one place (neither replica had the other, and both follow the
// same visible item or both start the text), every replica holds the same
// text after every step under every assignment, and so does the merged
// result (docs/crdt.md 1.3). The twin of crdt/idorder_test.go; TANDEM_SEEDS=N
// runs N seeds (default 8).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './index.js';
import { xorshift32 } from './scenario.js';

/**
 * @typedef {object} SessionOp a step: replica r deletes del code points at pos
 *   and inserts ins there, or, when from >= 0, merges what replica from has
 * @property {number} r
 * @property {number} from
 * @property {number} pos
 * @property {number} del
 * @property {string} ins
 *
 * @typedef {object} Insertion what a session records of a local insertion
 * @property {number} client the client of its first item
 * @property {number} clock the clock of its first item
 * @property {string} left the visible item before the cursor: "client:clock", or "start"
 * @property {Map<number, number>} sv the inserting replica's state vector just before
 */

/** @param {number} n @returns {number[][]} every permutation of 0..n-1, the identity first */
function permutations(n) {
  if (n === 0) return [[]];
  /** @type {number[][]} */
  const out = [];
  for (const p of permutations(n - 1)) {
    for (let i = p.length; i >= 0; i--) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}

/**
 * applyOp makes op on docs; before an insertion it calls before(doc, pos).
 * @param {Doc[]} docs
 * @param {SessionOp} op
 * @param {((d: Doc, pos: number) => void) | null} before
 */
function applyOp(docs, op, before) {
  const d = docs[op.r];
  if (op.from >= 0) {
    d.apply(docs[op.from].encodeUpdate(d.stateVector()));
    return;
  }
  const t = d.text('t');
  if (op.del > 0) t.delete(op.pos, op.del);
  if (op.ins === '') return;
  if (before) before(d, op.pos);
  t.insert(op.pos, op.ins);
}

/**
 * newSession makes a random session (see crdt/idorder_test.go), recorded while
 * it runs under the client IDs 1..replicas.
 * @param {() => number} rnd
 * @param {number} replicas
 * @param {number} steps
 * @returns {{ops: SessionOp[], ins: Insertion[]}}
 */
function newSession(rnd, replicas, steps) {
  const docs = Array.from({ length: replicas }, (_, r) => new Doc(r + 1));
  const word = () => Array.from({ length: 1 + (rnd() % 3) }, () => String.fromCharCode(97 + (rnd() % 26))).join('');
  /** @type {SessionOp[]} */
  const ops = [{ r: 0, from: -1, pos: 0, del: 0, ins: Array.from({ length: 8 }, word).join('') }];
  for (let r = 1; r < replicas; r++) ops.push({ r, from: 0, pos: 0, del: 0, ins: '' });
  for (const op of ops) applyOp(docs, op, null);
  /** @type {Insertion[]} */
  const ins = [];
  for (let s = 0; s < steps; s++) {
    const r = rnd() % replicas;
    const n = docs[r].text('t').length;
    const op = { r, from: -1, pos: 0, del: 0, ins: '' };
    const k = rnd() % 10;
    if (k < 2 || n === 0) {
      op.pos = rnd() % (n + 1);
      op.ins = word();
    } else if (k < 5) {
      op.pos = rnd() % n;
      op.del = 1 + (rnd() % Math.min(3, n - op.pos));
      if (k >= 3) op.ins = word();
    } else {
      op.from = (r + 1 + (rnd() % (replicas - 1))) % replicas;
    }
    applyOp(docs, op, (d, pos) => {
      const rp = d.text('t').relPos(pos, -1);
      const sv = d.stateVector();
      const left = rp.client === 0 ? 'start' : `${rp.client}:${rp.clock}`;
      ins.push({ client: r + 1, clock: sv.get(r + 1) ?? 0, left, sv });
    });
    ops.push(op);
  }
  return { ops, ins };
}

/**
 * concurrentAtOnePlace reports whether two insertions are truly concurrent at one place.
 * @param {Insertion[]} ins
 */
function concurrentAtOnePlace(ins) {
  for (let j = 0; j < ins.length; j++) {
    for (let i = 0; i < j; i++) {
      if ((ins[j].sv.get(ins[i].client) ?? 0) <= ins[i].clock && ins[i].left === ins[j].left) return true;
    }
  }
  return false;
}

/**
 * replaySession replays ops with replica r under client ID ids[r] and returns
 * the texts of all replicas after each step, then the merged text.
 * @param {SessionOp[]} ops
 * @param {number[]} ids
 * @returns {string[]}
 */
function replaySession(ops, ids) {
  const docs = ids.map((id) => new Doc(id));
  /** @type {string[]} */
  const texts = [];
  for (const op of ops) {
    applyOp(docs, op, null);
    for (const d of docs) texts.push(d.text('t').toString());
  }
  for (const d of docs.slice(1)) docs[0].apply(d.encodeUpdate(docs[0].stateVector()));
  for (const d of docs.slice(1)) {
    d.apply(docs[0].encodeUpdate(d.stateVector()));
    assert.equal(d.text('t').toString(), docs[0].text('t').toString(), 'replicas differ after syncing');
  }
  texts.push(docs[0].text('t').toString());
  return texts;
}

test('no client ID decides the text unless two insertions are truly concurrent at one place', (tc) => {
  const replicas = 3;
  const sessions = 25;
  const steps = 30;
  const nSeeds = Number(process.env.TANDEM_SEEDS) > 0 ? Number(process.env.TANDEM_SEEDS) : 8;
  let checked = 0;
  let skipped = 0;
  for (let seed = 1; seed <= nSeeds; seed++) {
    const rnd = xorshift32(seed * 0x1d0d);
    for (let s = 0; s < sessions; s++) {
      const { ops, ins } = newSession(rnd, replicas, steps);
      if (concurrentAtOnePlace(ins)) {
        skipped++;
        continue;
      }
      checked++;
      /** @type {string[] | null} */
      let want = null;
      for (const p of permutations(replicas)) {
        const ids = p.map((k) => k + 1);
        let got;
        try {
          got = replaySession(ops, ids);
        } catch (err) {
          assert.fail(`seed ${seed}, session ${s}, client IDs ${ids}: ${err}\nrepeat: TANDEM_SEEDS=${seed} node --test src/crdt/idorder.test.js`);
        }
        if (want === null) want = got;
        for (let i = 0; i < want.length; i++) {
          if (got[i] !== want[i]) {
            assert.fail(`seed ${seed}, session ${s}, client IDs ${ids}: step ${Math.floor(i / replicas)}, replica ${i % replicas}: ${JSON.stringify(got[i])}; want ${JSON.stringify(want[i])}`);
          }
        }
      }
    }
  }
  tc.diagnostic(`${checked} sessions checked, ${skipped} skipped (truly concurrent insertions at one place)`);
  assert.ok(checked >= (checked + skipped) / 3, `${checked} sessions checked out of ${checked + skipped}; want at least a third`);
});
