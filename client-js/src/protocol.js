// @ts-check
// The tandem wire protocol (docs/protocol.md): message types, frame encoding and decoding, close
// codes and the protocol version. The twin of the Go package protocol/: both check themselves
// against testdata/protocol/frames.json, and a byte that differs between them is a bug.
//
// A frame is a type byte, a varint channel (0 on /v1/docs/{id}/ws), then the type's payload.
// Messages are plain objects `{type, channel, ...fields}`; CRDT updates, state vectors and
// awareness states are opaque Uint8Arrays. Awareness and broadcast are laid out differently in the
// two directions (the server stamps them with the sender's client ID), so encodeFrame and
// decodeFrame take the direction the frame travels: FROM_CLIENT or FROM_SERVER.
//
// Decoded byte fields are views of the input, not copies: do not modify the input while holding
// the message. Decoding throws a DecodeError whose `kind` is the name of the Go sentinel error
// ('truncated', 'unknown-type'...), and never anything else on any input.

import { Encoder, Decoder, DecodeError, MAX_VARUINT } from './varint.js';

export { DecodeError, MAX_VARUINT };

/** PROTOCOL_VERSION is the version this module speaks, the first field of every hello. */
export const PROTOCOL_VERSION = 1;

/** @typedef {'client'|'server'} Direction who sent a frame */

/** FROM_CLIENT: a frame a client sends (hello, update, awareness, broadcast, ping, pong). */
export const FROM_CLIENT = 'client';
/** FROM_SERVER: a frame the server sends (sync, update, ack, awareness, error, broadcast, ping, pong). */
export const FROM_SERVER = 'server';

/** MessageType holds the type bytes. */
export const MessageType = Object.freeze({
  HELLO: /** @type {1} */ (0x01),
  SYNC: /** @type {2} */ (0x02),
  UPDATE: /** @type {3} */ (0x03),
  ACK: /** @type {4} */ (0x04),
  AWARENESS: /** @type {5} */ (0x05),
  ERROR: /** @type {6} */ (0x06),
  BROADCAST: /** @type {7} */ (0x07),
  PING: /** @type {8} */ (0x08),
  PONG: /** @type {9} */ (0x09),
  AUTH: /** @type {10} */ (0x0a),
});

/** FLAG_READ_ONLY is the hello flag by which a client says it will send no updates. */
export const FLAG_READ_ONLY = 1;

/**
 * @typedef {object} Hello the client's first message: version, client ID, state vector, flags
 * @property {1} type
 * @property {number} [channel] 0 unless multiplexing
 * @property {number} version PROTOCOL_VERSION
 * @property {number} clientId in [1, 2^53)
 * @property {Uint8Array} stateVector the client's state vector (docs/crdt.md)
 * @property {number} flags FLAG_READ_ONLY or 0
 */
/**
 * @typedef {object} Sync the server's answer to hello
 * @property {2} type
 * @property {number} [channel]
 * @property {Uint8Array} update what the client lacks (a CRDT update or snapshot)
 * @property {Uint8Array} stateVector the server's state vector
 */
/**
 * @typedef {object} Update a CRDT update, either way
 * @property {3} type
 * @property {number} [channel]
 * @property {Uint8Array} data
 */
/**
 * @typedef {object} Ack how many of this connection's updates are durable (cumulative, from 1)
 * @property {4} type
 * @property {number} [channel]
 * @property {number} seq
 */
/**
 * @typedef {object} Awareness the client's own awareness state (client -> server)
 * @property {5} type
 * @property {number} [channel]
 * @property {number} clock increases with every change
 * @property {Uint8Array} state UTF-8 JSON; empty clears the client's presence
 */
/**
 * @typedef {object} AwarenessEntry one client's awareness state, stamped by the server
 * @property {number} clientId
 * @property {number} clock
 * @property {Uint8Array} state empty: the client left
 */
/**
 * @typedef {object} PeerAwareness other clients' awareness states (server -> client)
 * @property {5} type
 * @property {number} [channel]
 * @property {AwarenessEntry[]} entries
 */
/**
 * @typedef {object} ErrorMessage a close code and a reason, sent before the server closes
 * @property {6} type
 * @property {number} [channel]
 * @property {number} code a close code (CloseCode)
 * @property {string} message
 */
/**
 * @typedef {object} Broadcast an application message for the other editors (client -> server)
 * @property {7} type
 * @property {number} [channel]
 * @property {Uint8Array} payload
 */
/**
 * @typedef {object} PeerBroadcast a relayed broadcast with its sender (server -> client)
 * @property {7} type
 * @property {number} [channel]
 * @property {number} clientId the sender
 * @property {Uint8Array} payload
 */
/**
 * @typedef {object} Ping asks for a pong with the same nonce
 * @property {8} type
 * @property {number} [channel]
 * @property {number} nonce
 */
/**
 * @typedef {object} Pong answers a ping
 * @property {9} type
 * @property {number} [channel]
 * @property {number} nonce
 */
/**
 * @typedef {object} Auth a new token for the open connection (client -> server)
 * @property {10} type
 * @property {number} [channel]
 * @property {string} token
 */
/**
 * @typedef {Hello|Sync|Update|Ack|Awareness|PeerAwareness|ErrorMessage|Broadcast|PeerBroadcast|Ping|Pong|Auth} Message
 */

const typeNames = ['', 'hello', 'sync', 'update', 'ack', 'awareness', 'error', 'broadcast', 'ping', 'pong'];

/**
 * typeName returns a type's name ('hello'...), or 'type(0x0a)' for an unknown type.
 * @param {number} type
 * @returns {string}
 */
export function typeName(type) {
  if (type >= 1 && type <= 9) return typeNames[type];
  return `type(0x${type.toString(16).padStart(2, '0')})`;
}

/**
 * allows reports whether a frame of the given type may travel in the given direction.
 * @param {string} from
 * @param {number} type
 */
function allows(from, type) {
  switch (type) {
    case MessageType.UPDATE:
    case MessageType.AWARENESS:
    case MessageType.BROADCAST:
    case MessageType.PING:
    case MessageType.PONG:
      return from === FROM_CLIENT || from === FROM_SERVER;
    case MessageType.HELLO:
    case MessageType.AUTH:
      return from === FROM_CLIENT;
    case MessageType.SYNC:
    case MessageType.ACK:
    case MessageType.ERROR:
      return from === FROM_SERVER;
  }
  return false;
}

/** CloseCode holds the close codes; docs/protocol.md says when each is used. */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  BAD_MESSAGE: 4400,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  DOCUMENT_DELETED: 4404,
  UNSUPPORTED_VERSION: 4409,
  DOCUMENT_TOO_LARGE: 4413,
  INVALID_UPDATE: 4422,
  RATE_LIMITED: 4429,
});

/** @type {ReadonlyMap<number, string>} */
const closeCodeNames = new Map([
  [1000, 'normal'],
  [1001, 'going away'],
  [1002, 'protocol error'],
  [1003, 'unsupported data'],
  [1008, 'policy violation'],
  [1009, 'message too big'],
  [1011, 'internal error'],
  [1013, 'try again later'],
  [4400, 'bad message'],
  [4401, 'unauthorized'],
  [4403, 'forbidden'],
  [4404, 'document deleted'],
  [4409, 'unsupported version'],
  [4413, 'document too large'],
  [4422, 'invalid update'],
  [4429, 'rate limited'],
]);

/**
 * closeCodeName returns a close code's name in lowercase words ('forbidden'), or '' for a code
 * this module does not name.
 * @param {number} code
 * @returns {string}
 */
export function closeCodeName(code) {
  return closeCodeNames.get(code) ?? '';
}

/**
 * isTerminal reports whether a client must not reconnect on its own after a close with this code
 * (4401, 4403, 4404, 4409, 4413): the server would refuse again until a person acts. After any
 * other code, unknown codes included, a client may reconnect with backoff.
 * @param {number} code
 * @returns {boolean}
 */
export function isTerminal(code) {
  return (
    code === CloseCode.UNAUTHORIZED ||
    code === CloseCode.FORBIDDEN ||
    code === CloseCode.DOCUMENT_DELETED ||
    code === CloseCode.UNSUPPORTED_VERSION ||
    code === CloseCode.DOCUMENT_TOO_LARGE
  );
}

/**
 * sizeHint returns an upper bound on a frame's length when its strings are ASCII, so that most
 * frames are written into one buffer with no copy.
 * @param {Message} msg
 * @returns {number}
 */
function sizeHint(msg) {
  let n = 32;
  switch (msg.type) {
    case MessageType.HELLO:
      return n + msg.stateVector.length;
    case MessageType.SYNC:
      return n + msg.update.length + msg.stateVector.length;
    case MessageType.UPDATE:
      return n + msg.data.length;
    case MessageType.AWARENESS:
      if ('entries' in msg) {
        for (const e of msg.entries) n += 24 + e.state.length;
        return n;
      }
      return n + msg.state.length;
    case MessageType.ERROR:
      return n + msg.message.length;
    case MessageType.AUTH:
      return n + msg.token.length;
    case MessageType.BROADCAST:
      return n + msg.payload.length;
  }
  return n;
}

/**
 * encodeFrame returns the frame holding msg, sent in the direction `from`. It throws a RangeError
 * or TypeError on a message that cannot be encoded (a type not sent in that direction, a number
 * that is not an integer in [0, 2^53), a field of the wrong type); like the Go encoder, it does not
 * check the values that only the peer's decoder refuses (a client ID of 0, reserved flags).
 * The result is a view of a buffer no other frame shares.
 * @param {Message} msg
 * @param {Direction} from
 * @returns {Uint8Array}
 */
export function encodeFrame(msg, from) {
  if (!allows(from, msg.type)) {
    throw new RangeError(`protocol: ${typeName(msg.type)} is not sent from the ${from}`);
  }
  const e = new Encoder(sizeHint(msg));
  e.writeUint8(msg.type);
  e.writeVarUint(msg.channel ?? 0);
  switch (msg.type) {
    case MessageType.HELLO:
      e.writeVarUint(msg.version);
      e.writeVarUint(msg.clientId);
      e.writeBytes(msg.stateVector);
      e.writeVarUint(msg.flags);
      break;
    case MessageType.SYNC:
      e.writeBytes(msg.update);
      e.writeBytes(msg.stateVector);
      break;
    case MessageType.UPDATE:
      e.writeBytes(msg.data);
      break;
    case MessageType.ACK:
      e.writeVarUint(msg.seq);
      break;
    case MessageType.AWARENESS:
      if (from === FROM_CLIENT) {
        const m = /** @type {Awareness} */ (msg);
        e.writeVarUint(m.clock);
        e.writeBytes(m.state);
      } else {
        const m = /** @type {PeerAwareness} */ (msg);
        e.writeVarUint(m.entries.length);
        for (const entry of m.entries) {
          e.writeVarUint(entry.clientId);
          e.writeVarUint(entry.clock);
          e.writeBytes(entry.state);
        }
      }
      break;
    case MessageType.ERROR:
      e.writeVarUint(msg.code);
      e.writeString(msg.message);
      break;
    case MessageType.BROADCAST:
      if (from === FROM_CLIENT) {
        e.writeBytes(/** @type {Broadcast} */ (msg).payload);
      } else {
        const m = /** @type {PeerBroadcast} */ (msg);
        e.writeVarUint(m.clientId);
        e.writeBytes(m.payload);
      }
      break;
    case MessageType.PING:
    case MessageType.PONG:
      e.writeVarUint(msg.nonce);
      break;
    case MessageType.AUTH:
      e.writeString(msg.token);
      break;
  }
  return e.finish();
}

/** The shortest awareness entry: one byte each for the client ID, the clock and the empty state's length. */
const MIN_AWARENESS_ENTRY_BYTES = 3;

/**
 * readClientId reads a client ID, which must not be 0.
 * @param {Decoder} d
 * @param {string} label
 */
function readClientId(d, label) {
  const id = d.readVarUint(label);
  if (id === 0) throw new DecodeError('invalid-client-id', `invalid client id: ${label} 0`);
  return id;
}

/**
 * decodePayload reads the payload of a frame whose type and direction have been checked, field by
 * field in the order of docs/protocol.md, validating each as soon as it is read (so that the
 * first fault in the bytes is the one reported, as in Go).
 * @param {Decoder} d
 * @param {number} type
 * @param {number} channel
 * @param {string} from
 * @returns {Message}
 */
function decodePayload(d, type, channel, from) {
  switch (type) {
    case MessageType.HELLO: {
      const version = d.readVarUint('hello version');
      if (version === 0) throw new DecodeError('invalid-version', 'invalid protocol version: hello version 0');
      if (version !== PROTOCOL_VERSION) {
        // Another version may lay the rest out differently: it is not read.
        throw new DecodeError('unsupported-version', `unsupported protocol version: hello version ${version} (this peer speaks ${PROTOCOL_VERSION})`);
      }
      const clientId = readClientId(d, 'hello client id');
      const stateVector = d.readBytes('hello state vector');
      const flags = d.readVarUint('hello flags');
      if (flags > FLAG_READ_ONLY) throw new DecodeError('reserved-flags', `reserved flags set: hello flags 0x${flags.toString(16)}`);
      return { type: MessageType.HELLO, channel, version, clientId, stateVector, flags };
    }
    case MessageType.SYNC: {
      const update = d.readBytes('sync update');
      const stateVector = d.readBytes('sync state vector');
      return { type: MessageType.SYNC, channel, update, stateVector };
    }
    case MessageType.UPDATE:
      return { type: MessageType.UPDATE, channel, data: d.readBytes('update data') };
    case MessageType.ACK:
      return { type: MessageType.ACK, channel, seq: d.readVarUint('ack seq') };
    case MessageType.AWARENESS: {
      if (from === FROM_CLIENT) {
        const clock = d.readVarUint('awareness clock');
        const state = d.readBytes('awareness state');
        return { type: MessageType.AWARENESS, channel, clock, state };
      }
      const n = d.readVarUint('awareness count');
      if (n > Math.floor(d.remaining / MIN_AWARENESS_ENTRY_BYTES)) {
        throw new DecodeError('truncated', `truncated: awareness count ${n}, ${d.remaining} bytes left`);
      }
      /** @type {AwarenessEntry[]} */
      const entries = new Array(n);
      for (let i = 0; i < n; i++) {
        const clientId = readClientId(d, 'awareness client id');
        const clock = d.readVarUint('awareness clock');
        const state = d.readBytes('awareness state');
        entries[i] = { clientId, clock, state };
      }
      return { type: MessageType.AWARENESS, channel, entries };
    }
    case MessageType.ERROR: {
      const code = d.readVarUint('error code');
      if (code < 1000 || code > 4999) throw new DecodeError('invalid-close-code', `invalid close code: error code ${code}`);
      const message = d.readString('error message');
      return { type: MessageType.ERROR, channel, code, message };
    }
    case MessageType.BROADCAST: {
      if (from === FROM_CLIENT) {
        return { type: MessageType.BROADCAST, channel, payload: d.readBytes('broadcast payload') };
      }
      const clientId = readClientId(d, 'broadcast client id');
      const payload = d.readBytes('broadcast payload');
      return { type: MessageType.BROADCAST, channel, clientId, payload };
    }
    case MessageType.PING:
      return { type: MessageType.PING, channel, nonce: d.readVarUint('ping nonce') };
    default:
      return { type: MessageType.PONG, channel, nonce: d.readVarUint('pong nonce') };
  }
}

/**
 * decodeFrame decodes one frame sent in the direction `from`. It throws a DecodeError on
 * malformed bytes; a hello of another protocol version throws kind 'unsupported-version' without
 * the rest of it being read.
 * @param {Uint8Array} bytes
 * @param {Direction} from
 * @returns {Message}
 */
export function decodeFrame(bytes, from) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('protocol: decodeFrame wants a Uint8Array');
  if (bytes.length === 0) throw new DecodeError('truncated', 'protocol: truncated: empty frame');
  const type = bytes[0];
  if (type < MessageType.HELLO || type > MessageType.PONG) {
    throw new DecodeError('unknown-type', `protocol: unknown message type: ${typeName(type)}`);
  }
  if (!allows(from, type)) {
    throw new DecodeError('unexpected-type', `protocol: unexpected message type: ${typeName(type)} from ${from}`);
  }
  const d = new Decoder(bytes);
  d.pos = 1;
  try {
    const channel = d.readVarUint('channel');
    const msg = decodePayload(d, type, channel, from);
    if (d.hasMore()) throw new DecodeError('trailing-bytes', `trailing bytes: ${d.remaining} after ${typeName(type)}`);
    return msg;
  } catch (err) {
    // The message gains its prefix here, once, rather than at every read.
    if (err instanceof DecodeError) err.message = `protocol: ${err.message}`;
    throw err;
  }
}
