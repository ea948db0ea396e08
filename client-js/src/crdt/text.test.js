// Unit tests of local text edits that take shortcuts in TextState: typing
// appended to a piece, deletions next to deleted items of the same run. Each
// session is checked against a replica that integrates the same edits as
// remote updates (split, then merge the deleted parts): both hold the same
// pieces, so their snapshots are the same bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './index.js';
import { hex } from './encoding.js';
import { xorshift32 } from './scenario.js';
import { REL_AFTER } from './relpos.js';

/**
 * check replays edits ([pos, del, ins]) into a local Doc and, update by
 * update, into a remote one, and compares text and snapshots after each. An
 * edit with del -1 only asks for the relative position of pos, as an editor
 * reporting its caret does (which moves the cursor caches there).
 * @param {string} name
 * @param {[number, number, string][]} edits
 */
function check(name, edits) {
  const local = new Doc(1);
  const remote = new Doc(2);
  const t = local.text('t');
  for (const [i, [pos, del, ins]] of edits.entries()) {
    if (del < 0) {
      t.relPos(pos);
      continue;
    }
    if (del > 0) t.delete(pos, del);
    if (ins !== '') t.insert(pos, ins);
    const u = local.takeUpdate();
    assert.ok(u !== null);
    remote.apply(u);
    const at = `${name}: after edit ${i} ${JSON.stringify(edits[i])}`;
    assert.equal(remote.text('t').toString(), t.toString(), at);
    assert.equal(hex(local.encodeSnapshot()), hex(remote.encodeSnapshot()), at);
  }
}

test('deleting next to deleted items of the same run gives the pieces of a remote replica', () => {
  const cases = /** @type {[string, [number, number, string][]][]} */ ([
    ['backspacing a typed word', [[0, 0, 'a'], [1, 0, 'b'], [2, 0, 'c'], [3, 0, 'd'], [3, 1, ''], [2, 1, ''], [1, 1, '']]],
    ['backspacing then typing again', [[0, 0, 'h'], [1, 0, 'e'], [2, 0, 'y'], [2, 1, ''], [2, 0, 'l'], [3, 0, 'p'], [3, 1, ''], [2, 1, '']]],
    ['deleting forward from a deleted start', [[0, 0, 'abcdef'], [0, 1, ''], [0, 1, ''], [0, 2, ''], [0, 1, '']]],
    ['deleting the end of a piece in one stroke', [[0, 0, 'abcdef'], [5, 1, ''], [2, 3, ''], [1, 1, '']]],
    ['astral characters', [[0, 0, 'a😀b😀'], [3, 1, ''], [2, 1, ''], [0, 1, ''], [0, 0, '😀']]],
    ['deleting forward next to deleted items of another run', [[0, 0, 'abcd'], [0, 0, 'X'], [0, 1, ''], [1, -1, ''], [0, 1, ''], [0, 1, '']]],
    ['backspacing next to deleted items of another run', [[0, 0, 'abcd'], [4, 0, 'X'], [4, 1, ''], [1, -1, ''], [3, 1, ''], [2, 1, '']]],
    ['deleting forward after deleting in the middle', [[0, 0, 'abcd'], [1, 1, ''], [1, -1, ''], [1, 1, ''], [1, 1, '']]],
    ['typing in many keystrokes then erasing', [...[...'typing many'].map((c, i) => /** @type {[number, number, string]} */ ([i, 0, c])), [10, 1, ''], [9, 1, ''], [0, 2, '']]],
  ]);
  for (const [name, edits] of cases) check(name, edits);
});

test('random typing, backspacing and deleting give the pieces of a remote replica', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const next = xorshift32(seed);
    /** @type {[number, number, string][]} */
    const edits = [];
    let len = 0;
    let cur = 0;
    for (let i = 0; i < 200; i++) {
      const r = next() % 10;
      if (r === 0) cur = next() % (len + 1);
      if (r < 3 && cur > 0) {
        edits.push([cur - 1, 1, '']); // backspace
        cur--;
        len--;
      } else if (r === 3 && cur < len) {
        const n = 1 + (next() % Math.min(3, len - cur));
        edits.push([cur, n, '']); // delete forward
        len -= n;
      } else {
        const c = next() % 8 === 0 ? '😀' : String.fromCharCode(97 + (next() % 26));
        edits.push([cur, 0, c]);
        cur++;
        len++;
      }
    }
    check(`seed ${seed}`, edits);
  }
});

test('edits found through the cursor caches land where a plain string puts them, remote edits between', () => {
  // Thousands of pieces (leaves split), edits mostly near the last one (the
  // caches hit) and sometimes anywhere, remote updates from a second replica
  // applied between them: after each local edit the text is the string model's.
  for (let seed = 1; seed <= 4; seed++) {
    const next = xorshift32(seed);
    const a = new Doc(1);
    const b = new Doc(2);
    const ta = a.text('t');
    const tb = b.text('t');
    let model = '';
    let cur = 0;
    for (let i = 0; i < 3000; i++) {
      const r = next() % 20;
      if (r === 0) {
        b.apply(a.encodeUpdate(b.stateVector()));
        const n = tb.length;
        const p = next() % (n + 1);
        if (n > 0 && next() % 2 === 0) tb.delete(Math.min(p, n - 1), 1);
        else tb.insert(p, 'B');
        a.apply(b.encodeUpdate(a.stateVector()));
        model = ta.toString();
        continue;
      }
      if (r === 1 || cur > model.length) cur = next() % (model.length + 1);
      if (r < 6 && cur > 0) {
        cur--;
        ta.delete(cur, 1); // backspace
        model = model.slice(0, cur) + model.slice(cur + 1);
      } else if (r < 8 && cur < model.length) {
        ta.delete(cur, 1); // delete forward
        model = model.slice(0, cur) + model.slice(cur + 1);
      } else {
        const c = String.fromCharCode(97 + (next() % 26));
        ta.insert(cur, c);
        model = model.slice(0, cur) + c + model.slice(cur);
        cur++;
      }
      assert.equal(ta.toString(), model, `seed ${seed}, step ${i}`);
    }
    b.apply(a.encodeUpdate(b.stateVector()));
    assert.equal(tb.toString(), model, `seed ${seed}: the replicas converge`);
  }
});


test('a run keeps the content of its pieces through text put back among deleted text, reloads and astral splits', () => {
  // A piece's content is a range of its run's: the cases where a piece does
  // not start the run, or the run's content holds more than its visible
  // pieces, each checked against the text a plain string model has and a
  // replica that received every update has.
  const a = new Doc(1);
  const t = a.text('t');
  const remote = new Doc(2);
  let model = '';
  /**
   * @param {() => void} edit
   * @param {string} want
   * @param {string} at
   */
  const step = (edit, want, at) => {
    edit();
    model = want;
    assert.equal(t.toString(), model, at);
    const u = a.takeUpdate();
    if (u !== null) remote.apply(u);
    assert.equal(remote.text('t').toString(), model, `${at}: remote`);
  };
  step(() => t.insert(0, 'abc'), 'abc', 'typed');
  step(() => t.delete(2, 1), 'ab', 'c erased');
  step(() => t.insertAt({ root: 't', kind: REL_AFTER, client: 1, clock: 2 }, 'x'), 'abx', 'x put after the erased c');
  step(() => t.insert(3, 'y'), 'abxy', 'typing goes on after x');
  step(() => t.insert(1, '😀'), 'a😀bxy', 'an astral character in the middle');
  step(() => t.insert(3, '😀q'), 'a😀b😀qxy', 'another one');
  step(() => t.delete(3, 1), 'a😀bqxy', 'an astral character erased');
  step(() => t.insert(2, 'Z'), 'a😀Zbqxy', 'a split after an astral character');
  // Reloaded under the same client ID, the typist's runs come from the
  // snapshot: typing at the end extends the last one.
  const b = new Doc(1);
  b.apply(a.encodeSnapshot());
  const tb = b.text('t');
  tb.insert(tb.length, 'E');
  tb.insert(tb.length, 'F');
  tb.insert(1, 'G');
  tb.delete(0, 1);
  assert.equal(tb.toString(), 'G😀ZbqxyEF');
  remote.apply(/** @type {Uint8Array} */ (b.takeUpdate()));
  assert.equal(remote.text('t').toString(), 'G😀ZbqxyEF');
  for (const from of [b, remote]) {
    const c = new Doc(4);
    c.apply(from.encodeSnapshot());
    assert.equal(c.text('t').toString(), 'G😀ZbqxyEF', 'a replica loaded from a snapshot');
  }
});
