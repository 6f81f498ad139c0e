import { afterEach, describe, expect, it } from "vitest";
import type { AttemptRow } from "../../agent/state/store.js";
import { CoreWorld, type CoreWorldOptions, Stopper } from "../helpers/core-world.js";

/**
 * Stops in the middle of an attempt, in-process: a newer release (superseded:
 * the attempt ends before the swap, never after it) or a shutdown (the
 * attempt stays open and the next start resumes it), and the maintenance
 * window wait on a fake clock.
 */

let world: CoreWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** 1.0.0 active; 2.0.0 in the repository, large enough to arrive in many chunks. */
async function onV1(opts: CoreWorldOptions = {}): Promise<CoreWorld> {
  world = await CoreWorld.onV1(opts, { extraBytes: 2 * 1024 * 1024 });
  return world;
}

/** 2.0.0 staged and held on the clock before the window opens (1.0.0 went in when it was open). */
async function caughtWaiting(stop: Stopper): Promise<{ w: CoreWorld; running: Promise<AttemptRow> }> {
  const w = await onV1({ config: WINDOW, start: BEFORE_WINDOW });
  w.clock.set(BEFORE_WINDOW);
  w.clock.hold();
  const sleeping = w.clock.nextSleep();
  const running = w.install("2.0.0", stop.signal);
  await sleeping;
  return { w, running };
}

/** Local time: maintenance windows are set in the device's own clock. */
const WINDOW = {
  maintenanceWindows: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "02:00", end: "03:00" }],
};
const BEFORE_WINDOW = new Date(2025, 0, 6, 1, 58, 30);

describe("superseded by a newer release", () => {
  it.each([
    { point: "mid:downloading", phases: ["downloading", "superseded"] },
    { point: "mid:staging", phases: ["downloading", "staging", "superseded"] },
    // After staging's side effect and before the swap: the last moment a newer release can win.
    { point: "after:staging", phases: ["downloading", "staging", "superseded"] },
  ])("at $point: ends superseded, current untouched, staging/ and downloads/ empty", async ({ point, phases }) => {
    const w = await onV1();
    const stop = new Stopper();
    w.at(point, () => stop.supersede());
    const a = await w.install("2.0.0", stop.signal);
    expect(a.result).toBe("superseded");
    expect(w.phases(a.id)).toEqual(phases);
    expect(await w.active()).toBe("1.0.0");
    expect(w.service.restarts).toEqual(["1.0.0"]);
    expect(await w.staging()).toEqual([]);
    expect(await w.downloads()).toEqual([]);
    expect(w.store.isDenied("2.0.0")).toBeUndefined();
  });

  it("while waiting for a maintenance window", async () => {
    const stop = new Stopper();
    const { w, running } = await caughtWaiting(stop);
    stop.supersede();
    const a = await running;
    expect(a.result).toBe("superseded");
    expect(w.phases(a.id)).toEqual(["downloading", "staging", "waiting", "superseded"]);
    expect(await w.active()).toBe("1.0.0");
  });

  it("past the swap it is not superseded: the attempt stays open and finishes on the next start", async () => {
    const w = await onV1();
    const stop = new Stopper();
    w.at("before:starting", () => stop.supersede());
    await expect(w.install("2.0.0", stop.signal)).rejects.toMatchObject({ code: "INTERRUPTED" });
    expect(w.store.openAttempt()?.phase).toBe("starting");
    const resumed = await w.resume();
    expect(resumed?.result).toBe("succeeded");
    expect(await w.active()).toBe("2.0.0");
  });
});

describe("a shutdown in the middle of a phase, then the next start", () => {
  it.each([
    { point: "before:downloading", open: "downloading", active: "1.0.0", resumed: ["downloading", "downloading"] },
    { point: "mid:downloading", open: "downloading", active: "1.0.0", resumed: ["downloading", "downloading"] },
    { point: "mid:staging", open: "staging", active: "1.0.0", resumed: ["downloading", "staging", "staging"] },
    // A stop as staging ends never swaps current: the swap happens on the next start.
    { point: "after:staging", open: "staging", active: "1.0.0", resumed: ["downloading", "staging", "staging"] },
    {
      point: "before:starting",
      open: "starting",
      active: "2.0.0",
      resumed: ["downloading", "staging", "activating", "starting", "starting"],
    },
  ])("at $point: left open at $open, resumed to success", async ({ point, open, active, resumed }) => {
    const w = await onV1();
    const stop = new Stopper();
    w.at(point, () => stop.shutdown());
    await expect(w.install("2.0.0", stop.signal)).rejects.toMatchObject({ code: "INTERRUPTED" });
    const left = w.store.openAttempt();
    expect(left?.phase).toBe(open);
    expect(await w.active()).toBe(active);

    const done = await w.resume();
    expect(done).toMatchObject({ id: left?.id, result: "succeeded" });
    const after = resumed.at(-1) === "starting" ? ["succeeded"] : ["activating", "starting", "succeeded"];
    const tail = resumed.at(-1) === "downloading" ? ["staging", ...after] : after;
    expect(w.phases(left?.id ?? 0)).toEqual([...resumed, ...tail]);
    expect(await w.active()).toBe("2.0.0");
    expect(await w.downloads()).toEqual([]);
  });

  it("mid-download: the next start resumes the partial file with Range instead of starting over", async () => {
    const w = await onV1();
    const stop = new Stopper();
    w.at("mid:downloading", () => stop.shutdown());
    await expect(w.install("2.0.0", stop.signal)).rejects.toMatchObject({ code: "INTERRUPTED" });
    expect((await w.downloads()).some((f) => f.endsWith(".part"))).toBe(true);
    const done = await w.resume();
    const bundleBytes = JSON.parse(done?.releaseJson ?? "{}").signed.bundle.size as number;
    expect(done?.bytesDownloaded).toBeGreaterThan(0);
    expect(done?.bytesDownloaded).toBeLessThan(bundleBytes);
  });

  it("while rolling back: the next start finishes the rollback with the cause the journal kept", async () => {
    const w = await onV1();
    w.service.failRestart.add("2.0.0");
    const stop = new Stopper();
    w.at("before:rolling_back", () => stop.shutdown());
    await expect(w.install("2.0.0", stop.signal)).rejects.toMatchObject({ code: "INTERRUPTED" });
    expect(w.store.openAttempt()?.phase).toBe("rolling_back");
    const done = await w.resume();
    expect(done).toMatchObject({ result: "rolled_back", errorCode: "RESTART_FAILED" });
    expect(w.store.isDenied("2.0.0")?.errorCode).toBe("RESTART_FAILED");
    expect(await w.active()).toBe("1.0.0");
  });

  it("while waiting for a window: the next start waits again, then swaps", async () => {
    const stop = new Stopper();
    const { w, running } = await caughtWaiting(stop);
    stop.shutdown();
    await expect(running).rejects.toMatchObject({ code: "INTERRUPTED" });
    expect(w.store.openAttempt()?.phase).toBe("waiting");
    w.clock.release();
    const done = await w.resume();
    expect(done?.result).toBe("succeeded");
    expect(w.phases(done?.id ?? 0)).toEqual([
      "downloading",
      "staging",
      "waiting",
      "waiting",
      "activating",
      "starting",
      "succeeded",
    ]);
  });
});

describe("the maintenance window wait", () => {
  it("a staged version waits on the clock until the window opens, then swaps", async () => {
    // 1.0.0 goes in at 01:58:30 too (a first install waits like any other).
    const w = await onV1({ config: WINDOW, start: BEFORE_WINDOW });
    expect(w.clock.now().getHours()).toBe(2);
    w.clock.slept.length = 0;
    let swappedAt: Date | undefined;
    w.at("before:activating", () => {
      swappedAt = w.clock.now();
    });
    const a = await w.install("2.0.0");
    expect(a.result).toBe("succeeded");
    expect(w.phases(a.id)).toEqual(["downloading", "staging", "waiting", "activating", "starting", "succeeded"]);
    // Inside the window already: no sleep at all.
    expect(w.clock.slept).toEqual([]);
    expect(swappedAt?.getHours()).toBe(2);
  });

  it("outside the window: sleeps to just after each minute turns, swaps at 02:00", async () => {
    world = await CoreWorld.create({ config: WINDOW, start: BEFORE_WINDOW });
    const w = world;
    await w.release("1.0.0");
    let swappedAt: Date | undefined;
    w.at("before:activating", () => {
      swappedAt = w.clock.now();
    });
    const a = await w.install("1.0.0");
    expect(a.result).toBe("succeeded");
    expect(w.phases(a.id)).toEqual(["downloading", "staging", "waiting", "activating", "starting", "succeeded"]);
    expect(w.clock.slept).toEqual([30_050, 60_000]);
    expect(swappedAt?.getHours()).toBe(2);
    expect(swappedAt?.getMinutes()).toBe(0);
  });
});
