// @ts-check
// The scenario runner: the JavaScript twin of Go's crdttest runner, for the
// plain-text scenario files of testdata/crdt/scenarios (format in
// testdata/crdt/README.md). Both runners print the same output lines for the
// same file; a line that differs is a bug in one twin. Test harness only: the
// CRDT itself never imports it.

import { Doc } from './doc.js';
import { encodeStateVector } from './statevector.js';
import { encodeRelPos, decodeRelPos } from './relpos.js';
import { hex, unhex } from './encoding.js';
import { compareUtf8 } from './utf.js';

/** SEPARATOR is the line between a scenario's commands and its expected output. */
export const SEPARATOR = '----';

const ARITY = /** @type {Record<string, [number, number]>} */ ({
  replica: [2, 3], insert: [4, 4], delete: [4, 4], set: [3, 3], unset: [3, 3],
  update: [1, 1], deliver: [1, 3], drop: [1, 1], sync: [2, 2], text: [2, 2], map: [2, 2],
  snapshot: [1, 1], sv: [1, 1], encode: [2, 2], load: [3, 3], apply: [2, 2],
  relpos: [4, 4], resolve: [2, 2], pending: [1, 1],
  embed: [3, 3], format: [6, 6], unformat: [6, 6], attr: [4, 4], spans: [2, 2],
});

/** MAX_TOKENS: commands that end with a JSON value, and how many tokens come before it. */
const MAX_TOKENS = /** @type {Record<string, number>} */ ({ set: 4, embed: 4, attr: 5, format: 7 });

/** EXPANDS names the expand values of format commands (docs/crdt.md 4.2). */
const EXPANDS = /** @type {Record<string, number>} */ ({ none: 0, before: 1, after: 2, both: 3 });

/**
 * @typedef {{raw: string, val: string}} Token
 * @typedef {{line: number, text: string, name: string, args: Token[], rest: string}} Command
 * @typedef {{commands: Command[], expected: string[], hasExpected: boolean}} Scenario
 */

/**
 * tokenize splits a line into at most max tokens (max < 0: no limit) and
 * returns them with the rest of the line, trimmed. A token that starts with '"'
 * is a JSON string literal.
 * @param {string} line
 * @param {number} max
 * @returns {{toks: Token[], rest: string}}
 */
function tokenize(line, max) {
  /** @type {Token[]} */
  const toks = [];
  let s = line;
  for (;;) {
    s = s.replace(/^[ \t]+/, '');
    if (s === '' || toks.length === max) return { toks, rest: s.trim() };
    if (s[0] === '"') {
      let i = 1;
      while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
      if (i >= s.length) throw new Error('unterminated string literal');
      const raw = s.slice(0, i + 1);
      toks.push({ raw, val: JSON.parse(raw) });
      s = s.slice(i + 1);
      if (s !== '' && s[0] !== ' ' && s[0] !== '\t') throw new Error('text after a string literal');
      continue;
    }
    const m = /[ \t]/.exec(s);
    const n = m === null ? s.length : m.index;
    toks.push({ raw: s.slice(0, n), val: s.slice(0, n) });
    s = s.slice(n);
  }
}

/**
 * parseScenario parses a scenario file.
 * @param {string} src
 * @returns {Scenario}
 */
export function parseScenario(src) {
  /** @type {Scenario} */
  const sc = { commands: [], expected: [], hasExpected: false };
  const lines = src.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === SEPARATOR) {
      sc.hasExpected = true;
      sc.expected = lines.slice(i + 1).filter((l) => l !== '');
      break;
    }
    if (t === '' || t.startsWith('#')) continue;
    const name = t.split(' ')[0];
    try {
      const { toks, rest } = tokenize(t, MAX_TOKENS[name] ?? -1);
      const a = ARITY[name];
      if (a === undefined) throw new Error(`unknown command ${JSON.stringify(name)}`);
      const args = toks.slice(1);
      if (args.length < a[0] || args.length > a[1]) throw new Error(`${name} takes ${a[0]} to ${a[1]} arguments, got ${args.length}`);
      if (MAX_TOKENS[name] !== undefined && rest === '') throw new Error(`${name} needs a JSON value`);
      sc.commands.push({ line: i + 1, text: t, name, args, rest });
    } catch (err) {
      throw new Error(`scenario: line ${i + 1}: ${/** @type {Error} */ (err).message}`);
    }
  }
  return sc;
}

/**
 * errorKind names an error as scenario output prints it (CrdtError kinds; a
 * RangeError from the Doc constructor is 'client').
 * @param {unknown} err
 * @returns {string}
 */
export function errorKind(err) {
  const k = /** @type {any} */ (err)?.kind;
  if (typeof k === 'string') return k;
  throw err;
}

/**
 * xorshift32 returns the scenario PRNG: a 32-bit xorshift (13, 17, 5) seeded
 * with seed (0 means 0x9e3779b9), each call the next unsigned 32-bit value.
 * Tests use it too, so that a failure repeats from its seed.
 * @param {number} seed
 * @returns {() => number}
 */
export function xorshift32(seed) {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * shuffle permutes a in place with the scenario PRNG (xorshift32), Fisher–Yates
 * from the end with j = next() % (i+1).
 * @template T
 * @param {T[]} a
 * @param {number} seed
 */
export function shuffle(a, seed) {
  const next = xorshift32(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/**
 * parseClient parses a client ID exactly (a Number only if it is one).
 * @param {string} s
 * @returns {number}
 */
function parseClient(s) {
  if (!/^[0-9]+$/.test(s)) throw new Error(`bad client ${JSON.stringify(s)}`);
  const b = BigInt(s);
  return b < 2n ** 53n ? Number(b) : -1;
}

/**
 * @param {Token} t
 * @returns {number}
 */
function atoi(t) {
  if (!/^[+-]?[0-9]+$/.test(t.raw)) throw new Error(`bad number ${JSON.stringify(t.raw)}`);
  return Number(t.raw);
}

/**
 * Cell is one visible position of a text with its formatting, values as canonical JSON.
 * @typedef {{ch: string, embed: string, marks: Map<string, string>, attrs: Map<string, string>, fresh: boolean}} Cell
 */

/**
 * canon returns the canonical JSON of a JSON text.
 * @param {string} s
 */
const canon = (s) => JSON.stringify(JSON.parse(s));

/**
 * cellsOf returns the cells of every Text root of d.
 * @param {Doc} d
 * @returns {Map<string, Cell[]>}
 */
export function cellsOf(d) {
  /** @type {Map<string, Cell[]>} */
  const out = new Map();
  for (const r of d.roots()) {
    if (r.kind !== 'text') continue;
    /** @type {Cell[]} */
    const cells = [];
    const conv = (/** @type {Map<string, string>} */ m) => new Map([...m].map(([k, v]) => [k, canon(v)]));
    for (const sp of d._spans(r.name, 0, d.text(r.name).length)) {
      if ('embed' in sp) {
        cells.push({ ch: '\uFFFC', embed: canon(sp.embed), marks: conv(sp.marks), attrs: conv(sp.attrs), fresh: false });
        continue;
      }
      const marks = conv(sp.marks);
      for (const ch of sp.insert) cells.push({ ch, embed: '', marks, attrs: new Map(), fresh: false });
    }
    out.set(r.name, cells);
  }
  return out;
}

/**
 * sameMap reports whether two maps hold the same entries.
 * @param {Map<string, string>} a
 * @param {Map<string, string>} b
 */
function sameMap(a, b) {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * checkRichChange throws unless the edits, formats and attributes of c turn
 * before into after (docs/crdt.md section 4.5): the positions c inserted take
 * their formatting from after; every other position must come out right.
 * @param {string} root
 * @param {Cell[]} before
 * @param {Cell[]} after
 * @param {import('./changes.js').Change | undefined} c
 */
export function checkRichChange(root, before, after, c) {
  let cur = before.map((x) => ({ ...x, marks: new Map(x.marks), attrs: new Map(x.attrs) }));
  if (c !== undefined) {
    for (const e of c.edits) {
      if (e.pos + e.delete > cur.length) throw new Error(`${root}: edit ${JSON.stringify(e)} out of range`);
      /** @type {Cell[]} */
      const ins = [...e.insert].map((ch) => ({ ch, embed: '', marks: new Map(), attrs: new Map(), fresh: true }));
      cur = [...cur.slice(0, e.pos), ...ins, ...cur.slice(e.pos + e.delete)];
    }
  }
  if (cur.length !== after.length) throw new Error(`${root}: edits give ${cur.length} positions, the text has ${after.length}`);
  for (let i = 0; i < cur.length; i++) {
    if (cur[i].fresh) cur[i] = { ...after[i], marks: new Map(after[i].marks), attrs: new Map(after[i].attrs) };
  }
  if (c !== undefined) {
    for (const f of c.formats) {
      if (f.pos < 0 || f.len <= 0 || f.pos + f.len > cur.length) throw new Error(`${root}: format ${JSON.stringify(f)} out of range`);
      for (let i = f.pos; i < f.pos + f.len; i++) {
        if (f.value === null) cur[i].marks.delete(f.name);
        else cur[i].marks.set(f.name, JSON.stringify(f.value));
      }
    }
    for (const a of c.attrs) {
      if (a.pos < 0 || a.pos >= cur.length || cur[a.pos].embed === '') throw new Error(`${root}: attribute ${JSON.stringify(a)} not on an embed`);
      cur[a.pos].attrs.set(a.key, JSON.stringify(a.value));
    }
  }
  for (let i = 0; i < cur.length; i++) {
    const x = cur[i];
    const y = after[i];
    if (x.ch !== y.ch || x.embed !== y.embed || !sameMap(x.marks, y.marks) || !sameMap(x.attrs, y.attrs)) {
      throw new Error(`${root}: position ${i}: the reported changes give ${JSON.stringify([x.ch, x.embed, [...x.marks], [...x.attrs]])}, the text has ${JSON.stringify([y.ch, y.embed, [...y.marks], [...y.attrs]])}`);
    }
  }
}

/** Runner runs scenario commands against a set of replicas. */
export class Runner {
  /**
   * @param {{checkChanges?: boolean}} [options] checkChanges: check that the
   *   changes every apply reports turn each text's old spans into its new ones
   */
  constructor({ checkChanges = false } = {}) {
    this.checkChanges = checkChanges;
    /** @type {Map<string, Doc>} */
    this.docs = new Map();
    /** @type {string[]} replica names in creation order */
    this.order = [];
    /** @type {Map<string, Uint8Array[]>} updates queued for each replica */
    this.inbox = new Map();
    /** @type {string[]} */
    this.out = [];
  }

  /**
   * @param {string} prefix
   * @param {string} result
   */
  emit(prefix, result) {
    this.out.push(`${prefix}: ${result}`);
  }

  /**
   * apply applies bytes to d and, with checkChanges, checks the changes it reports.
   * @param {Doc} d
   * @param {Uint8Array} b
   */
  apply(d, b) {
    if (!this.checkChanges) {
      d.apply(b);
      return;
    }
    const before = cellsOf(d);
    const changes = d.apply(b);
    const after = cellsOf(d);
    for (const [root, cells] of after) {
      checkRichChange(root, before.get(root) ?? [], cells, changes.find((c) => c.kind === 'text' && c.root === root));
    }
  }

  /**
   * @param {Token} t
   * @returns {Doc}
   */
  doc(t) {
    const d = this.docs.get(t.val);
    if (d === undefined) throw new Error(`unknown replica ${JSON.stringify(t.val)}`);
    return d;
  }

  /**
   * exec runs one command; refusals by the CRDT are output lines, and a thrown
   * error means the scenario itself is wrong.
   * @param {Command} c
   */
  exec(c) {
    try {
      this.run(c);
    } catch (err) {
      throw new Error(`scenario: line ${c.line} (${c.text}): ${/** @type {Error} */ (err).message}`);
    }
  }

  /** @param {Command} c */
  run(c) {
    const a = c.args;
    const name = `${c.name} ${a[0].raw}`;
    if (c.name === 'replica' || c.name === 'load') {
      if (this.docs.has(a[0].val)) throw new Error(`replica ${JSON.stringify(a[0].val)} exists`);
      const src = c.name === 'load' ? this.doc(a[2]) : null;
      let d;
      try {
        d = new Doc(parseClient(a[1].raw), { maxPendingBytes: c.name === 'replica' && a.length === 3 ? atoi(a[2]) : 0 });
        if (src !== null) this.apply(d, src.encodeSnapshot());
      } catch (err) {
        this.emit(name, 'error ' + errorKind(err));
        return;
      }
      this.docs.set(a[0].val, d);
      this.order.push(a[0].val);
      return;
    }
    const d = this.doc(a[0]);
    /** @param {() => void} fn */
    const attempt = (fn, prefix = name) => {
      try {
        fn();
      } catch (err) {
        this.emit(prefix, 'error ' + errorKind(err));
      }
    };
    switch (c.name) {
      case 'insert': {
        const pos = atoi(a[2]);
        attempt(() => d.text(a[1].val).insert(pos, a[3].val));
        break;
      }
      case 'delete': {
        const pos = atoi(a[2]);
        const n = atoi(a[3]);
        attempt(() => d.text(a[1].val).delete(pos, n));
        break;
      }
      case 'set':
        attempt(() => d.map(a[1].val).set(a[2].val, c.rest));
        break;
      case 'unset':
        attempt(() => d.map(a[1].val).delete(a[2].val));
        break;
      case 'update': {
        const u = d.takeUpdate();
        if (u === null) {
          this.emit(name, 'none');
          break;
        }
        for (const other of this.order) {
          if (other === a[0].val) continue;
          const q = this.inbox.get(other);
          if (q === undefined) this.inbox.set(other, [u]);
          else q.push(u);
        }
        this.emit(name, hex(u));
        break;
      }
      case 'deliver': {
        const q = this.inbox.get(a[0].val) ?? [];
        this.inbox.delete(a[0].val);
        if (a.length === 2) {
          if (a[1].raw !== 'reverse') throw new Error('deliver R [reverse | shuffle SEED]');
          q.reverse();
        } else if (a.length === 3) {
          if (a[1].raw !== 'shuffle') throw new Error('deliver R [reverse | shuffle SEED]');
          shuffle(q, atoi(a[2]));
        }
        for (const u of q) attempt(() => this.apply(d, u));
        break;
      }
      case 'drop':
        this.inbox.delete(a[0].val);
        break;
      case 'sync': {
        const dst = this.doc(a[1]);
        attempt(() => this.apply(dst, d.encodeUpdate(dst.stateVector())), `${name} ${a[1].raw}`);
        break;
      }
      case 'text':
        this.emit(`${name} ${a[1].raw}`, JSON.stringify(d.text(a[1].val).toString()));
        break;
      case 'map': {
        const m = d.map(a[1].val);
        const parts = m.keys().map((k) => `${JSON.stringify(k)}:${m.get(k)}`);
        this.emit(`${name} ${a[1].raw}`, `{${parts.join(',')}}`);
        break;
      }
      case 'snapshot':
        this.emit(name, hex(d.encodeSnapshot()));
        break;
      case 'sv':
        this.emit(name, hex(encodeStateVector(d.stateVector())));
        break;
      case 'encode':
        this.emit(`${name} ${a[1].raw}`, hex(d.encodeUpdate(this.doc(a[1]).stateVector())));
        break;
      case 'apply': {
        const b = unhex(a[1].raw);
        if (b === null) throw new Error('bad hex');
        try {
          this.apply(d, b);
          this.emit(name, 'ok');
        } catch (err) {
          this.emit(name, 'error ' + errorKind(err));
        }
        break;
      }
      case 'relpos': {
        const pos = atoi(a[2]);
        const assoc = atoi(a[3]);
        const prefix = `${name} ${a[1].raw} ${a[2].raw} ${a[3].raw}`;
        attempt(() => this.emit(prefix, hex(encodeRelPos(d.text(a[1].val).relPos(pos, assoc)))), prefix);
        break;
      }
      case 'resolve': {
        const prefix = `${name} ${a[1].raw}`;
        const b = unhex(a[1].raw);
        if (b === null) throw new Error('bad hex');
        attempt(() => this.emit(prefix, String(d.resolve(decodeRelPos(b)))), prefix);
        break;
      }
      case 'pending':
        this.emit(name, String(d.pendingBytes()));
        break;
      case 'embed': {
        const pos = atoi(a[2]);
        attempt(() => d._insertEmbed(a[1].val, pos, c.rest));
        break;
      }
      case 'format':
      case 'unformat': {
        const pos = atoi(a[2]);
        const n = atoi(a[3]);
        const exp = EXPANDS[a[5].raw];
        if (exp === undefined) throw new Error(`expand ${JSON.stringify(a[5].raw)}: want none, before, after or both`);
        attempt(() => d._format(a[1].val, pos, n, a[4].val, c.name === 'format' ? c.rest : null, exp));
        break;
      }
      case 'attr': {
        const pos = atoi(a[2]);
        attempt(() => d._setAttr(a[1].val, pos, a[3].val, c.rest));
        break;
      }
      case 'spans': {
        const t = d.text(a[1].val);
        this.emit(`${name} ${a[1].raw}`, spansJSON(d._spans(a[1].val, 0, t.length)));
        break;
      }
      default:
        throw new Error(`unknown command ${c.name}`);
    }
  }
}

/**
 * spansJSON writes spans as the scenarios print them (docs/crdt.md section
 * 4.5): a JSON array, object keys sorted by their UTF-8 bytes, values as
 * stored, empty maps left out.
 * @param {import('./handles.js').RawSpan[]} spans
 * @returns {string}
 */
export function spansJSON(spans) {
  const obj = (/** @type {Map<string, string>} */ m) =>
    '{' + [...m.keys()].sort(compareUtf8).map((k) => `${JSON.stringify(k)}:${m.get(k)}`).join(',') + '}';
  const parts = spans.map((s) => {
    let out;
    if ('embed' in s) out = (s.attrs.size > 0 ? `"attrs":${obj(s.attrs)},` : '') + `"embed":${s.embed}`;
    else out = `"insert":${JSON.stringify(s.insert)}`;
    if (s.marks.size > 0) out += `,"marks":${obj(s.marks)}`;
    return '{' + out + '}';
  });
  return '[' + parts.join(',') + ']';
}

/**
 * runScenario runs a parsed scenario on a new Runner and returns its output.
 * @param {Scenario} sc
 * @param {{checkChanges?: boolean}} [options] (Runner)
 * @returns {string[]}
 */
export function runScenario(sc, options = {}) {
  const r = new Runner(options);
  for (const c of sc.commands) r.exec(c);
  return r.out;
}
