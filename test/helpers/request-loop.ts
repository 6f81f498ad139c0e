import type { World } from "./world.js";

/**
 * Predictions against the world's service until stopped, as a camera feeding
 * the model would make: every answer's version, and every failure (refused,
 * timed out or not 2xx).
 */
export function requestLoop(w: World, pauseMs = 20): { stop: () => Promise<{ served: string[]; failures: number }> } {
  const served: string[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const version = await w.servedVersion();
      if (version === undefined) failures++;
      else served.push(version);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { served, failures };
    },
  };
}
