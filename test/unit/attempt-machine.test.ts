import { describe, expect, it } from "vitest";
import { type Effect, type StepEvent, transition } from "../../agent/update/attempt-machine.js";
import type { AttemptFacts, StepPhase } from "../../agent/update/attempt-state.js";
import type { Delivery } from "../../agent/update/delivery.js";
import type { MachineOptions } from "../../agent/update/machine.js";
import type { StepExecutors } from "../../agent/update/steps/step.js";
import { EdgeError } from "../../shared/errors.js";
import type { DeltaRef } from "../../shared/manifest.js";

const ATTEMPT: AttemptFacts = {
  id: 7,
  kind: "update",
  fromVersion: "1.0.0",
  toVersion: "2.0.0",
  release: undefined,
  releaseJson: null,
  releaseDigest: null,
};
const OFFER: DeltaRef = { from: "1.0.0", url: "d", size: 10, sha256: "0".repeat(64) };
const DELTA: Delivery = { kind: "delta", reason: "delta-offered", offer: OFFER };
const BUNDLE: Delivery = { kind: "bundle", reason: "no-delta-offered" };
const OPTS: MachineOptions = { probationSeconds: 10, hasWindows: false };
const boom = new EdgeError("DOWNLOAD_FAILED", "boom");

function run(phase: StepPhase, event: StepEvent, opts = OPTS) {
  const { next, effects } = transition({ attempt: ATTEMPT, phase }, event, opts);
  return { next, effects: effects.map(label) };
}

/** An effect by its type, with the one field that tells it apart. */
function label(e: Effect): string {
  switch (e.type) {
    case "phase-done":
      return `phase-done:${e.phase}`;
    case "finish":
      return `finish:${e.result}${e.rollbackError ? `:${e.rollbackError.code}` : ""}`;
    case "log":
      return `log:${e.message}`;
    case "record-error":
    case "record-delta-fallback":
      return `${e.type}:${e.error.code}`;
    default:
      return e.type;
  }
}

describe("the attempt's transition", () => {
  it.each([
    [{ step: "download", delivery: DELTA }, "rebuild-from-delta"],
    [{ step: "download", delivery: BUNDLE }, "stage-bundle"],
    [{ step: "stage-bundle", delivery: BUNDLE }, "activate"],
    [{ step: "rebuild-from-delta", delivery: DELTA }, "activate"],
    [{ step: "wait-window" }, "activate"],
    [{ step: "activate" }, "restart"],
    [{ step: "restart" }, "probation"],
  ] as [StepPhase, string][])("done in %o: next %s, after its phase is done", (phase, step) => {
    const { next, effects } = run(phase, { type: "done" });
    expect(next.step).toBe(step);
    expect(effects).toHaveLength(1);
    expect(effects[0]).toMatch(/^phase-done:/);
  });

  it("the delivery travels from download to staging", () => {
    expect(run({ step: "download", delivery: DELTA }, { type: "done" }).next).toEqual({
      step: "rebuild-from-delta",
      delivery: DELTA,
    });
  });

  it("with windows, a staged version waits", () => {
    expect(run({ step: "stage-bundle", delivery: BUNDLE }, { type: "done" }, { ...OPTS, hasWindows: true }).next.step).toBe(
      "wait-window",
    );
  });

  it("commits after probation (or after starting without one)", () => {
    const expected = {
      next: { step: "ended", result: "succeeded" },
      effects: ["phase-done:probation", "finish:succeeded", "commit", "prune"],
    };
    expect(run({ step: "probation" }, { type: "done" })).toEqual(expected);
    expect(run({ step: "restart" }, { type: "done" }, { ...OPTS, probationSeconds: 0 }).next).toEqual(expected.next);
  });

  it("a failure before the swap: recorded, staging cleaned, failed, pruned", () => {
    expect(run({ step: "download", delivery: BUNDLE }, { type: "failed", error: boom })).toEqual({
      next: { step: "ended", result: "failed" },
      effects: [
        "record-error:DOWNLOAD_FAILED",
        "log:attempt phase failed",
        "clean-staging",
        "finish:failed",
        "log:attempt ended",
        "prune",
      ],
    });
  });

  it("with a validate command, staging leads to validating, and validating to the swap (or the window)", () => {
    const validates = { ...OPTS, validates: true };
    expect(run({ step: "stage-bundle", delivery: BUNDLE }, { type: "done" }, validates).next).toEqual({ step: "validate" });
    expect(run({ step: "validate" }, { type: "done" }, validates)).toEqual({
      next: { step: "activate" },
      effects: ["phase-done:validating"],
    });
    expect(run({ step: "validate" }, { type: "done" }, { ...validates, hasWindows: true }).next.step).toBe("wait-window");
  });

  it("a failed validation ends the attempt before the swap and discards the staged version", () => {
    const error = new EdgeError("VALIDATION_FAILED", "validator failed: exit code 1");
    expect(run({ step: "validate" }, { type: "failed", error }, { ...OPTS, validates: true })).toEqual({
      next: { step: "ended", result: "failed" },
      effects: [
        "record-error:VALIDATION_FAILED",
        "log:attempt phase failed",
        "discard-version",
        "clean-staging",
        "finish:failed",
        "log:attempt ended",
        "prune",
      ],
    });
  });

  it.each(["activate", "restart", "probation"] as const)("a failure in %s rolls back, carrying the cause", (step) => {
    const error = new EdgeError("HEALTH_FAILED", "no");
    const { next, effects } = run({ step }, { type: "failed", error });
    expect(next).toEqual({ step: "roll-back", cause: error });
    expect(effects).toEqual(["record-error:HEALTH_FAILED", "log:attempt phase failed"]);
  });

  it("a rollback that succeeds ends rolled back; one that fails ends failed with ROLLBACK_FAILED", () => {
    const cause = new EdgeError("HEALTH_FAILED", "no");
    expect(run({ step: "roll-back", cause }, { type: "done" })).toEqual({
      next: { step: "ended", result: "rolled_back" },
      effects: ["phase-done:rolling_back", "finish:rolled_back", "log:attempt ended", "prune"],
    });
    expect(run({ step: "roll-back", cause }, { type: "failed", error: boom })).toEqual({
      next: { step: "ended", result: "failed" },
      effects: ["log:rollback failed: the device needs attention", "finish:failed:ROLLBACK_FAILED"],
    });
  });

  it.each([
    [{ step: "download", delivery: DELTA }, "download"],
    [{ step: "rebuild-from-delta", delivery: DELTA }, "stage-bundle"],
  ] as [StepPhase, string][])("an unusable delta in %o: %s with the bundle, the reason recorded", (phase, step) => {
    const error = new EdgeError("MEMORY_LOW", "low");
    const { next, effects } = run(phase, { type: "delta-unusable", error });
    expect(next).toEqual({
      step,
      delivery: { kind: "bundle", reason: "delta-fallback", fallback: { code: "MEMORY_LOW", message: "low" } },
    });
    expect(effects).toEqual(["record-delta-fallback:MEMORY_LOW", "log:delta not usable; downloading the full bundle"]);
  });

  it("a stop found at the swap: a shutdown leaves the attempt open, a newer release supersedes it", () => {
    const shutdown = run({ step: "activate" }, { type: "stop-before-activation", reason: "shutdown" });
    expect(shutdown.next).toMatchObject({ step: "interrupted", error: { code: "INTERRUPTED" } });
    expect(shutdown.effects).toEqual(["log:stopping before activation; the attempt resumes on next start"]);
    expect(run({ step: "activate" }, { type: "stop-before-activation", reason: "superseded" })).toEqual({
      next: { step: "ended", result: "superseded" },
      effects: ["finish:superseded", "clean-staging", "log:attempt superseded before activation"],
    });
  });

  it.each([
    [{ step: "download", delivery: BUNDLE }, "superseded", "ended"],
    [{ step: "wait-window" }, "superseded", "ended"],
    [{ step: "download", delivery: BUNDLE }, "shutdown", "interrupted"],
    // Past the swap nothing supersedes: the attempt ends in commit or rollback, on the next start if need be.
    [{ step: "restart" }, "superseded", "interrupted"],
    [{ step: "roll-back", cause: undefined }, "superseded", "interrupted"],
  ] as [StepPhase, "shutdown" | "superseded", string][])("stopped in %o by %s: %s", (phase, reason, end) => {
    expect(run(phase, { type: "stopped", reason, thrown: new Error("aborted") }).next.step).toBe(end);
  });
});

// A step without an executor does not compile.
// @ts-expect-error "probation" is missing
const incomplete: StepExecutors = {
  download: async () => ({ type: "done" }),
  "stage-bundle": async () => ({ type: "done" }),
  "rebuild-from-delta": async () => ({ type: "done" }),
  "wait-window": async () => ({ type: "done" }),
  activate: async () => ({ type: "done" }),
  restart: async () => ({ type: "done" }),
  "roll-back": async () => ({ type: "done" }),
};
void incomplete;
