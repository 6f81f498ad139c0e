import { describe, expect, it } from "vitest";
import type { AttemptRow } from "../../agent/state/store.js";
import { eventForAttempt } from "../../agent/telemetry/attempt-events.js";
import { attemptRow } from "../helpers/attempt-row.js";

const row = attemptRow;
const now = new Date("2026-01-01T00:00:02.500Z");

describe("eventForAttempt", () => {
  it.each([
    [{ phase: "downloading" }, "update_started"],
    [{ phase: "staging" }, "downloaded"],
    [{ phase: "activating" }, undefined],
    [{ phase: "activating", kind: "rollback" }, "update_started"],
    [{ phase: "starting" }, "activated"],
    [{ phase: "probation" }, undefined],
    [{ phase: "rolling_back" }, undefined],
    [{ phase: "succeeded" }, "succeeded"],
    [{ phase: "rolled_back", errorCode: "HEALTH_TIMEOUT" }, "rolled_back"],
    [{ phase: "failed" }, "failed"],
    [{ phase: "superseded" }, undefined],
  ] as [Partial<AttemptRow>, string | undefined][])("%j -> %s", (patch, type) => {
    expect(eventForAttempt(row(patch), now)?.type).toBe(type);
  });

  it("carries version, error code, duration and bytes", () => {
    expect(eventForAttempt(row({ phase: "rolled_back", errorCode: "HEALTH_TIMEOUT", errorMessage: "x" }), now)).toEqual({
      type: "rolled_back",
      version: "2.0.0",
      fromVersion: "1.0.0",
      attempt: 7,
      errorCode: "HEALTH_TIMEOUT",
      error: "x",
      durationMs: 2500,
      bytes: 1234,
    });
  });
});
