// @ts-check
// MapState: one Map root's state, last writer wins per key (docs/crdt.md 1.5).

import { MAP } from './seq.js';

/**
 * Assign is a map assignment: one clock of a client. A lost assignment keeps only
 * its clock (it is encoded as a skip); value null is a tombstone.
 */
export class Assign {
  /**
   * @param {number} client
   * @param {number} clock
   * @param {MapState} root
   * @param {string} key
   * @param {number} lamport
   * @param {string | null} value JSON text, or null for a tombstone
   */
  constructor(client, clock, root, key, lamport, value) {
    /** @type {1} */
    this.kind = MAP;
    this.client = client;
    this.clock = clock;
    this.len = 1;
    this.root = root;
    this.key = key;
    this.lamport = lamport;
    this.value = value;
    this.lost = false;
  }

  /**
   * beats reports whether this assignment wins over o: larger lamport, then
   * larger client ID, then larger clock.
   * @param {Assign} o
   * @returns {boolean}
   */
  beats(o) {
    if (this.lamport !== o.lamport) return this.lamport > o.lamport;
    if (this.client !== o.client) return this.client > o.client;
    return this.clock > o.clock;
  }
}

/** MapState is the state of one Map root: the winning assignment of each key. */
export class MapState {
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    /** @type {Map<string, Assign>} */
    this.winners = new Map();
  }

  /**
   * integrate makes a the winner of its key if it beats the current one, marks
   * the loser lost, and reports whether the key changed: a first assignment
   * (a tombstone too), or a new value or presence.
   * @param {Assign} a
   * @returns {boolean}
   */
  integrate(a) {
    const w = this.winners.get(a.key);
    if (w !== undefined && !a.beats(w)) {
      lose(a);
      return false;
    }
    this.winners.set(a.key, a);
    if (w === undefined) return true;
    const changed = w.value !== a.value;
    lose(w);
    return changed;
  }
}

/** @param {Assign} a */
function lose(a) {
  a.lost = true;
  a.value = null;
  a.key = '';
}
