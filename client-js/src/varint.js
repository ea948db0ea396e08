// @ts-check
// Byte encoding shared by tandem's wire formats: unsigned LEB128 varints exactly as Go's
// binary.AppendUvarint writes them, bounded to 2^53 - 1 so that a Number holds every value
// exactly; zigzag signed varints; length-prefixed byte strings; length-prefixed UTF-8 strings.
//
// Every write has its read. Reads are strict, so that every value has exactly one encoding and
// the Go and JavaScript twins accept and refuse the same bytes (docs/protocol.md, "Encoding"):
// a varint must be minimal, at most 8 bytes and at most 2^53 - 1; a declared length is checked
// against the bytes that remain; strings must be valid UTF-8. Failures throw a DecodeError whose
// `kind` names the fault. Values above 2^31 never go through bitwise operators, which truncate to
// 32 bits.

/** MAX_VARUINT is 2^53 - 1, the largest integer a varint may carry (Number.MAX_SAFE_INTEGER). */
export const MAX_VARUINT = Number.MAX_SAFE_INTEGER;

/** MAX_VARUINT_LEN is the length of the longest varint a Decoder accepts: 53 bits at 7 a byte. */
export const MAX_VARUINT_LEN = 8;

/**
 * The kinds of DecodeError that reading can throw; protocol.js adds its own (the names are the
 * Go sentinels' names in testdata/protocol/frames.json):
 * - 'truncated': the bytes end before a value does, or a declared length exceeds what remains;
 * - 'varint-overflow': a varint exceeds 2^53 - 1 or runs past 8 bytes;
 * - 'overlong-varint': a varint is not in its shortest form;
 * - 'invalid-utf8': a string is not valid UTF-8.
 * @typedef {'truncated'|'varint-overflow'|'overlong-varint'|'invalid-utf8'|
 *   'unknown-type'|'unexpected-type'|'trailing-bytes'|'invalid-client-id'|'invalid-version'|
 *   'unsupported-version'|'reserved-flags'|'invalid-close-code'} DecodeErrorKind
 */

/** DecodeError is thrown on bytes that do not decode; test `err.kind`, never the message. */
export class DecodeError extends Error {
  /**
   * @param {DecodeErrorKind} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.name = 'DecodeError';
    /** @type {DecodeErrorKind} */
    this.kind = kind;
  }
}

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading U+FEFF is content.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * utf8Length returns the UTF-8 length of a well-formed string, or -1 if it holds a lone
 * surrogate (which has no UTF-8 encoding).
 * @param {string} s
 * @returns {number}
 */
export function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      n += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      n += 2;
    } else if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      n += 2; // two UTF-16 units, four bytes
      i++;
    } else {
      return -1;
    }
  }
  return n;
}

/**
 * varUintLength returns the number of bytes writeVarUint writes for n.
 * @param {number} n an integer in [0, 2^53)
 * @returns {number}
 */
export function varUintLength(n) {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/**
 * Encoder appends values to a byte buffer that doubles as it fills. Writes throw a RangeError or
 * TypeError on a value the format cannot carry (a negative, fractional or too large integer, a
 * string with a lone surrogate): they never write something a decoder would refuse.
 */
export class Encoder {
  /** @param {number} [capacity] initial capacity in bytes */
  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(8, capacity));
    this.pos = 0;
  }

  /** @returns {number} the number of bytes written so far */
  get length() {
    return this.pos;
  }

  /**
   * ensure makes room for n more bytes.
   * @param {number} n
   */
  ensure(n) {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  /**
   * writeUint8 writes one byte.
   * @param {number} b an integer in [0, 255]
   */
  writeUint8(b) {
    if (!Number.isInteger(b) || b < 0 || b > 0xff) throw new RangeError(`varint: byte ${b} out of range`);
    if (this.pos === this.buf.length) this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /**
   * writeVarUint writes n as an unsigned LEB128 varint.
   * @param {number} n an integer in [0, 2^53)
   */
  writeVarUint(n) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint: ${n} is not an integer in [0, 2^53)`);
    if (this.pos + MAX_VARUINT_LEN > this.buf.length) this.ensure(MAX_VARUINT_LEN);
    const buf = this.buf;
    let p = this.pos;
    if (n < 0x80000000) {
      while (n >= 0x80) {
        buf[p++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
    } else {
      while (n >= 0x80) {
        buf[p++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
    }
    buf[p++] = n;
    this.pos = p;
  }

  /**
   * writeVarInt writes n zigzag-encoded ((n << 1) ^ (n >> 63) in Go), then as a varint.
   * @param {number} n an integer with |n| < 2^52
   */
  writeVarInt(n) {
    if (!Number.isInteger(n) || Math.abs(n) >= 2 ** 52) throw new RangeError(`varint: ${n} is not an integer in (-2^52, 2^52)`);
    this.writeVarUint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  /**
   * writeRaw writes bytes as they are, with no length.
   * @param {Uint8Array} b
   */
  writeRaw(b) {
    if (!(b instanceof Uint8Array)) throw new TypeError('varint: writeRaw wants a Uint8Array');
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * writeBytes writes the byte length as a varint, then the bytes.
   * @param {Uint8Array} b
   */
  writeBytes(b) {
    if (!(b instanceof Uint8Array)) throw new TypeError('varint: writeBytes wants a Uint8Array');
    this.writeVarUint(b.length);
    this.writeRaw(b);
  }

  /**
   * writeString writes the UTF-8 byte length as a varint, then the UTF-8 bytes. A string with a
   * lone surrogate throws a RangeError rather than being changed silently.
   * @param {string} s
   */
  writeString(s) {
    const n = utf8Length(s);
    if (n < 0) throw new RangeError('varint: string holds a lone surrogate');
    this.writeVarUint(n);
    this.ensure(n);
    if (n === s.length) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      this.pos += utf8Encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + n)).written;
    }
  }

  /**
   * finish returns the bytes written: a view of the encoder's buffer, not a copy. Later writes
   * append after it and leave it unchanged, so finish may be called again for a longer view.
   * @returns {Uint8Array}
   */
  finish() {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Decoder reads values from bytes in order. Byte strings it returns are views of the input, not
 * copies: do not modify the input while holding them. Every read takes an optional label that
 * names the field in error messages.
 */
export class Decoder {
  /** @param {Uint8Array} buf */
  constructor(buf) {
    if (!(buf instanceof Uint8Array)) throw new TypeError('varint: Decoder wants a Uint8Array');
    this.buf = buf;
    this.pos = 0;
  }

  /** @returns {boolean} whether bytes remain */
  hasMore() {
    return this.pos < this.buf.length;
  }

  /** @returns {number} how many bytes remain */
  get remaining() {
    return this.buf.length - this.pos;
  }

  /**
   * readUint8 reads one byte.
   * @param {string} [label]
   * @returns {number}
   */
  readUint8(label = 'byte') {
    if (this.pos >= this.buf.length) throw new DecodeError('truncated', `truncated: ${label} at byte ${this.pos}`);
    return this.buf[this.pos++];
  }

  /**
   * readVarUint reads an unsigned varint: minimal, at most 8 bytes, at most 2^53 - 1.
   * @param {string} [label]
   * @returns {number}
   */
  readVarUint(label = 'varint') {
    const buf = this.buf;
    const start = this.pos;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARUINT_LEN; i++) {
      const p = start + i;
      if (p >= buf.length) throw new DecodeError('truncated', `truncated: ${label} at byte ${start}`);
      const b = buf[p];
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new DecodeError('overlong-varint', `overlong varint: ${label} at byte ${start}`);
        // Above 2^53 the sum may round, but never below 2^53: the comparison is exact.
        if (n > MAX_VARUINT) throw new DecodeError('varint-overflow', `varint overflow: ${label} at byte ${start}`);
        this.pos = p + 1;
        return n;
      }
      scale *= 0x80;
    }
    throw new DecodeError('varint-overflow', `varint overflow: ${label} at byte ${start}`);
  }

  /**
   * readVarInt reads a zigzag signed varint.
   * @param {string} [label]
   * @returns {number}
   */
  readVarInt(label = 'varint') {
    const u = this.readVarUint(label);
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /**
   * readRaw reads n bytes, as a view of the input.
   * @param {number} n
   * @param {string} [label]
   * @returns {Uint8Array}
   */
  readRaw(n, label = 'bytes') {
    if (n > this.buf.length - this.pos) {
      throw new DecodeError('truncated', `truncated: ${label}: length ${n}, ${this.buf.length - this.pos} bytes left`);
    }
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /**
   * readBytes reads a varint length, then that many bytes, as a view of the input.
   * @param {string} [label]
   * @returns {Uint8Array}
   */
  readBytes(label = 'bytes') {
    const n = this.readVarUint(label);
    return this.readRaw(n, label);
  }

  /**
   * readString reads a varint length, then that many bytes of valid UTF-8.
   * @param {string} [label]
   * @returns {string}
   */
  readString(label = 'string') {
    const b = this.readBytes(label);
    try {
      return utf8Decoder.decode(b);
    } catch {
      throw new DecodeError('invalid-utf8', `invalid utf-8: ${label}`);
    }
  }
}
