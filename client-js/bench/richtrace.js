// @ts-check
// The generated rich-text editing session of the benchmarks, the same edits as
// Go's crdttest.RichTrace(seed, n) (crdttest/richtrace.go) so that both twins
// replay one trace: Go's math/rand/v2 PCG (128-bit LCG, DXSM output) and its
// IntN, then the same choices in the same order.

const M64 = (1n << 64n) - 1n;
const MUL_HI = 2549297995355413924n;
const MUL_LO = 4865540595714422341n;
const INC_HI = 6364136223846793005n;
const INC_LO = 1442695040888963407n;
const CHEAP_MUL = 0xda942042e4dd58b5n;

/** PCG is Go's rand.NewPCG(seed1, seed2) with rand.Rand's IntN. */
export class PCG {
  /**
   * @param {bigint} seed1
   * @param {bigint} seed2
   */
  constructor(seed1, seed2) {
    this.state = ((seed1 & M64) << 64n) | (seed2 & M64);
  }

  /** @returns {bigint} the next 64 random bits */
  uint64() {
    const mul = (MUL_HI << 64n) | MUL_LO;
    const inc = (INC_HI << 64n) | INC_LO;
    const s = (this.state * mul + inc) & ((1n << 128n) - 1n);
    this.state = s;
    let hi = s >> 64n;
    const lo = s & M64;
    hi ^= hi >> 32n;
    hi = (hi * CHEAP_MUL) & M64;
    hi ^= hi >> 48n;
    hi = (hi * (lo | 1n)) & M64;
    return hi;
  }

  /**
   * intN returns a uniform integer in [0, n), as Go's Rand.IntN on 64-bit systems.
   * @param {number} n
   * @returns {number}
   */
  intN(n) {
    const b = BigInt(n);
    if ((b & (b - 1n)) === 0n) return Number(this.uint64() & (b - 1n));
    let p = this.uint64() * b;
    let lo = p & M64;
    if (lo < b) {
      const thresh = ((1n << 64n) - b) % b;
      while (lo < thresh) {
        p = this.uint64() * b;
        lo = p & M64;
      }
    }
    return Number(p >> 64n);
  }
}

/**
 * RichOp is one edit of the trace: insert text, delete n, an embed (a block
 * marker), a mark (value null: removed) with its expand, or an attribute.
 * @typedef {{kind: 'insert', pos: number, text: string}
 *   | {kind: 'delete', pos: number, n: number}
 *   | {kind: 'embed', pos: number, value: string}
 *   | {kind: 'format', pos: number, n: number, name: string, value: string | null, expand: number}
 *   | {kind: 'attr', pos: number, name: string, value: string}} RichOp
 */

/**
 * richTrace generates n edits from seed, as crdttest.RichTrace does: mostly
 * typing at a cursor that moves mostly forward, backspaces, new paragraphs,
 * block types, bold, italic, links and comments over recent words, and
 * removals of marks. Values are JSON texts.
 * @param {number} seed
 * @param {number} n
 * @returns {RichOp[]}
 */
export function richTrace(seed, n) {
  const rng = new PCG(BigInt(seed), 16n);
  /** @type {RichOp[]} */
  const ops = [{ kind: 'embed', pos: 0, value: '{"block":"paragraph"}' }];
  let length = 1;
  let cur = 1;
  const blocks = [0];
  const letters = 'etaoinshrdlucmfwypvbgkjqxz      ,.';
  const kinds = ['"heading"', '"list_item"', '"paragraph"', '"blockquote"'];
  while (ops.length < n) {
    const p = rng.intN(1000);
    if (p < 820) {
      ops.push({ kind: 'insert', pos: cur, text: letters[rng.intN(letters.length)] });
      length++;
      cur++;
    } else if (p < 900) {
      if (cur > 1) {
        ops.push({ kind: 'delete', pos: cur - 1, n: 1 });
        length--;
        cur--;
      }
    } else if (p < 915) {
      ops.push({ kind: 'embed', pos: cur, value: '{"block":"paragraph"}' });
      blocks.push(cur);
      length++;
      cur++;
    } else if (p < 925) {
      const at = blocks[rng.intN(blocks.length)];
      if (at < length) ops.push({ kind: 'attr', pos: at, name: 'block', value: kinds[rng.intN(kinds.length)] });
    } else if (p < 985) {
      const k = Math.min(1 + rng.intN(12), cur);
      if (k === 0) continue;
      // The comment's letter is drawn while the list is built, before the mark is chosen.
      const comment = 'comment:' + String.fromCharCode(97 + rng.intN(26));
      const marks = [
        { name: 'bold', value: 'true', exp: 2 },
        { name: 'italic', value: 'true', exp: 2 },
        { name: 'link', value: '{"href":"https://example.com/x"}', exp: 0 },
        { name: comment, value: '{"by":"u"}', exp: 0 },
      ];
      const m = marks[rng.intN(marks.length)];
      const value = rng.intN(6) > 0 ? m.value : null;
      ops.push({ kind: 'format', pos: cur - k, n: k, name: m.name, value, expand: m.exp });
    } else {
      cur = 1 + rng.intN(length);
    }
  }
  return ops;
}

/**
 * applyRich applies op to the Doc's Text root name as a local edit, through
 * the Doc's JSON-text methods (the values as Go writes them). An attribute on a
 * position that holds no embed (a block marker since deleted) is skipped.
 * @param {import('../src/crdt/doc.js').Doc} doc
 * @param {string} name
 * @param {RichOp} op
 */
export function applyRich(doc, name, op) {
  switch (op.kind) {
    case 'insert':
      doc._insert(name, op.pos, op.text);
      break;
    case 'delete':
      doc._delete(name, op.pos, op.n);
      break;
    case 'embed':
      doc._insertEmbed(name, op.pos, op.value);
      break;
    case 'format':
      doc._format(name, op.pos, op.n, op.name, op.value, op.expand);
      break;
    case 'attr':
      try {
        doc._setAttr(name, op.pos, op.name, op.value);
      } catch (err) {
        if (/** @type {any} */ (err)?.kind !== 'embed') throw err;
      }
      break;
  }
}
