/**
 * A timer that an AbortSignal cancels, rejecting with the signal's own
 * reason (node:timers/promises rejects with a generic AbortError instead,
 * which would hide why a wait was cut short: a phase timeout, an undeploy).
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
