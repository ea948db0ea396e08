// @ts-check
// TextState: one Text root's sequence and the algorithms on it: local insertion
// and deletion, remote integration by the FugueMax rule (docs/crdt.md 1.3),
// remote deletion, and relative positions (1.7).

import { Seq, Run, Piece } from './seq.js';
import { cpToUtf16 } from './utf.js';

/**
 * The document services a TextState needs (implemented by Doc).
 * @typedef {object} Index
 * @property {(client: number, clock: number) => Piece | null} findPiece the piece holding a text item
 */

/**
 * What local deletions are reported to (implemented by Doc).
 * @typedef {object} Recorder
 * @property {(client: number, clock: number, len: number) => void} _recordDelete records deleted clocks [clock, clock+len) of client
 */

/** TextState is the state of one Text root. */
export class TextState {
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    this.seq = new Seq();
    /** @type {import('./rich.js').RichState | null} marks and attributes, null until the first */
    this.rich = null;
  }

  /** @returns {number} the visible length in code points */
  get length() {
    return this.seq.root.vis;
  }

  /** @returns {string} the visible text */
  toString() {
    let s = '';
    for (let p = this.seq.first; p !== null; p = p.next) if (!p.deleted) s += p.str;
    return s;
  }

  /**
   * split cuts p at code point k (0 < k < p.len): p keeps [0, k) and the new
   * piece, returned, holds the rest and follows p everywhere.
   * @param {Piece} p
   * @param {number} k
   * @returns {Piece}
   */
  split(p, k) {
    const run = p.run;
    let right = '';
    if (!p.deleted) {
      const u = cpToUtf16(p.str, p.len, k);
      right = p.str.slice(u);
      p.str = p.str.slice(0, u);
    }
    const q = new Piece(run, p.clock + k, p.len - k, right, p.deleted);
    p.len = k;
    run.addAfter(p, q);
    this.seq.splitInsert(p, q);
    return q;
  }

  /**
   * markDeleted deletes the visible piece p and merges it with deleted
   * neighbours of the same run in the same leaf; it returns the piece that
   * holds p's items afterwards.
   * @param {Piece} p
   * @returns {Piece}
   */
  markDeleted(p) {
    const seq = this.seq;
    p.deleted = true;
    p.str = '';
    seq.adjust(p, -p.len, 0);
    const q = p.next;
    if (q !== null && q.deleted && q.run === p.run && q.clock === p.clock + p.len && q.parent === p.parent) {
      p.len += q.len;
      this.removePiece(q);
    }
    const o = p.prev;
    if (o !== null && o.deleted && o.run === p.run && o.clock + o.len === p.clock && o.parent === p.parent) {
      o.len += p.len;
      this.removePiece(p);
      return o;
    }
    return p;
  }

  /**
   * removePiece drops a piece whose items a neighbour has taken over.
   * @param {Piece} p
   */
  removePiece(p) {
    this.seq.remove(p);
    p.run.drop(p);
  }

  /**
   * localInsert inserts str (n >= 1 code points) at visible pos under client
   * me, right after the visible item at pos - 1 (or at the start), before any
   * deleted items that follow it (docs/crdt.md 1.3): the left origin is the
   * item before the cursor and the right origin whatever follows it, so that
   * replacing a character and a concurrent insertion after it keep their
   * order whatever the client IDs.
   * @param {{id: number, next: number, entries: any[]}} me
   * @param {number} pos
   * @param {string} str
   * @param {number} n
   * @param {string | null} [embed] the JSON of an embed (str is then U+FFFC)
   */
  localInsert(me, pos, str, n, embed = null) {
    const seq = this.seq;
    if (pos === 0) {
      this.insertBetween(me, null, seq.first, str, n, embed);
      return;
    }
    // The item before pos: the cursor cache holds it when typing goes on
    // where the last edit was.
    const left = seq.findVis(pos - 1);
    const k = seq.off;
    if (k < left.len - 1) this.split(left, k + 1);
    this.insertBetween(me, left, left.next, str, n, embed);
  }

  /**
   * insertAt inserts str (n >= 1 code points) under client me at the place
   * that a relative position names, deleted items included (docs/crdt.md
   * 1.7): right before item (client, clock) (before true) or right after it,
   * or at the very start (client 0, before false) or end (client 0, before
   * true). The item is known and of this root.
   * @param {{id: number, next: number, entries: any[]}} me
   * @param {Piece | null} piece the piece holding the item, null for the start or end
   * @param {number} clock
   * @param {boolean} before
   * @param {string} str
   * @param {number} n
   * @param {string | null} [embed] the JSON of an embed (str is then U+FFFC)
   */
  insertAt(me, piece, clock, before, str, n, embed = null) {
    const seq = this.seq;
    if (piece === null) {
      if (before) this.insertBetween(me, seq.last, null, str, n, embed);
      else this.insertBetween(me, null, seq.first, str, n, embed);
      return;
    }
    if (before) {
      const p = clock > piece.clock ? this.split(piece, clock - piece.clock) : piece;
      this.insertBetween(me, p.prev, p, str, n, embed);
      return;
    }
    if (clock + 1 < piece.clock + piece.len) this.split(piece, clock + 1 - piece.clock);
    this.insertBetween(me, piece, piece.next, str, n, embed);
  }

  /**
   * insertBetween inserts str (n >= 1 code points) as a new run of me between
   * the adjacent pieces left and nxt (null: the start, the end), extending
   * me's last run when the new items continue it. An embed is a run of its
   * own: it extends no run and no run extends it (docs/crdt.md section 4.1).
   * @param {{id: number, next: number, entries: any[]}} me
   * @param {Piece | null} left
   * @param {Piece | null} nxt
   * @param {string} str
   * @param {number} n
   * @param {string | null} [embed]
   */
  insertBetween(me, left, nxt, str, n, embed = null) {
    const seq = this.seq;
    if (embed === null && left !== null && left.client === me.id && left.clock + left.len === me.next && left.run.embed === null) {
      const run = left.run;
      if (nxt === null ? run.rc === 0 : run.rc === nxt.client && run.rk === nxt.clock) {
        run.len += n;
        me.next += n;
        if (!left.deleted) {
          left.len += n;
          left.append(str);
          seq.adjust(left, n, n);
          return;
        }
        // Inserting right after our own deleted text (insertAt): a new piece
        // of the same run, which merges back into the deleted piece once deleted.
        const piece = new Piece(run, me.next - n, n, str, false);
        run.addAfter(left, piece);
        seq.insertAfter(left, piece);
        return;
      }
    }
    const run = new Run(
      me.id,
      me.next,
      n,
      this,
      left === null ? 0 : left.client,
      left === null ? 0 : left.clock + left.len - 1,
      nxt === null ? 0 : nxt.client,
      nxt === null ? 0 : nxt.clock,
    );
    run.embed = embed;
    const piece = new Piece(run, me.next, n, str, false);
    run.first = piece;
    me.entries.push(run);
    me.next += n;
    seq.insertAfter(left, piece);
  }

  /**
   * localDelete deletes n visible code points at pos (in range) and calls
   * rec._recordDelete(client, clock, len) for every deleted clock range (a
   * method, not a closure: one call target whatever the document).
   * @param {number} pos
   * @param {number} n
   * @param {Recorder} rec
   */
  localDelete(pos, n, rec) {
    const seq = this.seq;
    /** @type {Piece | null} */
    let p = seq.findVis(pos);
    let off = seq.off;
    let rem = n;
    while (rem > 0 && p !== null) {
      if (p.deleted) {
        p = p.next;
        continue;
      }
      // Deleting the end of p next to deleted items that continue it
      // (backspacing), or its start next to deleted items it continues:
      // those take the items over, which is what splitting p and merging
      // the deleted part comes to, without a new piece.
      const q = off > 0 && off + rem >= p.len ? p.next : off === 0 && rem < p.len ? p.prev : null;
      if (q !== null && q.deleted && q.run === p.run && q.parent === p.parent) {
        if (off > 0 && q.clock === p.clock + p.len) {
          const k = p.len - off;
          rec._recordDelete(p.client, p.clock + off, k);
          p.keep(p.len, off);
          p.len = off;
          q.clock -= k;
          q.len += k;
          seq.adjust(p, -k, 0);
          rem -= k;
          p = q.next;
          off = 0;
          continue;
        }
        if (off === 0 && q.clock + q.len === p.clock) {
          rec._recordDelete(p.client, p.clock, rem);
          p.str = p.str.slice(cpToUtf16(p.str, p.len, rem));
          p.clock += rem;
          p.len -= rem;
          q.len += rem;
          seq.adjust(p, -rem, 0);
          return;
        }
      }
      if (off > 0) {
        p = this.split(p, off);
        off = 0;
      }
      if (p.len > rem) this.split(p, rem);
      rec._recordDelete(p.client, p.clock, p.len);
      rem -= p.len;
      p = this.markDeleted(p).next;
    }
  }

  /**
   * integrate places the single piece of a remote run into S by the FugueMax
   * rule (docs/crdt.md 1.3). Origins are integrated items of this root.
   * @param {Index} ix
   * @param {Run} run
   * @param {Piece} piece
   */
  integrate(ix, run, piece) {
    const seq = this.seq;
    /** @type {Piece | null} */
    let left = null;
    let L = -1;
    if (run.lc !== 0) {
      left = /** @type {Piece} */ (ix.findPiece(run.lc, run.lk));
      const k = run.lk - left.clock;
      if (k < left.len - 1) this.split(left, k + 1);
    }
    const after = left === null ? seq.first : left.next;
    if (run.rc === 0 ? after === null : after !== null && after.client === run.rc && after.clock === run.rk) {
      seq.insertAfter(left, piece);
      return;
    }
    if (left !== null) L = seq.totBefore(left) + left.len - 1;
    const R = run.rc === 0 ? seq.tot : this.indexOf(ix, run.rc, run.rk);
    let i = L + 1;
    let scanning = false;
    let scanStart = i;
    // o is the piece that starts at absolute index i. Only the first item of a
    // piece needs the rule: the others have their left origin just before them,
    // after x.left, so the scan goes on over them.
    for (let o = after; o !== null && i < R; o = o.next) {
      const first = o.clock === o.run.clock;
      const olc = first ? o.run.lc : o.client;
      const olk = first ? o.run.lk : o.clock - 1;
      let oL;
      if (olc === 0) oL = -1;
      else if (olc === left?.client && olk === left.clock + left.len - 1) oL = L;
      else {
        const pr = o.prev;
        if (pr !== null && olc === pr.client && olk === pr.clock + pr.len - 1) oL = i - 1;
        else oL = this.indexOf(ix, olc, olk);
      }
      if (oL < L) break;
      if (oL === L) {
        const orc = o.run.rc;
        const ork = o.run.rk;
        if (orc === run.rc && ork === run.rk) {
          if (run.client < o.client || (run.client === o.client && run.clock < o.clock)) break;
          scanning = false;
        } else if ((orc === 0 ? seq.tot : this.indexOf(ix, orc, ork)) < R) {
          if (!scanning) {
            scanning = true;
            scanStart = i;
          }
        } else {
          scanning = false;
        }
      }
      i += o.len;
    }
    if (i > R) i = R;
    if (scanning) i = scanStart;
    if (i === 0) {
      seq.insertAfter(null, piece);
      return;
    }
    const p = seq.findTot(i - 1);
    const k = seq.off;
    if (k < p.len - 1) this.split(p, k + 1);
    seq.insertAfter(p, piece);
  }

  /**
   * indexOf returns the absolute index (deleted items counted) of an item.
   * @param {Index} ix
   * @param {number} client
   * @param {number} clock
   * @returns {number}
   */
  indexOf(ix, client, clock) {
    const p = /** @type {Piece} */ (ix.findPiece(client, clock));
    return this.seq.totBefore(p) + (clock - p.clock);
  }

  /**
   * deleteClocks deletes the visible items of run with clocks in [from, to) and
   * calls onDelete(pos, n) for each deleted stretch, before it is deleted.
   * @param {Run} run
   * @param {number} from
   * @param {number} to
   * @param {((pos: number, n: number) => void) | null} onDelete
   */
  deleteClocks(run, from, to, onDelete) {
    if (from < run.clock) from = run.clock;
    if (to > run.clock + run.len) to = run.clock + run.len;
    let p = run.pieceAt(from);
    for (;;) {
      if (!p.deleted) {
        if (p.clock < from) p = this.split(p, from - p.clock);
        if (p.clock + p.len > to) this.split(p, to - p.clock);
        if (onDelete !== null) onDelete(this.seq.visBefore(p), p.len);
        p = this.markDeleted(p);
      }
      const end = p.clock + p.len;
      if (end >= to) return;
      p = run.pieceAt(end);
    }
  }
}
