import { backoffDelay, jittered } from "../shared/backoff.js";
import type { Logger } from "./logging.js";
import type { Clock } from "./ports.js";

/**
 * Checks the channel until `signal` aborts: a jittered interval, capped
 * exponential backoff (at least 1 s) after errors.
 */
export function pollUntilStopped(opts: {
  intervalMs: number;
  jitterFraction: number;
  check: () => Promise<unknown>;
  clock: Clock;
  signal: AbortSignal;
  logger: Logger;
}): Promise<void> {
  const { intervalMs, signal } = opts;
  return (async () => {
    let failures = 0;
    while (!signal.aborted) {
      let delay = jittered(intervalMs, opts.jitterFraction);
      try {
        await opts.check();
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        delay = Math.max(1000, backoffDelay(failures, { baseMs: 2000, capMs: intervalMs }));
        opts.logger.warn({ err, failures, retryInMs: delay }, "channel check failed");
      }
      await opts.clock.sleep(delay, signal).catch(() => {});
    }
  })();
}
