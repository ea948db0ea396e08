// @ts-check
// The CodeMirror browser test's page: a CodeMirror editor bound to ?doc= with the CodeMirror
// binding. The test bundles this file with esbuild (CodeMirror is an npm package) and has the
// browser load it instead of the demo's module, so that the page itself still comes from the real
// server (a page from elsewhere may not open sockets to 127.0.0.1: local network access checks).
import { EditorState } from '@codemirror/state';
import { EditorView, drawSelection } from '@codemirror/view';
import { Provider } from '../../src/provider.js';
import { codemirrorBinding } from '../../src/bindings/codemirror.js';

const host = /** @type {HTMLElement} */ (document.querySelector('.editor'));
host.replaceChildren();
host.id = 'cm';
const style = document.createElement('style');
style.textContent = '.cm-editor{border:1px solid #ccc;height:300px;font-size:15px;background:#fff} .cm-content{padding:1rem 0}';
document.head.appendChild(style);
const docId = new URLSearchParams(location.search).get('doc') ?? 'notes';
const provider = new Provider({ url: location.origin, docId });
provider.awareness.setLocalStateField('user', { name: 'Cleo', color: '#2ca02c' });
await provider.ready;
const binding = codemirrorBinding(provider);
const view = new EditorView({
  parent: /** @type {HTMLElement} */ (document.getElementById('cm')),
  state: EditorState.create({
    doc: provider.doc.text('body').toString(),
    extensions: [binding.extension, drawSelection(), EditorView.lineWrapping],
  }),
});
view.focus();
Object.assign(window, { tandem: { provider, view, binding } });
