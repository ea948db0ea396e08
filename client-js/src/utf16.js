// @ts-check
/**
 * Conversions between UTF-16 offsets (what browsers and editors use: `Offset16`) and code point
 * positions (what the CRDT counts: `Pos`). Every function has a fast path for strings without
 * surrogates, where the two are equal.
 */

const surrogateRe = /[\uD800-\uDFFF]/;

/**
 * hasSurrogates reports whether s holds any UTF-16 surrogate (and so any astral character).
 * @param {string} s
 */
export function hasSurrogates(s) {
  return surrogateRe.test(s);
}

/**
 * isHigh reports whether the UTF-16 unit c is a high (leading) surrogate.
 * @param {number} c
 */
function isHigh(c) {
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * isLow reports whether the UTF-16 unit c is a low (trailing) surrogate.
 * @param {number} c
 */
function isLow(c) {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * cpLength returns the number of code points in s (a lone surrogate counts as one).
 * @param {string} s
 */
export function cpLength(s) {
  if (!surrogateRe.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i++;
    n++;
  }
  return n;
}

/**
 * toPos converts a UTF-16 offset in s to a code point position. An offset that falls between the
 * two halves of a surrogate pair is rounded down to the start of the pair.
 * @param {string} s
 * @param {number} offset16
 */
export function toPos(s, offset16) {
  if (offset16 <= 0) return 0;
  if (offset16 > s.length) offset16 = s.length;
  let pos = 0;
  let i = 0;
  while (i < offset16) {
    const c = s.charCodeAt(i);
    if (isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
      if (i + 1 === offset16) return pos; // inside a pair: round down
      i += 2;
    } else {
      i++;
    }
    pos++;
  }
  return pos;
}

/**
 * toOffset16 converts a code point position in s to a UTF-16 offset (clamped to s's length).
 * @param {string} s
 * @param {number} pos
 */
export function toOffset16(s, pos) {
  if (pos <= 0) return 0;
  let i = 0;
  let n = 0;
  while (n < pos && i < s.length) {
    const c = s.charCodeAt(i);
    i += isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
    n++;
  }
  return i;
}

/**
 * PosMapper converts between offsets and positions in one string, with the fast path decided once.
 * Use it when converting several offsets of the same text.
 */
export class PosMapper {
  /** @param {string} s */
  constructor(s) {
    this.s = s;
    this.simple = !surrogateRe.test(s);
  }

  /** @param {number} offset16 */
  toPos(offset16) {
    if (this.simple) return Math.max(0, Math.min(offset16, this.s.length));
    return toPos(this.s, offset16);
  }

  /** @param {number} pos */
  toOffset16(pos) {
    if (this.simple) return Math.max(0, Math.min(pos, this.s.length));
    return toOffset16(this.s, pos);
  }
}

/**
 * diff16 finds the single edit that turns a into b, as UTF-16 offsets: the common prefix and
 * suffix are kept (never splitting a surrogate pair), the middle is replaced.
 * `cursor16` (optional) is the caret after the edit; it breaks ties when the change is ambiguous
 * (typing "a" into "aa" at the end rather than at the start).
 * @param {string} a
 * @param {string} b
 * @param {number} [cursor16]
 * @returns {{ offset16: number, delete16: number, insert: string }}
 */
export function diff16(a, b, cursor16) {
  const minLen = Math.min(a.length, b.length);
  let start = 0;
  const limit = cursor16 === undefined ? minLen : Math.min(minLen, Math.max(0, cursor16 - Math.max(0, b.length - a.length)));
  while (start < minLen && a.charCodeAt(start) === b.charCodeAt(start)) start++;
  if (cursor16 !== undefined && start > limit) start = limit;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a.charCodeAt(endA - 1) === b.charCodeAt(endB - 1)) {
    endA--;
    endB--;
  }
  // Do not split surrogate pairs: move the start back before a high surrogate whose low half
  // is in the changed part, and the ends forward past a low surrogate that completes a pair.
  if (start > 0 && isHigh(a.charCodeAt(start - 1)) && (isLow(a.charCodeAt(start)) || isLow(b.charCodeAt(start)))) start--;
  if (endA < a.length && isLow(a.charCodeAt(endA)) && endA > 0 && isHigh(a.charCodeAt(endA - 1))) {
    endA++;
    endB++;
  } else if (endB < b.length && isLow(b.charCodeAt(endB)) && endB > 0 && isHigh(b.charCodeAt(endB - 1))) {
    endA++;
    endB++;
  }
  return { offset16: start, delete16: endA - start, insert: b.slice(start, endB) };
}
