// @ts-check

/**
 * afterPaint runs fn once the frame being prepared has been painted: in a browser, in a task
 * queued from the next animation frame callback (a MessageChannel message), so
 * that work which the screen does not need (sending, storing) is not on a keystroke's way to the
 * screen. A hidden page paints no frames, so there, and where there are no animation frames
 * (node), it is a plain timer; a timer of `maxWaitMs` also backs the frame up in case it never
 * comes. It returns a function that cancels fn if it has not run.
 * @param {() => void} fn
 * @param {number} [maxWaitMs]  the longest wait (default 100 ms)
 * @returns {() => void}
 */
export function afterPaint(fn, maxWaitMs = 100) {
  const g = /** @type {any} */ (globalThis);
  let done = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  /** @type {number | null} */
  let frame = null;
  const run = () => {
    if (done) return;
    done = true;
    if (timer !== null) clearTimeout(timer);
    if (frame !== null) g.cancelAnimationFrame?.(frame);
    fn();
  };
  const hidden = g.document?.visibilityState === 'hidden';
  if (typeof g.requestAnimationFrame !== 'function' || hidden) {
    timer = setTimeout(run, 0);
  } else {
    frame = g.requestAnimationFrame(() => {
      frame = null;
      nextTask(run);
    });
    timer = setTimeout(run, maxWaitMs);
  }
  return () => {
    done = true;
    if (timer !== null) clearTimeout(timer);
    if (frame !== null) g.cancelAnimationFrame?.(frame);
  };
}

/**
 * nextTask runs fn in a new task: a MessageChannel message, which runs ahead of timers and in the
 * order of posting with the page's other messages (a timer where there is no MessageChannel).
 * @param {() => void} fn
 */
function nextTask(fn) {
  if (typeof MessageChannel !== 'function') {
    setTimeout(fn, 0);
    return;
  }
  const ch = new MessageChannel();
  ch.port1.onmessage = () => {
    ch.port1.close();
    fn();
  };
  ch.port2.postMessage(null);
}
