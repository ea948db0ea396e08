// @ts-check
// The ProseMirror and Tiptap browser tests' page: an editor bound to ?doc= with the ProseMirror
// binding (?editor=prosemirror, the default) or the Tiptap extensions (?editor=tiptap). The tests
// bundle this file with esbuild and have the browser load it instead of the demo's module, so
// that the page itself still comes from the real server.
import { Schema } from 'prosemirror-model';
import { EditorState } from 'prosemirror-state';
import { EditorView } from 'prosemirror-view';
import { schema as basic } from 'prosemirror-schema-basic';
import { addListNodes, splitListItem } from 'prosemirror-schema-list';
import { keymap } from 'prosemirror-keymap';
import { baseKeymap, toggleMark, chainCommands } from 'prosemirror-commands';
import { Editor } from '@tiptap/core';
import StarterKit from '@tiptap/starter-kit';
import { Provider } from '../../src/provider.js';
import { prosemirrorBinding } from '../../src/bindings/prosemirror.js';
import { TandemCollaboration, TandemCursor } from '../../src/bindings/tiptap.js';
import { Mapping } from '../../src/bindings/prosemirror-mapping.js';

const params = new URLSearchParams(location.search);
const docId = params.get('doc') ?? 'notes';
const kind = params.get('editor') ?? 'prosemirror';
const name = params.get('name') ?? 'Cleo';
// ?bind=0: a plain editor without the binding (the floor for the keystroke benchmark).
const bind = params.get('bind') !== '0';
// ?views=2: a second ProseMirror editor bound to the same provider (window.tandem.second).
const views = Number(params.get('views') ?? '1');
const host = document.createElement('div');
host.id = 'pm';
document.body.replaceChildren(host);
const style = document.createElement('style');
style.textContent = '#pm,#pm2{border:1px solid #ccc;min-height:200px;padding:0.5rem;font:15px/1.5 system-ui} .ProseMirror{outline:none;white-space:pre-wrap} .tandem-caret-label{font-size:11px}';
document.head.appendChild(style);

const provider = new Provider({ url: location.origin, docId });
provider.awareness.setLocalStateField('user', { name, color: '#2ca02c' });
await provider.ready;

if (kind === 'tiptap') {
  const editor = new Editor({
    element: host,
    extensions: [StarterKit.configure({ undoRedo: false, trailingNode: false }), TandemCollaboration.configure({ provider }), TandemCursor.configure({ provider, user: { name, color: '#2ca02c' } })],
  });
  editor.commands.focus();
  Object.assign(window, { tandem: { provider, editor, view: editor.view, mapping: new Mapping(editor.schema) } });
} else {
  const schema = new Schema({
    nodes: addListNodes(basic.spec.nodes, 'paragraph block*', 'block'),
    marks: basic.spec.marks.addToEnd('comment', { attrs: { id: {} }, excludes: '', inclusive: false, toDOM: (m) => ['span', { class: 'comment', 'data-comment': m.attrs.id }, 0] }),
  });
  /** @param {HTMLElement} el */
  const editorIn = (el) => {
    const binding = prosemirrorBinding(provider);
    const view = new EditorView(el, {
      state: EditorState.create({
        schema,
        plugins: [
          ...(bind ? [binding.plugin, keymap(binding.keymap)] : []),
          keymap({ 'Mod-b': toggleMark(schema.marks.strong), 'Mod-i': toggleMark(schema.marks.em), Enter: chainCommands(splitListItem(schema.nodes.list_item), baseKeymap.Enter) }),
          keymap(baseKeymap),
        ],
      }),
    });
    return { view, binding };
  };
  const { view, binding } = editorIn(host);
  let second = null;
  if (views === 2) {
    const host2 = document.createElement('div');
    host2.id = 'pm2';
    document.body.appendChild(host2);
    second = editorIn(host2);
  }
  view.focus();
  Object.assign(window, { tandem: { provider, view, binding, schema, mapping: new Mapping(schema), second } });
}
