// @ts-check

/**
 * @typedef {object} Flusher  the part of the provider that stores and sends local changes
 * @property {<T>(fn: () => T) => T} transact  runs fn, then flushes at once
 * @property {() => void} [scheduleFlush]      flushes after the frame is painted
 */

/**
 * deferred runs fn, which writes an editor's keystroke to the CRDT, and has the provider store and
 * send it after the frame that shows it is painted (provider.scheduleFlush: the keystrokes of one
 * frame become one update); a provider without scheduleFlush flushes at once. The editor bindings
 * write what the user types through it.
 * @template T
 * @param {Flusher} provider
 * @param {() => T} fn
 * @returns {T}
 */
export function deferred(provider, fn) {
  if (!provider.scheduleFlush) return provider.transact(fn);
  try {
    return fn();
  } finally {
    provider.scheduleFlush();
  }
}

/**
 * Flush is how the textarea and CodeMirror bindings have their edits stored and sent: what the
 * user types (the edits made inside typing()) after the frame, through deferred; anything else
 * (undo, redo, a dispatch from code) at once. Its transact is what the binding's own UndoManager
 * is given.
 */
export class Flush {
  /** @type {Flusher} */
  #provider;
  /** >0 while the binding writes what the user typed */
  #typing = 0;

  /** @param {Flusher} provider */
  constructor(provider) {
    this.#provider = provider;
  }

  /**
   * transact runs fn, which edits the CRDT, and stores and sends the change: after the frame
   * inside typing(), at once otherwise.
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  transact(fn) {
    return this.#typing > 0 ? deferred(this.#provider, fn) : this.#provider.transact(fn);
  }

  /**
   * typing runs fn, which writes what the user typed: the flushes it makes wait for the frame.
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  typing(fn) {
    this.#typing++;
    try {
      return fn();
    } finally {
      this.#typing--;
    }
  }
}
