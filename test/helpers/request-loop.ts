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

/** One answer of answerLoop: the HTTP status and X-Model-Version, or how the request failed. */
export interface Answer {
  status: number;
  version: string | null;
  retryAfter: string | null;
  /** "refused", "timeout", "reset", ...: no HTTP answer at all. */
  failure?: string;
}

/**
 * Predictions through the hand-over proxy until stopped, keeping every answer
 * as it came: a test tells the proxy's 503s, the model's own 500s and
 * connection failures apart.
 */
export function answerLoop(port: number, pauseMs = 10): { stop: () => Promise<Answer[]>; answers: Answer[] } {
  const answers: Answer[] = [];
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      // A different input each time, as a camera's frames are: two models are compared on many, not one.
      n++;
      const input = Array.from({ length: 8 }, (_, i) => Math.sin(n * 12.9898 + i * 78.233) * 2);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/predict`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ input }),
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
        answers.push({
          status: res.status,
          version: res.headers.get("x-model-version"),
          retryAfter: res.headers.get("retry-after"),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
        answers.push({ status: 0, version: null, retryAfter: null, failure: cause });
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    answers,
    stop: async () => {
      running = false;
      await loop;
      return answers;
    },
  };
}
