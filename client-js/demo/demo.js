// @ts-check
// The demo editor (served at / with the client's modules under /src/, so '../src/' resolves to them
// both here and on the server): one textarea bound to the document named in the URL (?doc=notes), with the
// other editors' cursors, a status line, and the user's name and colour kept in localStorage.
import { Provider } from '../src/provider.js';
import { TextareaBinding } from '../src/bindings/textarea.js';
import { colorFor, safeColor, shortName } from '../src/cursor.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const docIdRe = /^[A-Za-z0-9._:-]{1,128}$/;

const params = new URLSearchParams(location.search);
let docId = params.get('doc') ?? '';
if (!docIdRe.test(docId) || docId === '.' || docId === '..') {
  docId = 'notes';
  params.set('doc', docId);
  history.replaceState(null, '', `?${params}`);
}
document.title = `${docId} · tandem`;

// The recent documents for the picker.
const recent = /** @type {string[]} */ (JSON.parse(localStorage.getItem('tandem.recent') ?? '[]')).filter((d) => docIdRe.test(d));
const recentNow = [docId, ...recent.filter((d) => d !== docId)].slice(0, 10);
localStorage.setItem('tandem.recent', JSON.stringify(recentNow));
for (const d of recentNow) {
  const o = document.createElement('option');
  o.value = d;
  $('recent-docs').appendChild(o);
}
const docInput = /** @type {HTMLInputElement} */ ($('doc-name'));
docInput.value = docId;
$('doc-picker').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const next = docInput.value.trim();
  if (!docIdRe.test(next)) return;
  location.search = `?doc=${encodeURIComponent(next)}`;
});

const provider = new Provider({ url: location.origin, docId, token: params.get('token') ?? undefined });

// The user's name and colour.
const nameInput = /** @type {HTMLInputElement} */ ($('user-name'));
const colorInput = /** @type {HTMLInputElement} */ ($('user-color'));
nameInput.value = localStorage.getItem('tandem.name') ?? `guest ${provider.clientId % 1000}`;
colorInput.value = safeColor(localStorage.getItem('tandem.color'), colorFor(provider.clientId));
const publishUser = () => {
  localStorage.setItem('tandem.name', nameInput.value);
  localStorage.setItem('tandem.color', colorInput.value);
  provider.awareness.setLocalStateField('user', { name: nameInput.value.trim() || 'guest', color: colorInput.value });
};
nameInput.addEventListener('input', publishUser);
colorInput.addEventListener('input', publishUser);
$('user-form').addEventListener('submit', (ev) => ev.preventDefault());
publishUser();

// The status line.
const conn = $('conn');
/** @type {Record<string, string>} */
const labels = { connecting: 'connecting…', connected: 'live', offline: 'offline', error: 'error' };
provider.on('status', (ev) => {
  conn.dataset.status = ev.status;
  let text = labels[ev.status];
  if (ev.status === 'error') text = `disconnected (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
  else if (ev.status === 'offline' && ev.retryInMs !== undefined) text = `offline, retrying in ${Math.ceil(ev.retryInMs / 1000)} s`;
  conn.textContent = text;
});
const save = $('save');
const showSaved = () => {
  save.dataset.saved = String(provider.saved);
  save.textContent = provider.saved ? 'all changes saved' : provider.status === 'connected' ? 'saving…' : 'unsaved changes (kept offline)';
};
provider.on('saved', showSaved);
provider.on('unsaved', showSaved);
provider.on('status', showSaved);
const peers = $('peers');
provider.awareness.on('change', () => {
  peers.replaceChildren(
    ...[...provider.awareness.getStates()].map(([id, s]) => {
      const u = /** @type {{ name?: unknown, color?: unknown }} */ (s.user ?? {});
      const el = document.createElement('span');
      el.className = 'peer';
      el.style.setProperty('--c', safeColor(u.color, colorFor(id)));
      el.textContent = typeof u.name === 'string' ? shortName(u.name, 32) : 'guest';
      return el;
    }),
  );
});
provider.on('error', (err) => console.warn(err.message));

// The editor, once the offline copy is loaded.
const textarea = /** @type {HTMLTextAreaElement} */ ($('editor'));
await provider.ready;
const binding = new TextareaBinding(textarea, provider);
textarea.disabled = false;
textarea.placeholder = 'Type here; open this page in another window to see both cursors.';
textarea.focus();

// For the browser tests and the curious, in the console.
Object.assign(window, { tandem: { provider, binding, undo: binding.undoManager } });
