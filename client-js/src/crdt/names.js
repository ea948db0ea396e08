// @ts-check
// Limits of root names, map keys and map values (docs/crdt.md section 1).

import { isWellFormed, utf8Length } from './utf.js';

/** MAX_ROOT_NAME_BYTES: a root name is 1 to 255 bytes of UTF-8. */
export const MAX_ROOT_NAME_BYTES = 255;
/** MAX_KEY_BYTES: a map key is 0 to 1024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
/** MAX_VALUE_BYTES: a map value is at most 1 MiB of JSON. */
export const MAX_VALUE_BYTES = 1 << 20;
/** MAX_JSON_DEPTH: arrays and objects nest at most this deep (Go's json.Valid limit). */
export const MAX_JSON_DEPTH = 10000;

/**
 * checkName reports whether s is a valid root name.
 * @param {unknown} s
 * @returns {s is string}
 */
export function checkName(s) {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_ROOT_NAME_BYTES || !isWellFormed(s)) return false;
  return utf8Length(s) <= MAX_ROOT_NAME_BYTES;
}

/**
 * checkKey reports whether s is a valid map key.
 * @param {unknown} s
 * @returns {s is string}
 */
export function checkKey(s) {
  if (typeof s !== 'string' || s.length > MAX_KEY_BYTES || !isWellFormed(s)) return false;
  return utf8Length(s) <= MAX_KEY_BYTES;
}

/**
 * checkJSON reports whether s is one valid JSON text (RFC 8259) of at most
 * MAX_VALUE_BYTES bytes, nested at most MAX_JSON_DEPTH deep (JSON.parse has no
 * such limit; Go's json.Valid has, and the twins must agree).
 * @param {unknown} s
 * @returns {s is string}
 */
export function checkJSON(s) {
  if (typeof s !== 'string' || s.length > MAX_VALUE_BYTES || !isWellFormed(s)) return false;
  if (utf8Length(s) > MAX_VALUE_BYTES) return false;
  if (s.length > MAX_JSON_DEPTH && jsonDepth(s) > MAX_JSON_DEPTH) return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * jsonDepth returns the deepest nesting of arrays and objects in s (strings
 * skipped), for text that may not be valid JSON.
 * @param {string} s
 * @returns {number}
 */
function jsonDepth(s) {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}
