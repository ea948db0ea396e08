// @ts-check
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Encoder, Decoder, DecodeError, MAX_VARUINT, utf8Length, varUintLength } from './varint.js';

/** @type {{varints: {value: number, hex: string}[], badVarints: {name: string, hex: string, error: string}[]}} */
const golden = JSON.parse(readFileSync(new URL('../../testdata/protocol/frames.json', import.meta.url), 'utf8'));

/** @param {string} h */
const fromHex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
/** @param {Uint8Array} b */
const toHex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

test('varints match Go binary.AppendUvarint (frames.json)', () => {
  for (const { value, hex } of golden.varints) {
    const e = new Encoder(1);
    e.writeVarUint(value);
    assert.equal(toHex(e.finish()), hex, `writeVarUint(${value})`);
    assert.equal(varUintLength(value), hex.length / 2, `varUintLength(${value})`);
    const d = new Decoder(fromHex(hex + 'ee'));
    assert.equal(d.readVarUint(), value, `readVarUint(${hex})`);
    assert.equal(d.pos, hex.length / 2, `readVarUint(${hex}) length`);
  }
});

test('bad varints throw the same kinds as Go (frames.json)', () => {
  for (const { name, hex, error } of golden.badVarints) {
    assert.throws(
      () => new Decoder(fromHex(hex)).readVarUint(),
      (/** @type {any} */ err) => err instanceof DecodeError && err.kind === error,
      name,
    );
  }
});

test('varints around every power of two up to 2^53', () => {
  for (let shift = 0; shift <= 53; shift++) {
    for (const v of [2 ** shift - 1, 2 ** shift, 2 ** shift + 1]) {
      if (v > MAX_VARUINT) {
        assert.throws(() => new Encoder().writeVarUint(v), RangeError, `writeVarUint(${v})`);
        continue;
      }
      const e = new Encoder();
      e.writeVarUint(v);
      const b = e.finish();
      assert.equal(b.length, varUintLength(v), `length of ${v}`);
      assert.equal(new Decoder(b).readVarUint(), v, `round trip ${v}`);
    }
  }
});

test('writeVarUint refuses what a decoder would', () => {
  for (const v of [-1, 0.5, NaN, Infinity, 2 ** 53, /** @type {any} */ ('1')]) {
    assert.throws(() => new Encoder().writeVarUint(v), RangeError, `writeVarUint(${v})`);
  }
});

test('zigzag varints', () => {
  const cases = [[0, '00'], [-1, '01'], [1, '02'], [-2, '03'], [63, '7e'], [-64, '7f'], [64, '8001'], [2 ** 52 - 1, 'feffffffffffff0f'], [-(2 ** 52 - 1), 'fdffffffffffff0f']];
  for (const [v, hex] of /** @type {[number, string][]} */ (cases)) {
    const e = new Encoder();
    e.writeVarInt(v);
    assert.equal(toHex(e.finish()), hex, `writeVarInt(${v})`);
    assert.equal(new Decoder(fromHex(hex)).readVarInt(), v, `readVarInt(${hex})`);
  }
  assert.throws(() => new Encoder().writeVarInt(2 ** 52), RangeError);
});

test('bytes and strings', () => {
  const e = new Encoder(8);
  const long = new Uint8Array(300).fill(7);
  e.writeBytes(new Uint8Array([1, 2, 3]));
  e.writeBytes(new Uint8Array());
  e.writeBytes(long);
  e.writeString('');
  e.writeString('héllo');
  e.writeString('\ufeffbom');
  e.writeString('a🙂b');
  e.writeUint8(0xff);
  e.writeRaw(new Uint8Array([9, 9]));
  const b = e.finish();
  assert.equal(e.length, b.length);

  const d = new Decoder(b);
  assert.deepEqual([...d.readBytes()], [1, 2, 3]);
  assert.equal(d.readBytes().length, 0);
  assert.deepEqual(d.readBytes(), long);
  assert.equal(d.readString(), '');
  assert.equal(d.readString(), 'héllo');
  assert.equal(d.readString(), '\ufeffbom', 'a byte order mark is content');
  assert.equal(d.readString(), 'a🙂b');
  assert.equal(d.readUint8(), 0xff);
  assert.deepEqual([...d.readRaw(2)], [9, 9]);
  assert.equal(d.hasMore(), false);
  assert.equal(d.remaining, 0);
  assert.throws(() => d.readUint8(), (/** @type {any} */ e) => e.kind === 'truncated');
});

test('readBytes returns a view and checks the length first', () => {
  const input = fromHex('03aabbcc');
  const got = new Decoder(input).readBytes();
  assert.equal(got.buffer, input.buffer);
  assert.equal(got.byteOffset, 1);
  for (const hex of ['04aabbcc', 'ffffffffffffff0f', '']) {
    assert.throws(() => new Decoder(fromHex(hex)).readBytes(), (/** @type {any} */ e) => e.kind === 'truncated', hex);
  }
});

test('readString refuses invalid UTF-8 as Go utf8.Valid does', () => {
  for (const hex of ['01ff', '02c080', '03eda080', '02e282', '0180', '04f4908080']) {
    assert.throws(() => new Decoder(fromHex(hex)).readString(), (/** @type {any} */ e) => e.kind === 'invalid-utf8', hex);
  }
});

test('utf8Length matches TextEncoder and flags lone surrogates', () => {
  for (const s of ['', 'abc', 'é', '€', '🙂', 'a🙂é€z', '\u07ff\u0800\uffff']) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
  for (const s of ['\ud800', 'a\udc00', '\ud800a', '\ud83d\ud83d']) {
    assert.equal(utf8Length(s), -1, JSON.stringify(s));
    assert.throws(() => new Encoder().writeString(s), RangeError);
  }
});

test('finish is a view that later writes leave alone', () => {
  const e = new Encoder(8);
  e.writeString('abc');
  const first = e.finish();
  for (let i = 0; i < 100; i++) e.writeVarUint(MAX_VARUINT);
  assert.equal(toHex(first), '03616263');
  assert.equal(e.finish().length, 4 + 800);
});
