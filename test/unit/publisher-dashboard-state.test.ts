import { describe, expect, it } from "vitest";
import { DashboardState } from "../../publisher/dashboard/dashboard-state.js";
import { HISTORY_PER_DEVICE } from "../../publisher/dashboard/device-log.js";
import { applyFleetMessage } from "../../publisher/fleet/fleet-state.js";
import { deviceEventsTopic, deviceStatusTopic, offlineStatus } from "../../shared/topics.js";

const NOW = new Date("2026-06-01T12:00:00.000Z");

/** Feeds a message through the fleet view and the dashboard, as the subscription does. */
function feed(state: DashboardState, topic: string, body: unknown): void {
  const payload = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  const outcome = applyFleetMessage(state.fleet, topic, payload, NOW);
  if (outcome.kind !== "skipped") state.apply(outcome, payload);
}

const status = (id: string, extra: Record<string, unknown> = {}) => ({
  schema: 1,
  deviceId: id,
  online: true,
  at: NOW.toISOString(),
  channel: "stable",
  name: "m",
  activeVersion: "1.0.0",
  phase: "idle",
  inventory: {
    os: "Debian",
    kernel: "6.1",
    arch: "arm64",
    cpu: { model: "A72", cores: 4 },
    memory: { totalBytes: 8, availableBytes: 4 },
    disk: null,
    temperatureC: null,
  },
  ...extra,
});

describe("the dashboard's state", () => {
  it("flushes only the devices that changed, then nothing until the next message", () => {
    const state = new DashboardState(() => NOW);
    feed(state, deviceStatusTopic("a"), status("a"));
    feed(state, deviceStatusTopic("b"), status("b"));
    const first = state.flush();
    expect(first?.devices.map((d) => d.deviceId)).toEqual(["a", "b"]);
    expect(first?.devices[0]?.inventory).toMatchObject({ arch: "arm64", cpu: { cores: 4 } });
    // First sight is not news (a start replays every retained status); it is in the device's history.
    expect(first?.events).toEqual([]);
    expect(state.history("a")?.history.map((h) => h.type)).toEqual(["online"]);
    expect(state.flush()).toBeUndefined();
    feed(state, deviceStatusTopic("b"), offlineStatus("b"));
    const second = state.flush();
    expect(second?.devices.map((d) => [d.deviceId, d.online])).toEqual([["b", false]]);
    expect(second?.events.map((e) => e.type)).toEqual(["offline"]);
    // The last-will says nothing more: what the device last said stays, inventory too.
    expect(second?.devices[0]).toMatchObject({ activeVersion: "1.0.0", inventory: { arch: "arm64" } });
  });

  it("keeps each device's history bounded, events with their error text as sent", () => {
    const state = new DashboardState(() => NOW);
    feed(state, deviceStatusTopic("a"), status("a"));
    const event = (n: number) => ({
      schema: 1,
      deviceId: "a",
      name: "m",
      type: n % 2 ? "failed" : "update_started",
      at: new Date(NOW.getTime() + n * 1000).toISOString(),
      version: "2.0.0",
      fromVersion: "1.0.0",
      attempt: n,
      errorCode: n % 2 ? "HEALTH_TIMEOUT" : null,
      error: n % 2 ? "<b>not ready</b>" : null,
      durationMs: 1,
      bytes: 0,
    });
    for (let n = 0; n < HISTORY_PER_DEVICE + 20; n++) feed(state, deviceEventsTopic("a"), event(n));
    const history = state.history("a")?.history ?? [];
    expect(history).toHaveLength(HISTORY_PER_DEVICE);
    expect(history.at(-1)).toMatchObject({ type: "failed", errorCode: "HEALTH_TIMEOUT", error: "<b>not ready</b>" });
    expect(state.history("nobody")).toBeUndefined();
  });

  it("forgets a device whose retained status is cleared", () => {
    const state = new DashboardState(() => NOW);
    feed(state, deviceStatusTopic("a"), status("a"));
    state.flush();
    feed(state, deviceStatusTopic("a"), "");
    expect(state.flush()?.removed).toEqual(["a"]);
    expect(state.snapshot().devices).toEqual([]);
  });

  it("adds a rollout point when the repository's pointer or a device changes", () => {
    const state = new DashboardState(() => NOW);
    state.setPointers(
      [{ name: "m", channel: "stable", version: "2.0.0", sequence: 1, rollout: { percent: 100, paused: false } }],
      [],
    );
    feed(state, deviceStatusTopic("a"), status("a"));
    expect(state.flush()?.points["m/stable"]).toMatchObject({ updated: 0, pending: 1 });
    feed(state, deviceStatusTopic("a"), status("a", { activeVersion: "2.0.0" }));
    expect(state.flush()?.points["m/stable"]).toMatchObject({ updated: 1, pending: 0 });
    expect(state.snapshot().series["m/stable"]).toHaveLength(2);
  });
});
