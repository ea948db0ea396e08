// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Doc } from './crdt/index.js';
import { RichUndoManager } from './richundo.js';
import { effective } from './bindings/prosemirror-mapping.js';

/**
 * spans returns the text's spans with each embed's attributes applied to it (null unsets): undoing
 * an assignment assigns the previous value, there being no attribute tombstone.
 * @param {Doc} d
 */
const spans = (d) => JSON.stringify(d.text('body').spans().map((s) => ('embed' in s ? { embed: effective(s.embed, s.attrs), marks: s.marks } : s)));

/**
 * setup returns a replica with "hello world" (hello bold) and a heading marker, and an undo
 * manager on it whose clock the test moves.
 */
function setup() {
  const d = new Doc(1);
  const t = d.text('body');
  t.insertEmbed(0, { block: 'heading', level: 1 });
  t.insert(1, 'hello world');
  t.format(1, 5, 'bold', true, 'after');
  const clock = { now: 0 };
  const u = new RichUndoManager(d, { now: () => clock.now });
  return { d, t, u, clock };
}

test('undo and redo each kind of change, and restore the content, marks and attributes', () => {
  /** @type {{ name: string, change: (u: RichUndoManager) => void }[]} */
  const cases = [
    { name: 'insert text', change: (u) => u.insert(6, ' there') },
    { name: 'insert an embed', change: (u) => u.insertEmbed(12, { inline: 'image', src: 'a.png' }) },
    { name: 'delete marked text and the marker', change: (u) => u.delete(0, 8) },
    { name: 'bold over bold and plain text', change: (u) => u.format(3, 6, 'bold', true, 'after') },
    { name: 'unbold', change: (u) => u.format(1, 5, 'bold', null, 'after') },
    { name: 'a link', change: (u) => u.format(7, 5, 'link', { href: 'u' }, 'none') },
    { name: 'an attribute', change: (u) => u.setAttr(0, 'level', 3) },
    { name: 'a new attribute', change: (u) => u.setAttr(0, 'block', 'paragraph') },
  ];
  for (const c of cases) {
    const { d, u } = setup();
    const before = spans(d);
    u.change({ anchor: 2, head: 4 }, () => c.change(u), () => ({ anchor: 1, head: 1 }));
    const after = spans(d);
    assert.notEqual(after, before, `${c.name}: changed nothing`);
    const r = u.undo();
    assert.equal(spans(d), before, `${c.name}: undo`);
    assert.deepEqual(r?.selection, { anchor: 2, head: 4 }, `${c.name}: the selection before`);
    const r2 = u.redo();
    assert.equal(spans(d), after, `${c.name}: redo`);
    assert.deepEqual(r2?.selection, { anchor: 1, head: 1 }, `${c.name}: the selection after`);
    u.undo();
    assert.equal(spans(d), before, `${c.name}: undo after redo`);
  }
});

test('undo leaves what others typed meanwhile', () => {
  const { d, t, u } = setup();
  const other = new Doc(2);
  other.apply(d.encodeUpdate(new Map()));
  u.change(null, () => u.format(1, 11, 'italic', true, 'after'), () => null);
  u.change(null, () => u.delete(6, 6), () => null);
  other.text('body').insert(1, '>');
  d.apply(other.encodeUpdate(d.stateVector()));
  u.undo();
  u.undo();
  assert.equal(t.toString(), '\ufffc>hello world');
  const s = t.spans();
  assert.ok(s.every((x) => !('italic' in x.marks)), JSON.stringify(s));
});

test('an insertion whose text was deleted and put back by undo is still undone (redirects)', () => {
  const { t, u, clock } = setup();
  u.change(null, () => u.insert(12, ' again'), () => null);
  clock.now += 1000;
  u.change(null, () => u.delete(10, 8), () => null);
  u.undo(); // puts " again" (and "ld") back as new items
  u.undo(); // removes " again"
  assert.equal(t.toString(), '\ufffchello world');
});

test('changes closer than the capture time form one step', () => {
  const { t, u, clock } = setup();
  u.change(null, () => u.insert(12, 'a'), () => null);
  clock.now += 100;
  u.change(null, () => u.insert(13, 'b'), () => null);
  clock.now += 1000;
  u.change(null, () => u.insert(14, 'c'), () => null);
  u.undo();
  assert.equal(t.toString(), '\ufffchello worldab');
  u.undo();
  assert.equal(t.toString(), '\ufffchello world');
  assert.equal(u.canUndo, false);
  assert.equal(u.canRedo, true);
});

test('undo reports what it changed in change-event terms', () => {
  const { u } = setup();
  u.change(null, () => {
    u.insert(1, 'ab');
    u.format(3, 2, 'italic', true, 'after');
  }, () => null);
  const r = u.undo();
  // The format is undone first (over "he" at 3, on the text then), then the insertion is
  // deleted: in the final text "he" is at 1.
  assert.deepEqual(r?.changed, { edits: [{ pos: 1, delete: 2, insert: '' }], ranges: [{ pos: 1, len: 2 }] });
});
