// @ts-check
// The CRDT's byte encoding (docs/crdt.md section 2) on top of the shared varint
// encoder and decoder (../varint.js): LEB128 varints bounded to 2^53, zigzag,
// UTF-8 strings. This file adds what the CRDT formats need: counts checked
// against the bytes that remain, the refusal of trailing bytes, a fast path for
// short ASCII strings, and errors of the CRDT's own kind.

import { Encoder, Decoder, DecodeError } from '../varint.js';
import { malformed } from './errors.js';

export { Encoder };

/** LIMIT is 2^53: every varint, client ID and clock is below it. */
export const LIMIT = 2 ** 53;

/** CrdtDecoder is a Decoder with the checks the CRDT formats add. */
export class CrdtDecoder extends Decoder {
  /**
   * readCount reads a count of items that each need at least minBytes bytes, and
   * checks it against the bytes that remain before anything is allocated.
   * @param {number} [minBytes]
   * @returns {number}
   */
  readCount(minBytes = 1) {
    const n = this.readVarUint('count');
    if (n * minBytes > this.remaining) throw malformed('count exceeds input');
    return n;
  }

  /**
   * readString reads a varint byte length then strict UTF-8 (a BOM is kept as
   * U+FEFF), with a fast path for short ASCII.
   * @param {string} [label]
   * @returns {string}
   */
  readString(label = 'string') {
    const buf = this.buf;
    const p = this.pos;
    const n = p < buf.length ? buf[p] : 0x80;
    if (n < 0x20 && p + 1 + n <= buf.length) {
      let ascii = true;
      for (let i = p + 1; i <= p + n; i++) {
        if (buf[i] >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.pos = p + 1 + n;
        return String.fromCharCode.apply(null, /** @type {any} */ (buf.subarray(p + 1, p + 1 + n)));
      }
    }
    return super.readString(label);
  }

  /** end refuses trailing bytes. */
  end() {
    if (this.pos !== this.buf.length) throw malformed('trailing bytes');
  }
}

/**
 * decoding runs fn and turns the shared decoder's DecodeError into CrdtError
 * 'malformed'.
 * @template T
 * @param {() => T} fn
 * @returns {T}
 */
export function decoding(fn) {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DecodeError) throw malformed(err.message);
    throw err;
  }
}

/**
 * bytesOf returns the bytes an encoder wrote, copied to a buffer of their size.
 * @param {Encoder} e
 * @returns {Uint8Array}
 */
export function bytesOf(e) {
  return e.finish().slice();
}

/**
 * hex returns the lowercase hexadecimal form of bytes.
 * @param {Uint8Array} b
 * @returns {string}
 */
export function hex(b) {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

/**
 * unhex parses hexadecimal into bytes; it returns null on bad input.
 * @param {string} s
 * @returns {Uint8Array | null}
 */
export function unhex(s) {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return b;
}
