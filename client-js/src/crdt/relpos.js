// @ts-check
// Relative positions (format byte 0x04, docs/crdt.md 1.7 and 2.5).

import { CrdtDecoder, Encoder, LIMIT, decoding, bytesOf } from './encoding.js';
import { CrdtError, malformed } from './errors.js';
import { checkName } from './names.js';
import { validClient } from './statevector.js';

export const FORMAT_REL_POS = 0x04;

/** Kinds of relative positions, as encoded. */
export const REL_BEFORE = 0;
export const REL_AFTER = 1;
export const REL_START = 2;
export const REL_END = 3;

/**
 * RelPos anchors a cursor in the Text root `root`: Before(id) (kind 0), After(id)
 * (1), Start (2) or End (3). client and clock name the item for kinds 0 and 1,
 * and are 0 otherwise.
 * @typedef {{root: string, kind: number, client: number, clock: number}} RelPos
 */

/**
 * encodeRelPos writes a relative position.
 * @param {RelPos} rp
 * @returns {Uint8Array}
 */
export function encodeRelPos(rp) {
  if (!checkName(rp.root)) throw new CrdtError('name', 'invalid root name');
  if (rp.kind !== REL_BEFORE && rp.kind !== REL_AFTER && rp.kind !== REL_START && rp.kind !== REL_END) {
    throw new CrdtError('unknown', 'invalid relative position kind');
  }
  const e = new Encoder(32);
  e.writeUint8(FORMAT_REL_POS);
  e.writeUint8(rp.kind);
  e.writeString(rp.root);
  if (rp.kind === REL_BEFORE || rp.kind === REL_AFTER) {
    if (!validClient(rp.client) || !Number.isInteger(rp.clock) || rp.clock < 0 || rp.clock >= LIMIT) {
      throw new CrdtError('unknown', 'invalid relative position id');
    }
    e.writeVarUint(rp.client);
    e.writeVarUint(rp.clock);
  }
  return bytesOf(e);
}

/**
 * decodeRelPos reads an encoded relative position; it throws CrdtError
 * 'malformed' on bad bytes.
 * @param {Uint8Array} bytes
 * @returns {RelPos}
 */
export function decodeRelPos(bytes) {
  if (!(bytes instanceof Uint8Array)) throw malformed('not bytes');
  return decoding(() => decodeRelPosBody(bytes));
}

/**
 * @param {Uint8Array} bytes
 */
function decodeRelPosBody(bytes) {
  const d = new CrdtDecoder(bytes);
  if (d.readUint8() !== FORMAT_REL_POS) throw malformed('not a relative position');
  const kind = d.readUint8();
  if (kind > REL_END) throw malformed('bad relative position kind');
  const root = d.readString();
  if (!checkName(root)) throw malformed('bad root name');
  let client = 0;
  let clock = 0;
  if (kind === REL_BEFORE || kind === REL_AFTER) {
    client = d.readVarUint();
    if (client === 0) throw malformed('client id 0');
    clock = d.readVarUint();
  }
  d.end();
  return { root, kind, client, clock };
}
