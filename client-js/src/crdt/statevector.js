// @ts-check
// State vectors (format byte 0x03, docs/crdt.md 2.5): client -> next clock.

import { CrdtDecoder, Encoder, LIMIT, decoding, bytesOf } from './encoding.js';
import { malformed } from './errors.js';

export const FORMAT_STATE_VECTOR = 0x03;

/**
 * StateVector maps each client to its next clock; absent clients have 0.
 * @typedef {Map<number, number>} StateVector
 */

/**
 * encodeStateVector writes sv ascending by client, leaving out clocks of 0 and
 * invalid entries (a client outside [1, 2^53), a clock that is not an integer
 * below 2^53).
 * @param {StateVector} sv
 * @returns {Uint8Array}
 */
export function encodeStateVector(sv) {
  const clients = [...sv.keys()]
    .filter((c) => {
      const k = sv.get(c);
      return validClient(c) && typeof k === 'number' && Number.isInteger(k) && k > 0 && k < LIMIT;
    })
    .sort((a, b) => a - b);
  const e = new Encoder(2 + clients.length * 12);
  e.writeUint8(FORMAT_STATE_VECTOR);
  e.writeVarUint(clients.length);
  for (const c of clients) {
    e.writeVarUint(c);
    e.writeVarUint(/** @type {number} */ (sv.get(c)));
  }
  return bytesOf(e);
}

/**
 * decodeStateVector reads an encoded state vector; it throws CrdtError
 * 'malformed' on bad bytes.
 * @param {Uint8Array} bytes
 * @returns {StateVector}
 */
export function decodeStateVector(bytes) {
  if (!(bytes instanceof Uint8Array)) throw malformed('not bytes');
  return decoding(() => decodeStateVectorBody(bytes));
}

/**
 * @param {Uint8Array} bytes
 */
function decodeStateVectorBody(bytes) {
  const d = new CrdtDecoder(bytes);
  if (d.readUint8() !== FORMAT_STATE_VECTOR) throw malformed('not a state vector');
  const n = d.readCount(2);
  /** @type {StateVector} */
  const sv = new Map();
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = d.readVarUint();
    if (c <= prev) throw malformed(c === 0 ? 'client id 0' : 'state vector out of order');
    const clock = d.readVarUint();
    if (clock === 0) throw malformed('state vector clock 0');
    sv.set(c, clock);
    prev = c;
  }
  d.end();
  return sv;
}

/**
 * validClient reports whether id is a valid client ID: an integer in [1, 2^53).
 * @param {unknown} id
 * @returns {id is number}
 */
export function validClient(id) {
  return typeof id === 'number' && Number.isInteger(id) && id >= 1 && id < LIMIT;
}
