// @ts-check

/**
 * The kinds of CrdtError, mirroring the Go sentinels (crdt/errors.go):
 * - 'malformed': bytes that are not a valid update, snapshot, state vector or
 *   relative position (docs/crdt.md section 2; section 1.6 rule 4 lists what an update is
 *   refused for) (ErrMalformedUpdate);
 * - 'pending-overflow': the pending buffer would exceed maxPendingBytes (ErrPendingOverflow);
 * - 'range': a position or length outside the text (ErrOutOfRange);
 * - 'text': text that cannot be encoded as UTF-8, e.g. a lone surrogate (ErrInvalidText);
 * - 'json': a map value that is not valid JSON or is too big (ErrInvalidJSON);
 * - 'name': a root name or map key of the wrong length or not encodable (ErrInvalidName);
 * - 'client': a client ID outside [1, 2^53) (ErrInvalidClientID; the Doc
 *   constructor throws a RangeError instead, with this kind);
 * - 'clock': a local edit would make the clock reach 2^53 (ErrClockOverflow);
 * - 'unknown': a relative position whose item is not known (ErrUnknownPosition);
 * - 'embed': an attribute set on a position that holds no visible embed (ErrNotEmbed).
 * The kinds are the names scenario files print (crdttest.ErrorKind).
 * @typedef {'malformed'|'pending-overflow'|'range'|'text'|'json'|'name'|'client'|'clock'|'unknown'|'embed'} CrdtErrorKind
 */

/** CrdtError is the one error class the CRDT throws; test `err.kind`, never the message. */
export class CrdtError extends Error {
  /**
   * @param {CrdtErrorKind} kind
   * @param {string} message detail, without the "crdt: " prefix
   */
  constructor(kind, message) {
    super(`crdt: ${message}`);
    this.name = 'CrdtError';
    /** @type {CrdtErrorKind} */
    this.kind = kind;
  }
}

/**
 * malformed returns a CrdtError of kind 'malformed'.
 * @param {string} detail
 */
export function malformed(detail) {
  return new CrdtError('malformed', `malformed update: ${detail}`);
}
