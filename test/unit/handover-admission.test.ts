import { describe, expect, it } from "vitest";
import { admit } from "../../agent/service/admission.js";

const MIB = 1024 * 1024;
const policy = { factor: 1.25, reserveBytes: 64 * MIB, maxPressure: 10 };

/** Whether a second version may start beside the serving one (service/admission.ts). */
describe("hand-over admission", () => {
  it.each([
    ["fits: 400 × 1.25 + 64 = 564 MiB in 600", 400, 600, 0.5, { admitted: true }],
    ["exactly fits", 400, 564, 0, { admitted: true }],
    ["one MiB short", 400, 563, 0, { admitted: false, reason: "MEMORY_LOW" }],
    ["pressure over the limit, however much is free", 10, 10_000, 12.5, { admitted: false, reason: "MEMORY_PRESSURE" }],
    ["pressure at the limit is still admitted", 10, 10_000, 10, { admitted: true }],
    ["no PSI on this kernel: memory alone decides", 400, 600, undefined, { admitted: true }],
    ["serving peak unknown: only the reserve is counted", undefined, 65, 0, { admitted: true }],
    ["serving peak unknown and not even the reserve is free", undefined, 63, 0, { admitted: false, reason: "MEMORY_LOW" }],
  ])("%s", (_name, peakMiB, availableMiB, pressure, expected) => {
    const result = admit(
      {
        servingPeakBytes: peakMiB === undefined ? undefined : peakMiB * MIB,
        availableBytes: availableMiB * MIB,
        pressureAvg10: pressure,
      },
      policy,
    );
    expect(result).toMatchObject(expected);
  });

  it("says the figures it decided by", () => {
    const low = admit({ servingPeakBytes: 400 * MIB, availableBytes: 500 * MIB, pressureAvg10: 0 }, policy);
    expect(low.detail).toBe("serving peak 400 MiB × 1.25 + reserve 64 MiB = 564 MiB does not fit in MemAvailable 500 MiB");
    const unknown = admit({ servingPeakBytes: undefined, availableBytes: 500 * MIB, pressureAvg10: 0 }, policy);
    expect(unknown.detail).toMatch(/^serving peak unknown \+ reserve 64 MiB = 64 MiB fits/);
    const pressure = admit({ servingPeakBytes: 1, availableBytes: 500 * MIB, pressureAvg10: 30 }, policy);
    expect(pressure.detail).toBe("memory pressure some avg10=30 is above the limit 10");
  });
});
