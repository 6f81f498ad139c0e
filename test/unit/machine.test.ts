import { describe, expect, it } from "vitest";
import type { ActivePhase } from "../../agent/state/phases.js";
import { resumePhase, transition } from "../../agent/update/machine.js";

describe("transition", () => {
  const opts = { probationSeconds: 10 };
  it("walks the happy path in order", () => {
    const seen: string[] = [];
    let phase: string = "downloading";
    while (!["succeeded", "failed", "rolled_back"].includes(phase)) {
      seen.push(phase);
      phase = transition(phase as ActivePhase, "ok", opts);
    }
    expect([...seen, phase]).toEqual(["downloading", "staging", "activating", "starting", "probation", "succeeded"]);
  });

  it.each([
    ["downloading", "failed"],
    ["staging", "failed"],
    ["activating", "rolling_back"],
    ["starting", "rolling_back"],
    ["probation", "rolling_back"],
    ["rolling_back", "failed"],
  ] as const)("a failure in %s leads to %s", (phase, next) => {
    expect(transition(phase, "failed", opts)).toBe(next);
  });

  it("with a validate command, validating comes after staging and before the window or the swap; it fails like staging", () => {
    expect(transition("staging", "ok", { probationSeconds: 0, validates: true })).toBe("validating");
    expect(transition("validating", "ok", { probationSeconds: 0, validates: true })).toBe("activating");
    expect(transition("validating", "ok", { probationSeconds: 0, validates: true, hasWindows: true })).toBe("waiting");
    expect(transition("validating", "failed", { probationSeconds: 0, validates: true })).toBe("failed");
  });

  it("skips probation when it is zero seconds", () => {
    expect(transition("starting", "ok", { probationSeconds: 0 })).toBe("succeeded");
  });
});

describe("resumePhase", () => {
  const attempt = { toVersion: "2.0.0", fromVersion: "1.0.0" };
  it.each([
    ["downloading", "1.0.0", "downloading"],
    ["staging", "1.0.0", "staging"],
    ["validating", "1.0.0", "validating"],
    ["activating", "1.0.0", "activating"],
    ["activating", "2.0.0", "activating"],
    ["starting", "2.0.0", "starting"],
    ["probation", "2.0.0", "starting"],
    ["probation", "1.0.0", "activating"],
    ["rolling_back", "2.0.0", "rolling_back"],
    ["rolling_back", "1.0.0", "rolling_back"],
  ] as const)("recorded %s with current -> %s resumes at %s", (recorded, onDisk, expected) => {
    expect(resumePhase(recorded, onDisk, attempt)).toBe(expected);
  });
});
