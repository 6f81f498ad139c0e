import { describe, expect, it } from "vitest";
import { statusKey } from "../../agent/telemetry/change-filter.js";
import { versionHealthOf } from "../../agent/telemetry/version-health.js";
import type { DeviceStatusMessage } from "../../shared/topics.js";

const serving = (version: string, healthyMs: number, unhealthyMs: number, lastAt: string) => ({
  version,
  healthyMs,
  unhealthyMs,
  firstAt: "2026-01-01T00:00:00.000Z",
  lastAt,
});

describe("versionHealthOf", () => {
  it("joins serving time, rollbacks and the deny-list per version, the most recently active first, in whole seconds rounded down", () => {
    const list = versionHealthOf(
      [serving("1.0.0", 7_200_999, 1500, "2026-01-03T00:00:00.000Z"), serving("1.1.0", 60_000, 0, "2026-01-02T00:00:00.000Z")],
      [
        { version: "1.1.0", count: 2, lastAt: "2026-01-04T00:00:00.000Z" },
        { version: "0.9.0", count: 1, lastAt: null },
      ],
      [{ version: "1.1.0", deniedAt: "2026-01-04T00:00:01.000Z" }],
    );
    expect(list).toEqual([
      { version: "1.1.0", healthySeconds: 60, unhealthySeconds: 0, rollbacks: 2, denied: true },
      { version: "1.0.0", healthySeconds: 7200, unhealthySeconds: 1, rollbacks: 0, denied: false },
      { version: "0.9.0", healthySeconds: 0, unhealthySeconds: 0, rollbacks: 1, denied: false },
    ]);
  });

  it("keeps at most `limit` versions, dropping the least recently active", () => {
    const rows = [1, 2, 3, 4].map((d) => serving(`1.${d}.0`, 1000, 0, `2026-01-0${d}T00:00:00.000Z`));
    expect(versionHealthOf(rows, [], [], 2).map((v) => v.version)).toEqual(["1.4.0", "1.3.0"]);
  });
});

describe("statusKey and serving time", () => {
  const status = (healthySeconds: number, rollbacks = 0): DeviceStatusMessage => ({
    schema: 1,
    deviceId: "d",
    online: true,
    at: "2026-01-01T00:00:00.000Z",
    versionHealth: [{ version: "1.0.0", healthySeconds, unhealthySeconds: 0, rollbacks, denied: false }],
  });
  it("growing seconds within an hour need no new status; passing an hour or a new rollback does", () => {
    expect(statusKey(status(3600))).toBe(statusKey(status(7199)));
    expect(statusKey(status(7199))).not.toBe(statusKey(status(7200)));
    expect(statusKey(status(3600))).not.toBe(statusKey(status(3600, 1)));
  });
});
