import { describe, expect, it } from "vitest";
import { type ChannelPointerRow, rolloutProgress } from "../../publisher/dashboard/rollout-progress.js";
import { RolloutSeries } from "../../publisher/dashboard/rollout-series.js";
import { type DeviceView, emptyFleet, type Fleet } from "../../publisher/fleet/fleet-state.js";
import { inRollout } from "../../shared/rollout.js";

const pointer = (extra: Partial<ChannelPointerRow> = {}): ChannelPointerRow => ({
  name: "m",
  channel: "stable",
  version: "2.0.0",
  sequence: 3,
  rollout: { percent: 100, paused: false },
  ...extra,
});

function device(deviceId: string, extra: Partial<DeviceView> = {}): DeviceView {
  return {
    deviceId,
    online: true,
    name: "m",
    channel: "stable",
    agentVersion: null,
    activeVersion: "1.0.0",
    previousVersion: null,
    phase: "idle",
    lastResult: null,
    health: null,
    withdrawn: null,
    lastEvent: null,
    deviceAt: null,
    heardAt: "2026-01-01T00:00:00.000Z",
    ...extra,
  };
}

function fleetOf(...devices: DeviceView[]): Fleet {
  const f = emptyFleet();
  for (const d of devices) f.set(d.deviceId, d);
  return f;
}

describe("rollout progress per channel", () => {
  it("counts updated, failed and pending devices of the channel, and ignores other channels and models", () => {
    const fleet = fleetOf(
      device("a", { activeVersion: "2.0.0" }),
      device("b", { lastResult: { version: "2.0.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT", at: null } }),
      device("c", { lastResult: { version: "2.0.0", result: "failed", errorCode: "DIGEST_MISMATCH", at: null } }),
      device("d"),
      device("e", { name: null }),
      device("other-channel", { channel: "canary" }),
      device("other-model", { name: "n", activeVersion: "2.0.0" }),
      // A success on an older attempt is not a failure of this one.
      device("f", { lastResult: { version: "1.0.0", result: "failed", errorCode: "X", at: null } }),
    );
    expect(rolloutProgress([pointer()], fleet.values())).toEqual([
      { ...pointer(), devices: 6, updated: 1, failed: 2, pending: 3, outside: 0 },
    ]);
  });

  it("splits the devices not yet updated by the same stable hash the devices use", () => {
    const ids = Array.from({ length: 200 }, (_, i) => `dev-${i}`);
    const [row] = rolloutProgress(
      [pointer({ rollout: { percent: 30, paused: false } })],
      fleetOf(...ids.map((id) => device(id))).values(),
    );
    const inside = ids.filter((id) => inRollout(id, "m", "2.0.0", 30)).length;
    expect(row).toMatchObject({ devices: 200, updated: 0, failed: 0, pending: inside, outside: 200 - inside });
    expect(inside).toBeGreaterThan(0);
    expect(inside).toBeLessThan(200);
  });

  it("records a series point only when something changed, and keeps at most its bound", () => {
    const series = new RolloutSeries(3);
    const at = (s: number): Date => new Date(s * 1000);
    const row = (updated: number) => ({ ...pointer(), devices: 5, updated, failed: 0, pending: 5 - updated, outside: 0 });
    expect(Object.keys(series.record([row(0)], at(1)))).toEqual(["m/stable"]);
    expect(series.record([row(0)], at(2))).toEqual({});
    for (let i = 1; i <= 4; i++) series.record([row(i)], at(2 + i));
    expect(series.all()["m/stable"]?.map((p) => [p.t, p.updated])).toEqual([
      [4, 2],
      [5, 3],
      [6, 4],
    ]);
  });
});
