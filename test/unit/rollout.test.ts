import { describe, expect, it } from "vitest";
import { inRollout, rolloutBucket } from "../../shared/rollout.js";

const ids = Array.from({ length: 10_000 }, (_, i) => `device-${i}`);

describe("rollout eligibility", () => {
  it.each([1, 10, 25, 50, 90])("lets about %i %% of 10,000 devices in", (percent) => {
    const share = (ids.filter((id) => inRollout(id, "model", "2.0.0", percent)).length / ids.length) * 100;
    expect(Math.abs(share - percent)).toBeLessThan(2);
  });

  it("is monotone: every device in at a smaller share stays in at a larger one", () => {
    const at = (p: number) => new Set(ids.filter((id) => inRollout(id, "model", "2.0.0", p)));
    const steps = [0, 5, 10, 50, 99, 100].map(at);
    for (let i = 1; i < steps.length; i++) {
      for (const id of steps[i - 1] as Set<string>) expect((steps[i] as Set<string>).has(id)).toBe(true);
    }
    expect(steps[0]?.size).toBe(0);
    expect(steps[5]?.size).toBe(ids.length);
  });

  it("is stable per device and release, and differs between releases", () => {
    expect(rolloutBucket("dev-1", "model", "2.0.0")).toBe(rolloutBucket("dev-1", "model", "2.0.0"));
    const early2 = new Set(ids.filter((id) => inRollout(id, "model", "2.0.0", 10)));
    const early3 = new Set(ids.filter((id) => inRollout(id, "model", "3.0.0", 10)));
    const overlap = [...early2].filter((id) => early3.has(id)).length;
    // Independent draws: about 10 % of the early 10 % again, not the same devices every time.
    expect(overlap / early2.size).toBeLessThan(0.2);
  });
});
