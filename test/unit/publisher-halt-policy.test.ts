import { describe, expect, it } from "vitest";
import { decideHalt, parseFailureRate, type Results, recordEvent } from "../../publisher/rollout/halt-policy.js";

const at = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function results(list: [string, string, number][], version = "2.0.0"): Results {
  const r: Results = new Map();
  for (const [deviceId, type, s] of list) recordEvent(r, "m", version, { deviceId, type, version, at: at(s) });
  return r;
}

describe("halt policy", () => {
  const policy = { maxFailureRate: 0.5, minDevices: 4 };

  it("halts only once enough devices reported and the failure share passes the rate", () => {
    expect(
      decideHalt(
        results([
          ["a", "failed", 1],
          ["b", "failed", 2],
          ["c", "failed", 3],
        ]),
        policy,
      ).halt,
    ).toBe(false);
    const four = results([
      ["a", "failed", 1],
      ["b", "rolled_back", 2],
      ["c", "succeeded", 3],
      ["d", "succeeded", 4],
    ]);
    expect(decideHalt(four, policy)).toEqual({ halt: false, tally: { reported: 4, failed: 2, succeeded: 2 }, failureRate: 0.5 });
    recordEvent(four, "m", "2.0.0", { deviceId: "e", type: "failed", version: "2.0.0", at: at(5) });
    expect(decideHalt(four, policy)).toMatchObject({ halt: true, tally: { reported: 5, failed: 3 } });
  });

  it("counts each device once, by its newest final result for this release", () => {
    const r = results([
      ["a", "failed", 1],
      ["a", "succeeded", 5],
      ["a", "rolled_back", 3],
      ["b", "update_started", 1],
    ]);
    expect(r.get("a")).toEqual({ outcome: "succeeded", at: at(5) });
    expect(r.has("b")).toBe(false);
    expect(recordEvent(r, "m", "2.0.0", { deviceId: "c", type: "failed", version: "1.0.0", at: at(9) })).toBe(false);
    // Another model's device at the same version does not count; an event without a name (older agents) does.
    expect(recordEvent(r, "m", "2.0.0", { deviceId: "d", name: "other", type: "failed", version: "2.0.0", at: at(9) })).toBe(
      false,
    );
    expect(recordEvent(r, "m", "2.0.0", { deviceId: "e", name: "m", type: "failed", version: "2.0.0", at: at(9) })).toBe(true);
    expect(recordEvent(r, "m", "2.0.0", { deviceId: "f", type: "failed", version: "2.0.0", at: at(9) })).toBe(true);
    expect([...r.keys()]).toEqual(["a", "e", "f"]);
  });

  it("a rate of 0 halts on the first failure once min-devices reported", () => {
    const r = results([
      ["a", "succeeded", 1],
      ["b", "failed", 2],
    ]);
    expect(decideHalt(r, { maxFailureRate: 0, minDevices: 2 }).halt).toBe(true);
    expect(decideHalt(new Map(), { maxFailureRate: 0, minDevices: 0 }).halt).toBe(false);
  });

  it("parses a share or a percentage and refuses the rest", () => {
    expect(parseFailureRate("0.25")).toBe(0.25);
    expect(parseFailureRate("20%")).toBeCloseTo(0.2);
    for (const bad of ["", "%", "1", "100%", "-0.1", "abc", "0.5x"]) {
      expect(() => parseFailureRate(bad)).toThrow(/--halt-on-failures/);
    }
  });
});
