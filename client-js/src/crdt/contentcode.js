// @ts-check
// The content column of a version 2 snapshot (docs/crdt.md 2.4.1): the
// visible text as UTF-8 or, when shorter, its code points coded with a
// canonical Huffman code built from their counts. The construction is part
// of the format, so that both twins write the same bytes and a decoder can
// refuse a code that is not the one the counts give.

import { utf8Length, varUintLength } from '../varint.js';
import { malformed } from './errors.js';

const CONTENT_RAW = 0;
const CONTENT_HUFFMAN = 1;
const MAX_CODE_BITS = 15;
const MAX_CODE_SYMBOLS = 1 << 15;

/**
 * codeLengths returns the code length of each symbol for the counts freq (at
 * least two, each at least 1; symbols in ascending code point order, which
 * breaks ties): Huffman's construction with two queues, counts halved
 * (rounding up) while a length exceeds 15.
 * @param {number[]} freq
 * @returns {Uint8Array}
 */
export function codeLengths(freq) {
  const n = freq.length;
  const w = freq.slice();
  const order = new Int32Array(n);
  const weight = new Float64Array(2 * n - 1);
  const parent = new Int32Array(2 * n - 1);
  const depth = new Uint8Array(2 * n - 1);
  const lens = new Uint8Array(n);
  for (;;) {
    const ord = Array.from({ length: n }, (_, i) => i).sort((a, b) => w[a] - w[b] || a - b);
    for (let i = 0; i < n; i++) {
      order[i] = ord[i];
      weight[i] = w[ord[i]];
    }
    let leaf = 0;
    let inner = n;
    /** @param {number} next */
    const take = (next) => {
      if (leaf < n && (inner >= next || weight[leaf] <= weight[inner])) return leaf++;
      return inner++;
    };
    for (let next = n; next < 2 * n - 1; next++) {
      const a = take(next);
      const b = take(next);
      weight[next] = weight[a] + weight[b];
      parent[a] = next;
      parent[b] = next;
    }
    depth[2 * n - 2] = 0;
    let longest = 0;
    for (let i = 2 * n - 3; i >= 0; i--) {
      depth[i] = depth[parent[i]] + 1;
      if (i < n) {
        lens[order[i]] = depth[i];
        if (depth[i] > longest) longest = depth[i];
      }
    }
    if (longest <= MAX_CODE_BITS) return lens;
    for (let i = 0; i < n; i++) w[i] = Math.ceil(w[i] / 2);
  }
}

/**
 * canonicalCodes returns the code of each symbol for its length, as in DEFLATE.
 * @param {Uint8Array} lens
 * @returns {Uint32Array}
 */
function canonicalCodes(lens) {
  const order = Array.from({ length: lens.length }, (_, i) => i).sort((a, b) => lens[a] - lens[b] || a - b);
  const codes = new Uint32Array(lens.length);
  let code = 0;
  let prev = 0;
  for (let k = 0; k < order.length; k++) {
    const s = order[k];
    if (k > 0) code++;
    code *= 2 ** (lens[s] - prev);
    prev = lens[s];
    codes[s] = code;
  }
  return codes;
}

/**
 * ContentCode is the Huffman code of one text.
 * @typedef {{syms: number[], lens: Uint8Array, codes: Uint32Array, ascii: Int32Array, index: Map<number, number>, bits: number, size: number}} ContentCode
 */

/**
 * huffmanCode returns the code for the text s, or null when s has fewer than
 * two or more than 32,768 distinct code points.
 * @param {string} s
 * @returns {ContentCode | null}
 */
function huffmanCode(s) {
  const asciiCount = new Float64Array(128);
  /** @type {Map<number, number>} */
  const counts = new Map();
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 128) {
      asciiCount[c]++;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff) c = /** @type {number} */ (s.codePointAt(i++));
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  /** @type {number[]} */
  const syms = [];
  /** @type {number[]} */
  const freq = [];
  for (let c = 0; c < 128; c++) {
    if (asciiCount[c] > 0) {
      syms.push(c);
      freq.push(asciiCount[c]);
    }
  }
  const others = [...counts.keys()].sort((a, b) => a - b);
  for (const c of others) {
    syms.push(c);
    freq.push(/** @type {number} */ (counts.get(c)));
  }
  if (syms.length < 2 || syms.length > MAX_CODE_SYMBOLS) return null;
  const lens = codeLengths(freq);
  const ascii = new Int32Array(128);
  /** @type {Map<number, number>} */
  const index = new Map();
  let bits = 0;
  let size = varUintLength(syms.length) + syms.length;
  let prev = -1;
  for (let i = 0; i < syms.length; i++) {
    if (syms[i] < 128) ascii[syms[i]] = i;
    else index.set(syms[i], i);
    bits += freq[i] * lens[i];
    size += varUintLength(syms[i] - prev - 1);
    prev = syms[i];
  }
  const nBytes = Math.ceil(bits / 8);
  size += varUintLength(nBytes) + nBytes;
  return { syms, lens, codes: canonicalCodes(lens), ascii, index, bits, size };
}

/**
 * writeContent writes the content column: the text s, raw or coded, whichever
 * is shorter (raw on a tie).
 * @param {import('../varint.js').Encoder} e
 * @param {string} s
 */
export function writeContent(e, s) {
  const n = utf8Length(s);
  const h = huffmanCode(s);
  if (h === null || h.size >= varUintLength(n) + n) {
    e.writeUint8(CONTENT_RAW);
    e.writeString(s);
    return;
  }
  e.writeUint8(CONTENT_HUFFMAN);
  e.writeVarUint(h.syms.length);
  let prev = -1;
  for (let i = 0; i < h.syms.length; i++) {
    e.writeVarUint(h.syms[i] - prev - 1);
    e.writeUint8(h.lens[i]);
    prev = h.syms[i];
  }
  const nBytes = Math.ceil(h.bits / 8);
  e.writeVarUint(nBytes);
  e.ensure(nBytes);
  const buf = e.buf;
  let p = e.pos;
  let acc = 0;
  let nAcc = 0;
  const { ascii, index, lens, codes } = h;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    let sym;
    if (c < 128) sym = ascii[c];
    else {
      if (c >= 0xd800 && c <= 0xdbff) c = /** @type {number} */ (s.codePointAt(i++));
      sym = /** @type {number} */ (index.get(c));
    }
    acc = (acc << lens[sym]) | codes[sym];
    nAcc += lens[sym];
    while (nAcc >= 8) {
      nAcc -= 8;
      buf[p++] = (acc >>> nAcc) & 0xff;
    }
    acc &= (1 << nAcc) - 1;
  }
  if (nAcc > 0) buf[p++] = (acc << (8 - nAcc)) & 0xff;
  e.pos = p;
}

/**
 * readContent reads the content column of a text of n code points and
 * returns the text.
 * @param {import('./encoding.js').CrdtDecoder} d
 * @param {number} n
 * @returns {string}
 */
export function readContent(d, n) {
  const mode = d.readUint8();
  if (mode === CONTENT_RAW) {
    const start = d.pos;
    const s = d.readString();
    const h = huffmanCode(s);
    if (h !== null && h.size < d.pos - start) throw malformed('raw content that a code would make shorter');
    return s;
  }
  if (mode !== CONTENT_HUFFMAN) throw malformed('bad content mode');
  const start = d.pos;
  const nSym = d.readCount(2);
  if (nSym < 2 || nSym > MAX_CODE_SYMBOLS) throw malformed('bad content code size');
  const syms = new Array(nSym);
  const lens = new Uint8Array(nSym);
  let prev = -1;
  let kraft = 0;
  let longest = 0;
  let astral = false;
  for (let i = 0; i < nSym; i++) {
    const c = prev + 1 + d.readVarUint();
    const l = d.readUint8();
    if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) throw malformed('bad content code point');
    if (l === 0 || l > MAX_CODE_BITS) throw malformed('bad content code length');
    syms[i] = c;
    lens[i] = l;
    prev = c;
    kraft += 1 << (MAX_CODE_BITS - l);
    if (l > longest) longest = l;
    if (c > 0xffff) astral = true;
  }
  if (kraft !== 1 << MAX_CODE_BITS) throw malformed('content code is not complete');
  const nBytes = d.readVarUint();
  if (nBytes > d.remaining) throw malformed('truncated content');
  if (n > nBytes * 8) throw malformed('content too short for its code points');
  const code = d.buf.subarray(d.pos, d.pos + nBytes);
  d.pos += nBytes;
  const codeBytes = d.pos - start;
  const codes = canonicalCodes(lens);
  const table = new Uint32Array(1 << longest);
  for (let s = 0; s < nSym; s++) {
    const lo = codes[s] << (longest - lens[s]);
    table.fill((s << 4) | lens[s], lo, lo + (1 << (longest - lens[s])));
  }
  const freq = new Array(nSym).fill(0);
  const units = astral ? null : new Uint16Array(n);
  /** @type {string[]} */
  const parts = [];
  /** @type {number[]} */
  let cps = [];
  let acc = 0;
  let nAcc = 0;
  let pos = 0;
  let used = 0;
  let nUTF8 = 0;
  const mask = (1 << longest) - 1;
  for (let i = 0; i < n; i++) {
    while (nAcc < longest) {
      acc = ((acc << 8) | (pos < nBytes ? code[pos] : 0)) & 0xffffff;
      pos++;
      nAcc += 8;
    }
    const e = table[(acc >>> (nAcc - longest)) & mask];
    const s = e >>> 4;
    const l = e & 15;
    nAcc -= l;
    used += l;
    freq[s]++;
    const c = syms[s];
    nUTF8 += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (units !== null) units[i] = c;
    else {
      cps.push(c);
      if (cps.length === 0x2000) {
        parts.push(String.fromCodePoint(...cps));
        cps = [];
      }
    }
  }
  if (Math.ceil(used / 8) !== nBytes) throw malformed('content code length mismatch');
  if (used % 8 !== 0 && (code[nBytes - 1] & ((1 << (8 - (used % 8))) - 1)) !== 0) throw malformed('content code padding is not zero');
  if (freq.includes(0)) throw malformed('content code has an unused symbol');
  const want = codeLengths(freq);
  for (let i = 0; i < nSym; i++) if (want[i] !== lens[i]) throw malformed('content code is not the one its counts give');
  if (codeBytes >= varUintLength(nUTF8) + nUTF8) throw malformed('content code no shorter than the text');
  if (units !== null) {
    for (let i = 0; i < n; i += 0x2000) parts.push(String.fromCharCode.apply(null, /** @type {any} */ (units.subarray(i, Math.min(n, i + 0x2000)))));
  } else if (cps.length > 0) parts.push(String.fromCodePoint(...cps));
  return parts.join('');
}
