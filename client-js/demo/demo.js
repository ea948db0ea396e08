// @ts-check
// The demo editor (served at / with the client's modules under /src/, so '../src/' resolves to them
// both here and on the server): the document named in the URL (?doc=notes) in a rich-text editor
// with a toolbar (a contenteditable element bound by bindings/richdom.js), or with ?editor=plain in
// a textarea; the other editors' cursors, a status line, and the user's name and colour kept in
// localStorage.
import { Provider } from '../src/provider.js';
import { TextareaBinding } from '../src/bindings/textarea.js';
import { RichBinding } from '../src/bindings/richdom.js';
import { colorFor, safeColor, shortName } from '../src/cursor.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const docIdRe = /^[A-Za-z0-9._:-]{1,128}$/;

const params = new URLSearchParams(location.search);
const plain = params.get('editor') === 'plain';
const notice = $('notice');
/**
 * showNotice puts a message above the editor (or hides it, for '').
 * @param {string} text
 * @param {'error' | 'info'} [kind]
 */
const showNotice = (text, kind = 'error') => {
  notice.hidden = text === '';
  notice.textContent = text;
  notice.dataset.kind = kind;
};

// The shell is kept by a service worker, so that a reload without network still opens the editor.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch((err) => console.warn('service worker not registered:', err));
}

// No ?doc= opens the shared `notes`; a name the server would refuse opens nothing.
const requested = params.get('doc');
const docId = requested ?? 'notes';
const validId = docIdRe.test(docId) && docId !== '.' && docId !== '..';
if (requested === null) {
  params.set('doc', docId);
  history.replaceState(null, '', `?${params}`);
}
if (!validId) {
  showNotice(`"${docId.slice(0, 140)}" is not a document name: use 1 to 128 letters, digits, and . _ : - (pick another below).`);
  document.title = 'invalid document · tandem';
  $('conn').dataset.status = 'error';
  $('conn').textContent = 'no document';
  $('save').textContent = '';
  /** @type {HTMLTextAreaElement} */ ($('editor')).placeholder = 'No document is open.';
}
// The other editor, on the same document, one click away.
const modeLink = /** @type {HTMLAnchorElement} */ ($('mode-link'));
const other = new URLSearchParams(params);
if (plain) other.delete('editor');
else other.set('editor', 'plain');
modeLink.href = `?${other}`;
modeLink.textContent = plain ? 'rich text' : 'plain text';
// The recent documents for the picker.
const recent = /** @type {string[]} */ (JSON.parse(localStorage.getItem('tandem.recent') ?? '[]')).filter((d) => docIdRe.test(d));
const recentNow = (validId ? [docId, ...recent.filter((d) => d !== docId)] : recent).slice(0, 10);
localStorage.setItem('tandem.recent', JSON.stringify(recentNow));
for (const d of recentNow) {
  const o = document.createElement('option');
  o.value = d;
  $('recent-docs').appendChild(o);
}
const docInput = /** @type {HTMLInputElement} */ ($('doc-name'));
docInput.value = validId ? docId : '';
$('doc-picker').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const next = docInput.value.trim();
  if (!docIdRe.test(next)) return;
  location.search = `?${plain ? 'editor=plain&' : ''}doc=${encodeURIComponent(next)}`;
});

if (validId) await open(docId);

/**
 * open binds the editor to the document docId.
 * @param {string} docId
 */
async function open(docId) {
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

  // The status line (client-js/README.md lists what each status and event means).
  const conn = $('conn');
  /** @type {Record<string, string>} */
  const labels = { connecting: 'connecting…', connected: 'live', offline: 'offline', error: 'error' };
  /** What a refusal means for the person at the keyboard, by its cause. */
  /** @type {Record<string, string>} */
  const refusals = {
    'invalid-document': 'The server does not accept this document name.',
    unauthorized: 'The server refused the access token: it is missing, invalid, expired or revoked. Open the page with a valid ?token=.',
    forbidden: 'This token or this page may not open this document.',
    deleted: 'This document was deleted. The editor is read-only: nothing typed here would be kept.',
    'unsupported-version': 'The server speaks another protocol version: reload the page to get the current client.',
    'too-large': 'This document is larger than the server allows.',
  };
  provider.on('status', (ev) => {
    conn.dataset.status = ev.status;
    let text = labels[ev.status];
    if (ev.status === 'error') text = `refused (${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`;
    else if (ev.status === 'offline' && !navigator.onLine) text = 'offline: no network';
    else if (ev.status === 'offline' && ev.retryInMs !== undefined) text = `connection lost, retrying in ${Math.ceil(ev.retryInMs / 1000)} s`;
    conn.textContent = text;
    if (ev.status === 'connected') showNotice('');
  });
  provider.on('refused', (ev) => {
    showNotice(`${refusals[ev.cause] ?? 'The server refused this document.'}${ev.reason ? ` (${ev.code}: ${ev.reason})` : ` (${ev.code})`}`);
  });
  const save = $('save');
  const showSaved = () => {
    save.dataset.saved = String(provider.saved && !provider.deleted);
    if (provider.deleted) save.textContent = 'nothing is saved: document deleted';
    else if (provider.saved) save.textContent = 'all changes saved';
    else save.textContent = provider.status === 'connected' ? 'saving…' : 'unsaved changes (kept offline)';
  };
  provider.on('saved', showSaved);
  provider.on('unsaved', showSaved);
  provider.on('status', showSaved);
  provider.on('refused', showSaved);
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
  if (!plain) {
    openRich(provider, nameInput);
    return;
  }
  const binding = new TextareaBinding(textarea, provider);
  textarea.disabled = false;
  textarea.placeholder = 'Type here; open this page in another window to see both cursors.';
  textarea.focus();

  // For the browser tests and the curious, in the console.
  Object.assign(window, { tandem: { provider, binding, undo: binding.undoManager } });
}

/**
 * openRich binds the rich editor and its toolbar to the provider's document.
 * @param {Provider} provider
 * @param {HTMLInputElement} nameInput
 */
function openRich(provider, nameInput) {
  const textarea = /** @type {HTMLTextAreaElement} */ ($('editor'));
  const el = $('rich-editor');
  const toolbar = $('toolbar');
  textarea.hidden = true;
  el.hidden = false;
  toolbar.hidden = false;
  const binding = new RichBinding(el, provider);
  /** @type {Record<string, () => void>} */
  const commands = {
    bold: () => binding.toggleMark('bold'),
    italic: () => binding.toggleMark('italic'),
    link: () => {
      const cur = /** @type {{ href?: unknown } | undefined} */ (binding.activeMarks().link);
      const href = prompt('Link address (empty removes the link)', typeof cur?.href === 'string' ? cur.href : 'https://');
      if (href !== null) binding.setMark('link', href.trim() && href.trim() !== 'https://' ? { href: href.trim() } : null);
    },
    h1: () => binding.setBlock('heading', { level: 1 }),
    h2: () => binding.setBlock('heading', { level: 2 }),
    bullet: () => binding.setBlock('list_item', { list: 'bullet' }),
    ordered: () => binding.setBlock('list_item', { list: 'ordered' }),
    comment: () => {
      const threads = Object.keys(binding.activeMarks()).filter((k) => k.startsWith('comment:'));
      if (threads.length > 0) for (const t of threads) binding.setMark(t, null);
      else binding.setMark(`comment:${crypto.randomUUID().slice(0, 8)}`, { author: nameInput.value.trim() || 'guest' });
    },
  };
  for (const b of toolbar.querySelectorAll('button[data-cmd]')) {
    const cmd = commands[/** @type {HTMLElement} */ (b).dataset.cmd ?? ''];
    // The editor keeps the focus and the selection: the command acts on them.
    b.addEventListener('mousedown', (ev) => ev.preventDefault());
    b.addEventListener('click', () => {
      el.focus();
      cmd?.();
      showActive();
    });
  }
  const showActive = () => {
    const marks = binding.activeMarks();
    for (const b of toolbar.querySelectorAll('button[data-cmd]')) {
      const cmd = /** @type {HTMLElement} */ (b).dataset.cmd ?? '';
      if (cmd === 'bold' || cmd === 'italic') b.setAttribute('aria-pressed', String(cmd in marks));
    }
  };
  document.addEventListener('selectionchange', () => {
    if (document.activeElement === el) showActive();
  });
  el.focus();
  binding.select(binding.blocks[0].start);
  Object.assign(window, { tandem: { provider, binding } });
}
