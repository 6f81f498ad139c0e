import { tmpdir } from "node:os";
import { getHeapSnapshot, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { AttemptSlot } from "../../agent/attempt-slot.js";
import { silentLogger } from "../../agent/logging.js";
import { waitForReady } from "../../agent/service/health.js";
import { HealthWatch } from "../../agent/service/health-watch.js";
import { RestartCommand } from "../../agent/service/restart-command.js";
import { fetchMetadata } from "../../agent/sources/metadata-fetch.js";

/**
 * The daemon combines signals that live as long as it does (its shutdown signal, the health
 * watch's stopper, the command-mode service's crash signal) with fresh ones on every poll, probe
 * and attempt. Whatever each combination leaves on the long-lived signal stays for the life of
 * the process. AbortSignal.any on Node 20 leaves a WeakRef per call (nodejs/node#55351), a few
 * dozen bytes, below the noise of the heap's size: so these run the real code paths many times
 * over and count the WeakRef objects on the heap (in a heap snapshot) before and after.
 */
async function weakRefsOnHeap(): Promise<number> {
  let text = "";
  for await (const chunk of getHeapSnapshot()) text += String(chunk);
  const snapshot = JSON.parse(text) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const type = fields.indexOf("type");
  const name = fields.indexOf("name");
  const objectType = snapshot.snapshot.meta.node_types[0].indexOf("object");
  const weakRef = snapshot.strings.indexOf("WeakRef");
  let count = 0;
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    if (snapshot.nodes[i + type] === objectType && snapshot.nodes[i + name] === weakRef) count++;
  }
  return count;
}

const RUNS = 2000;
// Each run used to leave one or two; a handful over all the runs is the test's own surroundings.
const MAX_LEFT = RUNS / 20;

/** WeakRefs still on the heap after RUNS runs of `op` than before them. */
async function weakRefsLeftBy(op: () => Promise<unknown>): Promise<number> {
  await op();
  await settle();
  const before = await weakRefsOnHeap();
  for (let i = 0; i < RUNS; i++) await op();
  await settle();
  return (await weakRefsOnHeap()) - before;
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * Lets the runs' 1 ms timeouts fire and what they held be collected: a timeout signal's timer is
 * released by a finalizer, which runs only after the GC that found the signal dead. Left to
 * happen inside the next measurement, it would hide what that one leaves.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
  await new Promise((r) => setTimeout(r, 20));
}

// No network: each run fails before any socket, after the signals are combined.
const NOT_A_URL = "not a url";

describe("signals that live as long as the daemon", () => {
  it("keep nothing of each metadata fetch made under them", async () => {
    const shutdown = new AbortController();
    const fetchOnce = () => fetchMetadata(NOT_A_URL, { timeoutMs: 1, signal: shutdown.signal }).catch(() => {});
    expect(await weakRefsLeftBy(fetchOnce)).toBeLessThan(MAX_LEFT);
  });

  it("keep nothing of each attempt run under the daemon's shutdown signal", async () => {
    const shutdown = new AbortController();
    const slot = new AttemptSlot(shutdown.signal, silentLogger());
    // The attempt itself is beside the point: it ends at once, as a refused one does.
    const attemptOnce = () => slot.track("1.0.0", "downloading", () => Promise.reject(new Error("refused"))).catch(() => {});
    expect(await weakRefsLeftBy(attemptOnce)).toBeLessThan(MAX_LEFT);
  });

  it("keep nothing of each readiness wait under the command-mode service's crash signal", async () => {
    // In command mode the crash signal is one for the agent's life: every attempt's wait combines it.
    const service = new RestartCommand({ command: ["true"], cwd: tmpdir(), timeoutMs: 5000, logger: silentLogger() });
    const shutdown = new AbortController();
    const waitOnce = () =>
      waitForReady({ url: NOT_A_URL, timeoutMs: 0, intervalMs: 1, signal: shutdown.signal, crash: service.crashSignal() }).catch(
        () => {},
      );
    expect(await weakRefsLeftBy(waitOnce)).toBeLessThan(MAX_LEFT);
  });

  it("keep nothing of each turn of the health watch's loop", async () => {
    // busy() stands for an attempt running: the loop only sleeps, combining its signals each turn.
    class CountingService extends RestartCommand {
      turns = 0;
      override crashSignal(): AbortSignal {
        this.turns++;
        return super.crashSignal();
      }
    }
    const service = new CountingService({ command: ["true"], cwd: tmpdir(), timeoutMs: 5000, logger: silentLogger() });
    const watch = new HealthWatch({
      url: NOT_A_URL,
      intervalMs: 0,
      timeoutMs: 1000,
      service,
      busy: () => true,
      logger: silentLogger(),
    });
    watch.start();
    try {
      const nextTurn = async (): Promise<void> => {
        const until = service.turns + 1;
        while (service.turns < until) await new Promise((r) => setImmediate(r));
      };
      expect(await weakRefsLeftBy(nextTurn)).toBeLessThan(MAX_LEFT);
    } finally {
      await watch.stop();
    }
  });
});
