// @ts-check
/**
 * Reconnection delays: exponential backoff with full jitter (the delay is drawn uniformly from
 * [0, min(maxMs, baseMs * 2^attempt)]). Full jitter spreads a crowd of clients that lost the
 * server at the same moment over the whole window, so that a restarting server is not met by a
 * reconnect storm.
 */
export class Backoff {
  #attempt = 0;
  #baseMs;
  #maxMs;
  #random;

  /**
   * @param {{ baseMs?: number, maxMs?: number, random?: () => number }} [opts]
   *   baseMs: the first window (default 500 ms); maxMs: the largest window (default 20 s);
   *   random: a source in [0, 1) (default Math.random), injectable for tests.
   */
  constructor(opts = {}) {
    this.#baseMs = opts.baseMs ?? 500;
    this.#maxMs = opts.maxMs ?? 20_000;
    this.#random = opts.random ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#maxMs >= this.#baseMs)) {
      throw new RangeError('backoff: need 0 < baseMs <= maxMs');
    }
  }

  /** attempt is the number of delays handed out since the last reset. */
  get attempt() {
    return this.#attempt;
  }

  /** windowMs returns the upper bound of the next delay. */
  windowMs() {
    // Cap the exponent so that 2^attempt never overflows into Infinity.
    const exp = Math.min(this.#attempt, 30);
    return Math.min(this.#maxMs, this.#baseMs * 2 ** exp);
  }

  /** next returns the next delay in milliseconds and moves to the next attempt. */
  next() {
    const ms = Math.floor(this.#random() * this.windowMs());
    this.#attempt++;
    return ms;
  }

  /** reset starts again from the first window (call it once a connection has proved healthy). */
  reset() {
    this.#attempt = 0;
  }
}
