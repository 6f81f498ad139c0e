/**
 * Capped exponential backoff with full jitter (AWS architecture blog): the delay
 * for attempt n is uniform in [0, min(cap, base * 2^n)], which spreads a fleet's
 * retries instead of synchronising them.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** A delay of `baseMs` plus up to `fraction` of it at random, so polls do not align. */
export function jittered(baseMs: number, fraction: number, random: () => number = Math.random): number {
  return Math.floor(baseMs + random() * baseMs * fraction);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
