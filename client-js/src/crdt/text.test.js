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

/**
 * check replays edits ([pos, del, ins]) into a local Doc and, update by
 * update, into a remote one, and compares text and snapshots after each.
 * @param {string} name
 * @param {[number, number, string][]} edits
 */
function check(name, edits) {
  const local = new Doc(1);
  const remote = new Doc(2);
  const t = local.text('t');
  for (const [i, [pos, del, ins]] of edits.entries()) {
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
