import { describe, expect, it } from "vitest";
import type { DeniedRow } from "../../agent/state/store.js";
import { planUpdate, retryDelayMs } from "../../agent/update/planner.js";

const base = {
  targetVersion: "2.0.0",
  activeVersion: "1.0.0",
  denied: undefined,
  failures: { count: 0, lastAt: null },
  now: new Date("2026-01-01T12:00:00Z"),
  retryBaseMs: 60_000,
  retryCapMs: 3_600_000,
};
const denied: DeniedRow = { version: "2.0.0", releaseDigest: null, errorCode: "HEALTH_TIMEOUT", reason: "x", deniedAt: "" };

describe("planUpdate", () => {
  it.each([
    ["a new version", {}, "install"],
    ["the active version", { activeVersion: "2.0.0" }, "up-to-date"],
    ["a denied version", { denied }, "denied"],
    ["a version that just failed", { failures: { count: 1, lastAt: "2026-01-01T11:59:30Z" } }, "retry-later"],
    ["a version whose retry delay passed", { failures: { count: 1, lastAt: "2026-01-01T11:58:00Z" } }, "install"],
    ["the version already downloading", { running: { toVersion: "2.0.0", pastActivation: false } }, "busy"],
    ["a newer version while another downloads", { running: { toVersion: "1.5.0", pastActivation: false } }, "install"],
    ["a newer version while another is under health check", { running: { toVersion: "1.5.0", pastActivation: true } }, "busy"],
    [
      "a denied version while another is under health check",
      { denied, running: { toVersion: "1.5.0", pastActivation: true } },
      "denied",
    ],
    ["first install", { activeVersion: undefined }, "install"],
  ])("%s", (_name, patch, expected) => {
    const d = planUpdate({ ...base, ...patch });
    expect(d.action === "install" ? "install" : d.reason).toBe(expected);
  });

  it("backs off exponentially up to the cap", () => {
    expect([0, 1, 2, 3, 10].map((n) => retryDelayMs(n, 1000, 5000))).toEqual([0, 1000, 2000, 4000, 5000]);
  });
});
