// @ts-check
// Code points, UTF-16 and UTF-8. The CRDT counts code points; JavaScript strings
// are UTF-16. A string whose length equals its code point count holds no
// surrogate pair, and then a code point index is a UTF-16 index: every helper
// below takes that fast path first.

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * isWellFormed reports whether s holds no lone surrogate, i.e. whether it can be
 * encoded as UTF-8.
 * @param {string} s
 * @returns {boolean}
 */
export function isWellFormed(s) {
  // @ts-ignore: String.prototype.isWellFormed is Node 20+ and recent browsers.
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !loneSurrogate.test(s);
}

/**
 * cpLength returns the number of code points of a well-formed string.
 * @param {string} s
 * @returns {number}
 */
export function cpLength(s) {
  const n = s.length;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) pairs++;
  }
  return n - pairs;
}

/**
 * cpCount returns the number of code points of s, or -1 if s holds a lone
 * surrogate (is not encodable as UTF-8): isWellFormed and cpLength in one pass.
 * @param {string} s
 * @returns {number}
 */
export function cpCount(s) {
  const n = s.length;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff || i + 1 === n) return -1;
    const d = s.charCodeAt(i + 1);
    if (d < 0xdc00 || d > 0xdfff) return -1;
    pairs++;
    i++;
  }
  return n - pairs;
}

/**
 * cpToUtf16 returns the UTF-16 offset of code point offset cp in s, where s
 * holds len code points (len === s.length means no surrogate pairs).
 * @param {string} s
 * @param {number} len code points in s
 * @param {number} cp
 * @returns {number}
 */
export function cpToUtf16(s, len, cp) {
  if (len === s.length || cp === 0) return cp;
  if (cp === len) return s.length;
  let i = 0;
  for (let k = 0; k < cp; k++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
  }
  return i;
}

/**
 * utf16ToCp returns the code point offset of UTF-16 offset off in s (an offset
 * inside a surrogate pair counts the pair as passed).
 * @param {string} s
 * @param {number} off
 * @returns {number}
 */
export function utf16ToCp(s, off) {
  let cp = 0;
  for (let i = 0; i < off; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) i++;
    cp++;
  }
  return cp;
}

/**
 * cpSlice returns the code points [from, to) of s, which holds len code points.
 * @param {string} s
 * @param {number} len
 * @param {number} from
 * @param {number} to
 * @returns {string}
 */
export function cpSlice(s, len, from, to) {
  if (len === s.length) return s.slice(from, to);
  const a = cpToUtf16(s, len, from);
  const b = from === to ? a : a + cpToUtf16(s.slice(a), len - from, to - from);
  return s.slice(a, b);
}

/**
 * utf8Length returns the number of UTF-8 bytes of a well-formed string.
 * @param {string} s
 * @returns {number}
 */
export function utf8Length(s) {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2; // the pair is 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * compareUtf8 orders strings as their UTF-8 bytes (that is, by code points), the
 * order Go's sort.Strings gives; JavaScript's < compares UTF-16 units instead,
 * which puts astral characters before U+E000..U+FFFF.
 * @param {string} a
 * @param {string} b
 * @returns {number} negative, zero or positive
 */
export function compareUtf8(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
