// @ts-check
/**
 * A small typed event emitter. Listeners are called in the order they were added; an exception
 * thrown by one listener is caught and reported to `onListenerError` (console.error by default) so
 * that it never breaks the emitter's owner or the other listeners.
 *
 * @template {Record<string, any>} Events  event name -> payload type
 */
export class Emitter {
  /** @type {Map<keyof Events, Set<(payload: any) => void>>} */
  #listeners = new Map();
  /** @type {(err: unknown, event: string) => void} */
  #onListenerError;

  /** @param {{ onListenerError?: (err: unknown, event: string) => void }} [opts] */
  constructor(opts = {}) {
    this.#onListenerError = opts.onListenerError ?? ((err, event) => {
      console.error(`tandem: listener for "${event}" threw`, err);
    });
  }

  /**
   * on adds a listener and returns a function that removes it.
   * @template {keyof Events} K
   * @param {K} event
   * @param {(payload: Events[K]) => void} fn
   * @returns {() => void}
   */
  on(event, fn) {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn);
    return () => this.off(event, fn);
  }

  /**
   * once adds a listener that is removed after its first call.
   * @template {keyof Events} K
   * @param {K} event
   * @param {(payload: Events[K]) => void} fn
   * @returns {() => void}
   */
  once(event, fn) {
    /** @param {Events[K]} payload */
    const wrapped = (payload) => {
      this.off(event, wrapped);
      fn(payload);
    };
    return this.on(event, wrapped);
  }

  /**
   * off removes a listener added with on.
   * @template {keyof Events} K
   * @param {K} event
   * @param {(payload: Events[K]) => void} fn
   */
  off(event, fn) {
    const set = this.#listeners.get(event);
    if (!set) return;
    set.delete(fn);
    if (set.size === 0) this.#listeners.delete(event);
  }

  /**
   * emit calls every listener of event with payload. Exceptions are caught and reported.
   * @template {keyof Events} K
   * @param {K} event
   * @param {Events[K]} payload
   */
  emit(event, payload) {
    const set = this.#listeners.get(event);
    if (!set) return;
    // Copy: a listener may add or remove listeners while we iterate.
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        try {
          this.#onListenerError(err, String(event));
        } catch {
          // The error reporter itself failed: nothing sensible is left to do.
        }
      }
    }
  }

  /**
   * listenerCount returns how many listeners event has.
   * @param {keyof Events} event
   */
  listenerCount(event) {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** clear removes every listener. */
  clear() {
    this.#listeners.clear();
  }
}
