// The ProseMirror binding's own cost in node (no DOM, no layout: test/pmharness.js's headless
// view), on the generated 100,000-character formatted document of bench/richdoc.js:
//   - writing the document into an empty Text root (writeDoc), and rendering it from the CRDT;
//   - a local keystroke in the middle: the transaction applied and written to the CRDT;
//   - a remote keystroke: the update applied to another replica and shown in its editor (the
//     touched blocks rendered and replaced).
//
//   node bench/prosemirror-binding.mjs [--chars 100000] [--keys 300] [--one-list]
//
// --one-list puts every block of the document in one bullet list (a top-level node of 100,000
// characters), where a change to a block must not cost the size of the list.
import { TextSelection } from 'prosemirror-state';
import { Peer, schema, tick } from '../test/pmharness.js';
import { richDocJSON } from './richdoc.js';
import { writeDoc } from '../src/bindings/prosemirror.js';

const arg = (/** @type {string} */ name, /** @type {number} */ def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const chars = arg('chars', 100_000);
const keys = arg('keys', 300);

/** @param {number[]} xs */
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (/** @type {number} */ p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  return `median ${q(0.5)}  p95 ${q(0.95)}  max ${s[s.length - 1].toFixed(2)} ms`;
};

const json = richDocJSON(chars);
if (process.argv.includes('--one-list')) {
  /** @type {any[]} */
  const items = json.content.flatMap((/** @type {any} */ b) =>
    b.type === 'bullet_list' ? b.content : [{ type: 'list_item', content: [{ type: 'paragraph', content: b.content }] }],
  );
  json.content = [{ type: 'bullet_list', content: items }];
}
const doc = schema.nodeFromJSON(json);
const a = new Peer(schema, 1);
let t = performance.now();
writeDoc(a.text, doc);
console.log(`document: ${a.text.length} positions, ${doc.childCount} top-level blocks, ${a.text.spans().length} spans`);
console.log(`writeDoc: ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
const shown = a.mapping.render(a.text.spans());
console.log(`spans + render of the whole document: ${(performance.now() - t).toFixed(0)} ms (equal: ${shown.eq(doc)})`);
await tick();
const b = new Peer(schema, 2);
b.receive(a);
await tick();

const v = a.view;
v.dispatch(v.state.tr.setSelection(TextSelection.near(v.state.doc.resolve(Math.floor(doc.content.size / 2)))));
/** @type {number[]} */
const local = [];
/** @type {number[]} */
const remote = [];
for (let i = 0; i < keys; i++) {
  const tr = v.state.tr.insertText(i % 12 === 11 ? ' ' : 'a');
  let t0 = performance.now();
  v.dispatch(tr);
  local.push(performance.now() - t0);
  t0 = performance.now();
  b.receive(a);
  remote.push(performance.now() - t0);
}
console.log(`local keystroke (transaction + binding): ${stats(local)}`);
console.log(`remote keystroke (apply + render):       ${stats(remote)}`);
if (a.flat() !== b.flat() || a.flat() !== a.crdt()) throw new Error('the editors or their replicas differ');
