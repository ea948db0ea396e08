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
