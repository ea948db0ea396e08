// @ts-check
// Limits of root names, map keys and map values (docs/crdt.md section 1).

import { isWellFormed, utf8Length } from './utf.js';

/** MAX_ROOT_NAME_BYTES: a root name is 1 to 255 bytes of UTF-8. */
export const MAX_ROOT_NAME_BYTES = 255;
/** MAX_KEY_BYTES: a map key is 0 to 1024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
/** MAX_VALUE_BYTES: a map value is at most 1 MiB of JSON. */
export const MAX_VALUE_BYTES = 1 << 20;

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
 * MAX_VALUE_BYTES bytes.
 * @param {unknown} s
 * @returns {s is string}
 */
export function checkJSON(s) {
  if (typeof s !== 'string' || s.length > MAX_VALUE_BYTES || !isWellFormed(s)) return false;
  if (utf8Length(s) > MAX_VALUE_BYTES) return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
