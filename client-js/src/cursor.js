// @ts-check
import { encodeRelPos, decodeRelPos } from './crdt/index.js';

/**
 * Cursors in awareness states. A cursor is stored as two relative positions (anchor and head,
 * docs/crdt.md section 1.7) in base64, so that it points at the same characters on every replica
 * whatever edits arrive before it is drawn:
 *
 *   { user: { name, color }, cursor: { root, anchor: "<base64>", head: "<base64>" } | null }
 *
 * A caret is an empty selection (anchor = head).
 */

/**
 * @typedef {object} RemoteCursor
 * @property {number} clientId
 * @property {string} name
 * @property {string} color    a CSS colour (validated: #rgb, #rrggbb or #rrggbbaa)
 * @property {number} anchor   code points
 * @property {number} head     code points
 */

const palette = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#46a0a8', '#f032e6', '#9a6324', '#808000', '#000075'];

/**
 * colorFor returns a stable colour for a client ID, for users who did not pick one.
 * @param {number} clientId
 */
export function colorFor(clientId) {
  return palette[clientId % palette.length];
}

/**
 * safeColor returns c when it is a hex colour, else the fallback: a peer's state must not be able
 * to inject CSS.
 * @param {unknown} c
 * @param {string} fallback
 */
export function safeColor(c, fallback) {
  return typeof c === 'string' && /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/.test(c) ? c : fallback;
}

/**
 * selectionTint returns the translucent background for a selection drawn in colour c (a colour
 * that passed safeColor): the colour at 25% opacity, as #rrggbbaa.
 * @param {string} c
 */
export function selectionTint(c) {
  const rgb = c.length === 4 ? `#${c[1]}${c[1]}${c[2]}${c[2]}${c[3]}${c[3]}` : c.slice(0, 7);
  return `${rgb}40`;
}

/**
 * shortName returns a display name cut to max code points (never between the halves of an emoji).
 * @param {string} name
 * @param {number} max
 */
export function shortName(name, max) {
  if (name.length <= max) return name;
  return [...name].slice(0, max).join('');
}

/**
 * encodeCursor returns the awareness form of a selection in a Text root.
 * @param {{ relPos: (pos: number, assoc?: number) => any }} text
 * @param {string} root
 * @param {number} anchor  code points
 * @param {number} head    code points
 */
export function encodeCursor(text, root, anchor, head) {
  // The anchor and head stick to the character on their right, except at the end of a selection
  // that extends forward, which sticks to its left so typing after it does not stretch it.
  const lo = Math.min(anchor, head);
  const hi = Math.max(anchor, head);
  const enc = (/** @type {number} */ p) => bytesToBase64(encodeRelPos(text.relPos(p, p === hi && lo !== hi ? -1 : 1)));
  return { root, anchor: enc(anchor), head: enc(head) };
}

/**
 * encodeCursorRel returns the awareness form of a selection already held as relative positions
 * (as encodeCursor would make them): no position is looked up again.
 * @param {string} root
 * @param {import('./crdt/relpos.js').RelPos} anchor
 * @param {import('./crdt/relpos.js').RelPos} head
 */
export function encodeCursorRel(root, anchor, head) {
  const a = bytesToBase64(encodeRelPos(anchor));
  return { root, anchor: a, head: anchor === head ? a : bytesToBase64(encodeRelPos(head)) };
}

/**
 * resolveCursor turns an awareness cursor back into code point positions, or null if it is
 * malformed or names characters this replica does not have yet.
 * @param {{ resolve: (rp: any) => number }} doc
 * @param {unknown} cursor
 * @param {string} root
 * @returns {{ anchor: number, head: number } | null}
 */
export function resolveCursor(doc, cursor, root) {
  if (!cursor || typeof cursor !== 'object') return null;
  const c = /** @type {{ root?: unknown, anchor?: unknown, head?: unknown }} */ (cursor);
  if (c.root !== root || typeof c.anchor !== 'string' || typeof c.head !== 'string') return null;
  try {
    return { anchor: doc.resolve(decodeRelPos(base64ToBytes(c.anchor))), head: doc.resolve(decodeRelPos(base64ToBytes(c.head))) };
  } catch {
    return null;
  }
}

/**
 * remoteCursors lists the resolvable cursors of the other editors in a Text root.
 * @param {import('./awareness.js').Awareness} awareness
 * @param {{ resolve: (rp: any) => number }} doc
 * @param {string} root
 * @returns {RemoteCursor[]}
 */
export function remoteCursors(awareness, doc, root) {
  /** @type {RemoteCursor[]} */
  const out = [];
  for (const [clientId, state] of awareness.getStates()) {
    const pos = resolveCursor(doc, state.cursor, root);
    if (!pos) continue;
    const user = /** @type {{ name?: unknown, color?: unknown }} */ (state.user ?? {});
    const name = typeof user.name === 'string' && user.name.trim() ? shortName(user.name, 64) : `user ${clientId % 1000}`;
    out.push({ clientId, name, color: safeColor(user.color, colorFor(clientId)), anchor: pos.anchor, head: pos.head });
  }
  return out;
}

/**
 * bytesToBase64 encodes bytes as standard base64.
 * @param {Uint8Array} b
 */
export function bytesToBase64(b) {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

/**
 * base64ToBytes decodes standard base64; it throws on malformed input.
 * @param {string} s
 */
export function base64ToBytes(s) {
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  return b;
}
