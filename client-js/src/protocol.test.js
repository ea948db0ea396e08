// @ts-check
// Checks protocol.js against testdata/protocol/frames.json, the golden vectors that the Go
// package protocol checks too, and adds what only a test can (every truncation, random bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  encodeFrame, decodeFrame, DecodeError, MessageType, CloseCode, closeCodeName, isTerminal,
  typeName, FROM_CLIENT, FROM_SERVER, PROTOCOL_VERSION, FLAG_READ_ONLY,
} from './protocol.js';

/**
 * @typedef {object} GoldenFrame
 * @property {string} name
 * @property {'client'|'server'} from
 * @property {string} type
 * @property {number} channel
 * @property {Record<string, any>} fields
 * @property {string} hex
 */
/** @typedef {{name: string, from: 'client'|'server', hex: string, error: string}} GoldenBad */
/** @type {{version: number, closeCodes: {code: number, name: string, terminal: boolean}[], frames: GoldenFrame[], badFrames: GoldenBad[]}} */
const golden = JSON.parse(readFileSync(new URL('../../testdata/protocol/frames.json', import.meta.url), 'utf8'));

/** @param {string} h */
const fromHex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
/** @param {Uint8Array} b */
const toHex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

// The fields that hold bytes; frames.json writes them as hex.
const byteFields = new Set(['stateVector', 'update', 'data', 'state', 'payload']);

/**
 * fromGolden turns frames.json fields into message fields (hex strings into Uint8Arrays).
 * @param {any} v
 * @param {string} [key]
 * @returns {any}
 */
function fromGolden(v, key = '') {
  if (typeof v === 'string' && byteFields.has(key)) return fromHex(v);
  if (Array.isArray(v)) return v.map((x) => fromGolden(x));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromGolden(x, k)]));
  }
  return v;
}

/**
 * toGolden turns a decoded message back into the frames.json form (Uint8Arrays into hex).
 * @param {any} v
 * @returns {any}
 */
function toGolden(v) {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(toGolden);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toGolden(x)]));
  }
  return v;
}

/**
 * goldenMessage builds the message that a frames.json entry describes.
 * @param {GoldenFrame} f
 * @returns {import('./protocol.js').Message}
 */
function goldenMessage(f) {
  const type = MessageType[/** @type {keyof typeof MessageType} */ (f.type.toUpperCase())];
  assert.ok(type, `${f.name}: unknown type ${f.type}`);
  return { type, channel: f.channel, ...fromGolden(f.fields) };
}

test('golden file version', () => {
  assert.equal(golden.version, PROTOCOL_VERSION);
});

test('golden frames encode to their bytes', () => {
  for (const f of golden.frames) {
    assert.equal(toHex(encodeFrame(goldenMessage(f), f.from)), f.hex, f.name);
  }
});

test('golden frames decode to their fields', () => {
  for (const f of golden.frames) {
    const got = toGolden(decodeFrame(fromHex(f.hex), f.from));
    const { type, channel, ...fields } = got;
    assert.equal(typeName(type), f.type, `${f.name}: type`);
    assert.equal(channel, f.channel, `${f.name}: channel`);
    assert.deepEqual(fields, f.fields, f.name);
  }
});

test('bad frames throw the same error kinds as Go', () => {
  for (const f of golden.badFrames) {
    assert.throws(
      () => decodeFrame(fromHex(f.hex), f.from),
      (/** @type {any} */ err) => {
        assert.ok(err instanceof DecodeError, `${f.name}: ${err} is not a DecodeError`);
        assert.equal(err.kind, f.error, `${f.name}: ${err.message}`);
        assert.match(err.message, /^protocol: /, f.name);
        return true;
      },
      f.name,
    );
  }
});

test('close codes: constants, names and terminal codes match frames.json', () => {
  /** @type {Set<number>} */
  const constants = new Set(Object.values(CloseCode));
  assert.equal(constants.size, golden.closeCodes.length);
  for (const c of golden.closeCodes) {
    assert.ok(constants.has(c.code), `CloseCode lacks ${c.code}`);
    assert.equal(closeCodeName(c.code), c.name, `closeCodeName(${c.code})`);
    assert.equal(isTerminal(c.code), c.terminal, `isTerminal(${c.code})`);
  }
  for (const code of [0, 1004, 1005, 4000, 4402, 4999]) {
    assert.equal(closeCodeName(code), '', `closeCodeName(${code})`);
    assert.equal(isTerminal(code), false, `isTerminal(${code})`);
  }
});

test('every truncation of a golden frame is refused', () => {
  for (const f of golden.frames) {
    const b = fromHex(f.hex);
    for (let n = 0; n < b.length; n++) {
      assert.throws(() => decodeFrame(b.subarray(0, n), f.from), DecodeError, `${f.name} cut at ${n}`);
    }
  }
});

test('decoded byte fields are views of the input', () => {
  const b = fromHex('020002aabb02ccdd');
  const m = /** @type {import('./protocol.js').Sync} */ (decodeFrame(b, FROM_SERVER));
  assert.equal(m.update.buffer, b.buffer);
  assert.equal(m.update.byteOffset, 3);
  assert.equal(toHex(m.stateVector), 'ccdd');
});

test('encodeFrame refuses what it cannot encode', () => {
  const cases = [
    { name: 'sync from client', msg: { type: MessageType.SYNC, update: new Uint8Array(), stateVector: new Uint8Array() }, from: FROM_CLIENT, err: RangeError },
    { name: 'hello from server', msg: { type: MessageType.HELLO, version: 1, clientId: 1, stateVector: new Uint8Array(), flags: 0 }, from: FROM_SERVER, err: RangeError },
    { name: 'unknown type', msg: { type: 0x0b }, from: FROM_CLIENT, err: RangeError },
    { name: 'unknown direction', msg: { type: MessageType.PING, nonce: 1 }, from: 'peer', err: RangeError },
    { name: 'nonce 2^53', msg: { type: MessageType.PING, nonce: 2 ** 53 }, from: FROM_CLIENT, err: RangeError },
    { name: 'negative seq', msg: { type: MessageType.ACK, seq: -1 }, from: FROM_SERVER, err: RangeError },
    { name: 'fractional clock', msg: { type: MessageType.AWARENESS, clock: 1.5, state: new Uint8Array() }, from: FROM_CLIENT, err: RangeError },
    { name: 'string data', msg: { type: MessageType.UPDATE, data: 'abc' }, from: FROM_CLIENT, err: TypeError },
    { name: 'channel 2^53', msg: { type: MessageType.UPDATE, channel: 2 ** 53, data: new Uint8Array() }, from: FROM_CLIENT, err: RangeError },
    { name: 'lone surrogate', msg: { type: MessageType.ERROR, code: 4400, message: 'a\ud800' }, from: FROM_SERVER, err: RangeError },
  ];
  for (const c of cases) {
    assert.throws(() => encodeFrame(/** @type {any} */ (c.msg), /** @type {any} */ (c.from)), c.err, c.name);
  }
});

test('decodeFrame refuses a non-Uint8Array and an unknown direction', () => {
  assert.throws(() => decodeFrame(/** @type {any} */ ([3, 0, 0]), FROM_CLIENT), TypeError);
  assert.throws(() => decodeFrame(fromHex('080001'), /** @type {any} */ ('peer')), (/** @type {any} */ e) => e.kind === 'unexpected-type');
});

test('round trips: defaults, large values, long payloads', () => {
  const big = new Uint8Array(70000).map((_, i) => i & 0xff);
  /** @type {[import('./protocol.js').Message, 'client'|'server'][]} */
  const cases = [
    [{ type: MessageType.HELLO, version: 1, clientId: 2 ** 53 - 1, stateVector: big, flags: FLAG_READ_ONLY }, FROM_CLIENT],
    [{ type: MessageType.UPDATE, data: big }, FROM_SERVER],
    [{ type: MessageType.ERROR, code: 4429, message: 'ünïcödé 🙂 '.repeat(100) }, FROM_SERVER],
    [{ type: MessageType.AWARENESS, entries: [{ clientId: 1, clock: 2 ** 40, state: big.subarray(0, 300) }] }, FROM_SERVER],
  ];
  for (const [msg, from] of cases) {
    const b = encodeFrame(msg, from);
    const got = decodeFrame(b, from);
    assert.deepEqual(toGolden(got), toGolden({ channel: 0, ...msg }), typeName(msg.type));
    assert.deepEqual(encodeFrame(got, from), b, typeName(msg.type));
  }
});

test('random bytes: decodeFrame throws only DecodeError, and what decodes re-encodes identically', () => {
  // xorshift32, so that a failure repeats; the seed is in the message.
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const frames = golden.frames.map((f) => fromHex(f.hex));
  for (let i = 0; i < 5000; i++) {
    // Mutate a golden frame (flip, insert or delete a byte) or make random bytes.
    let b;
    const base = frames[next() % frames.length];
    switch (next() % 4) {
      case 0: b = Uint8Array.from({ length: next() % 12 }, () => next() & 0xff); break;
      case 1: b = base.slice(); if (b.length) b[next() % b.length] ^= 1 << (next() % 8); break;
      case 2: { const p = next() % (base.length + 1); b = new Uint8Array([...base.subarray(0, p), next() & 0xff, ...base.subarray(p)]); break; }
      default: { const p = next() % base.length; b = new Uint8Array([...base.subarray(0, p), ...base.subarray(p + 1)]); }
    }
    for (const from of /** @type {const} */ ([FROM_CLIENT, FROM_SERVER])) {
      let m;
      try {
        m = decodeFrame(b, from);
      } catch (err) {
        if (!(err instanceof DecodeError)) assert.fail(`iteration ${i}: ${toHex(b)} from ${from}: ${err}`);
        continue;
      }
      const again = encodeFrame(m, from);
      if (toHex(again) !== toHex(b)) assert.fail(`iteration ${i}: ${toHex(b)} from ${from} re-encodes to ${toHex(again)}`);
    }
  }
});
