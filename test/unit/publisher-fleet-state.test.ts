import { describe, expect, it } from "vitest";
import {
  applyFleetMessage,
  type DeviceView,
  emptyFleet,
  FLEET_MESSAGE_MAX_BYTES,
  type Fleet,
  fleetSnapshot,
  summarizeVersions,
} from "../../publisher/fleet/fleet-state.js";
import {
  type DeviceEvent,
  type DeviceStatusMessage,
  deviceEventsTopic,
  deviceStatusTopic,
  offlineStatus,
} from "../../shared/topics.js";

const T0 = new Date("2026-03-01T10:00:00.000Z");
const T1 = new Date("2026-03-01T10:05:00.000Z");

function status(id: string, extra: Partial<DeviceStatusMessage> = {}): DeviceStatusMessage {
  return {
    schema: 1,
    deviceId: id,
    online: true,
    at: "2026-03-01T09:59:00.000Z",
    name: "demo",
    channel: "stable",
    agentVersion: "0.1.0",
    activeVersion: "1.1.0",
    previousVersion: "1.0.0",
    phase: "idle",
    lastResult: { version: "1.1.0", result: "succeeded", errorCode: null, at: "2026-03-01T09:58:00.000Z" },
    health: { ok: true, status: 200 },
    ...extra,
  };
}

function event(id: string, extra: Partial<DeviceEvent> = {}): DeviceEvent {
  return {
    schema: 1,
    deviceId: id,
    name: "demo-model",
    type: "failed",
    at: "2026-03-01T10:01:00.000Z",
    version: "1.2.0",
    fromVersion: "1.1.0",
    attempt: 1,
    errorCode: "DIGEST_MISMATCH",
    error: "bundle digest differs",
    durationMs: 1200,
    bytes: 4096,
    ...extra,
  };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const WITHDRAWN = { version: "1.1.0", reason: "NaN outputs", action: "stay", withdrawnAt: "2026-03-01T09:00:00.000Z" };

function applyStatus(fleet: Fleet, msg: DeviceStatusMessage, at = T0) {
  return applyFleetMessage(fleet, deviceStatusTopic(msg.deviceId), json(msg), at);
}

function device(fleet: Fleet, id: string): DeviceView {
  const d = fleet.get(id);
  if (!d) throw new Error(`no device ${id} in the fleet`);
  return d;
}

describe("applyFleetMessage: statuses", () => {
  it("records a full status with the device's own time as last seen", () => {
    const fleet = emptyFleet();
    expect(applyStatus(fleet, status("dev-1"))).toEqual({ kind: "status", deviceId: "dev-1" });
    expect(device(fleet, "dev-1")).toMatchObject({
      online: true,
      activeVersion: "1.1.0",
      phase: "idle",
      health: { ok: true, status: 200 },
      deviceAt: "2026-03-01T09:59:00.000Z",
      heardAt: T0.toISOString(),
    });
    expect(fleetSnapshot(fleet).devices[0]).toMatchObject({
      lastSeen: "2026-03-01T09:59:00.000Z",
      lastSeenSource: "device",
    });
  });

  it("a newer device status replaces the old one entirely (no stale fields survive)", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    const { lastResult: _dropped, health: _h, ...bare } = status("dev-1", { at: "2026-03-01T10:04:00.000Z" });
    applyStatus(fleet, { ...bare, phase: "downloading", activeVersion: "1.1.0" }, T1);
    expect(device(fleet, "dev-1")).toMatchObject({
      phase: "downloading",
      lastResult: null,
      health: null,
      deviceAt: "2026-03-01T10:04:00.000Z",
    });
  });

  it("the last-will after a status marks the device offline and keeps what it last said, except health", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    expect(applyStatus(fleet, offlineStatus("dev-1"), T1)).toEqual({ kind: "status", deviceId: "dev-1" });
    const d = device(fleet, "dev-1");
    expect(d).toMatchObject({
      online: false,
      activeVersion: "1.1.0",
      phase: "idle",
      lastResult: { result: "succeeded" },
      health: null,
      deviceAt: "2026-03-01T09:59:00.000Z",
      heardAt: T1.toISOString(),
    });
    // Last seen stays the device's own last word, not the broker's announcement.
    expect(fleetSnapshot(fleet).devices[0]).toMatchObject({ lastSeen: "2026-03-01T09:59:00.000Z" });
  });

  it("the agent's clean-stop offline status (last-will shape with at) also keeps what it said; its at is last seen", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    applyStatus(fleet, { ...offlineStatus("dev-1"), at: "2026-03-01T10:03:00.000Z" }, T1);
    expect(device(fleet, "dev-1")).toMatchObject({ online: false, activeVersion: "1.1.0", health: null });
    expect(fleetSnapshot(fleet).devices[0]).toMatchObject({
      lastSeen: "2026-03-01T10:03:00.000Z",
      lastSeenSource: "device",
    });
  });

  it("a device coming back online replaces the kept fields with what it says now", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    applyStatus(fleet, offlineStatus("dev-1"), T1);
    applyStatus(fleet, status("dev-1", { activeVersion: "1.2.0", lastResult: null, at: "2026-03-01T10:06:00.000Z" }), T1);
    expect(device(fleet, "dev-1")).toMatchObject({ online: true, activeVersion: "1.2.0", lastResult: null });
  });

  it("a withdrawn active version is recorded, kept through the last-will, and cleared by a status without it", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1", { withdrawn: WITHDRAWN }));
    expect(device(fleet, "dev-1").withdrawn).toEqual(WITHDRAWN);
    applyStatus(fleet, offlineStatus("dev-1"), T1);
    expect(device(fleet, "dev-1")).toMatchObject({ online: false, withdrawn: WITHDRAWN });
    applyStatus(fleet, status("dev-1", { activeVersion: "1.0.0", withdrawn: null, at: "2026-03-01T10:06:00.000Z" }), T1);
    expect(device(fleet, "dev-1").withdrawn).toBeNull();
    applyStatus(fleet, status("dev-2"));
    expect(device(fleet, "dev-2").withdrawn).toBeNull();
  });

  it("a retained last-will seen alone: offline, nothing known, last seen is when the fleet view heard it", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, offlineStatus("dev-9"), T1);
    expect(device(fleet, "dev-9")).toMatchObject({ online: false, activeVersion: null, phase: null, deviceAt: null });
    expect(fleetSnapshot(fleet).devices[0]).toMatchObject({
      lastSeen: T1.toISOString(),
      lastSeenSource: "fleet-view",
    });
  });

  it("an empty retained status (topic cleared) removes the device", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    expect(applyFleetMessage(fleet, deviceStatusTopic("dev-1"), Buffer.alloc(0), T1)).toEqual({
      kind: "cleared",
      deviceId: "dev-1",
    });
    expect(fleet.size).toBe(0);
  });
});

describe("applyFleetMessage: events", () => {
  it("a failure event newer than the status's last result becomes the last result", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    expect(applyFleetMessage(fleet, deviceEventsTopic("dev-1"), json(event("dev-1")), T1)).toEqual({
      kind: "event",
      deviceId: "dev-1",
    });
    expect(device(fleet, "dev-1")).toMatchObject({
      activeVersion: "1.1.0",
      lastResult: { version: "1.2.0", result: "failed", errorCode: "DIGEST_MISMATCH", at: "2026-03-01T10:01:00.000Z" },
      lastEvent: { type: "failed", version: "1.2.0" },
      deviceAt: "2026-03-01T10:01:00.000Z",
    });
  });

  it("progress events and events older than the last result leave the last result alone", () => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    applyFleetMessage(fleet, deviceEventsTopic("dev-1"), json({ ...event("dev-1"), type: "downloaded" }), T1);
    applyFleetMessage(fleet, deviceEventsTopic("dev-1"), json({ ...event("dev-1"), at: "2026-03-01T09:00:00.000Z" }), T1);
    expect(device(fleet, "dev-1").lastResult).toMatchObject({ result: "succeeded", version: "1.1.0" });
    expect(device(fleet, "dev-1").lastEvent).toMatchObject({ type: "failed", at: "2026-03-01T09:00:00.000Z" });
  });

  it("an event from a device with no status yet adds it as online", () => {
    const fleet = emptyFleet();
    applyFleetMessage(fleet, deviceEventsTopic("dev-2"), json({ ...event("dev-2"), type: "update_started" }), T1);
    expect(device(fleet, "dev-2")).toMatchObject({ online: true, activeVersion: null, lastResult: null });
  });
});

describe("applyFleetMessage: garbage is skipped with a reason, the fleet untouched", () => {
  const statusTopic = deviceStatusTopic("dev-1");
  const cases: { what: string; topic: string; payload: Buffer; reason: RegExp }[] = [
    { what: "not JSON", topic: statusTopic, payload: Buffer.from("{oops"), reason: /not JSON/ },
    { what: "binary", topic: statusTopic, payload: Buffer.from([0xff, 0x00, 0x9c]), reason: /not JSON/ },
    { what: "a JSON array", topic: statusTopic, payload: json([status("dev-1")]), reason: /not a JSON object/ },
    { what: "JSON null", topic: statusTopic, payload: Buffer.from("null"), reason: /not a JSON object/ },
    { what: "another schema", topic: statusTopic, payload: json({ ...status("dev-1"), schema: 2 }), reason: /schema/ },
    {
      what: "a deviceId other than the topic's",
      topic: statusTopic,
      payload: json(status("dev-2")),
      reason: /"dev-2" does not match the topic's "dev-1"/,
    },
    {
      what: "online not a boolean",
      topic: statusTopic,
      payload: json({ ...status("dev-1"), online: "yes" }),
      reason: /online must be true or false/,
    },
    { what: "a bad time", topic: statusTopic, payload: json({ ...status("dev-1"), at: "yesterday" }), reason: /^at / },
    {
      what: "a malformed lastResult",
      topic: statusTopic,
      payload: json({ ...status("dev-1"), lastResult: { version: 3 } }),
      reason: /lastResult/,
    },
    {
      what: "a malformed withdrawn",
      topic: statusTopic,
      payload: json({ ...status("dev-1"), withdrawn: { ...WITHDRAWN, withdrawnAt: "soon" } }),
      reason: /withdrawn must be/,
    },
    { what: "a malformed health", topic: statusTopic, payload: json({ ...status("dev-1"), health: "ok" }), reason: /health/ },
    {
      what: "oversized",
      topic: statusTopic,
      payload: Buffer.concat([json(status("dev-1")), Buffer.alloc(FLEET_MESSAGE_MAX_BYTES, 0x20)]),
      reason: new RegExp(`at most ${FLEET_MESSAGE_MAX_BYTES}`),
    },
    {
      what: "an unknown event type",
      topic: deviceEventsTopic("dev-1"),
      payload: json({ ...event("dev-1"), type: "exploded" }),
      reason: /type must be one of/,
    },
    { what: "an empty event", topic: deviceEventsTopic("dev-1"), payload: Buffer.alloc(0), reason: /not JSON/ },
    { what: "a foreign topic", topic: "edgepull/v1/demo/channels/stable", payload: json({}), reason: /not a device/ },
  ];
  it.each(cases)("$what", ({ topic, payload, reason }) => {
    const fleet = emptyFleet();
    applyStatus(fleet, status("dev-1"));
    const before = structuredClone(device(fleet, "dev-1"));
    const outcome = applyFleetMessage(fleet, topic, payload, T1);
    expect(outcome.kind).toBe("skipped");
    expect(outcome.kind === "skipped" && outcome.reason).toMatch(reason);
    expect(fleet.size).toBe(1);
    expect(device(fleet, "dev-1")).toEqual(before);
  });

  it("a message just under the size limit is still read", () => {
    const fleet = emptyFleet();
    const body = json(status("dev-1"));
    const padded = Buffer.concat([body, Buffer.alloc(FLEET_MESSAGE_MAX_BYTES - body.length, 0x20)]);
    expect(applyFleetMessage(fleet, deviceStatusTopic("dev-1"), padded, T0).kind).toBe("status");
  });
});

describe("summarizeVersions", () => {
  const row = (
    id: string,
    v: string | null,
    online: boolean,
    result: string | null,
    withdrawn: DeviceView["withdrawn"] = null,
  ): DeviceView => ({
    deviceId: id,
    online,
    name: null,
    channel: null,
    agentVersion: null,
    activeVersion: v,
    previousVersion: null,
    phase: null,
    lastResult: result === null ? null : { version: "x", result, errorCode: null, at: null },
    health: null,
    withdrawn,
    lastEvent: null,
    deviceAt: null,
    heardAt: T0.toISOString(),
  });
  const cases: { what: string; devices: DeviceView[]; expected: ReturnType<typeof summarizeVersions> }[] = [
    { what: "no devices", devices: [], expected: [] },
    {
      what: "counts per version, newest semver first, no version last",
      devices: [
        row("a", "1.2.0", true, "succeeded"),
        row("b", "1.10.0", false, "rolled_back"),
        row("c", "1.2.0", false, "failed"),
        row("d", null, true, null),
        row("e", "1.2.0", true, "superseded"),
        row("f", "1.10.0", true, null),
      ],
      expected: [
        { version: "1.10.0", devices: 2, online: 1, failed: 1, withdrawn: 0 },
        { version: "1.2.0", devices: 3, online: 2, failed: 1, withdrawn: 0 },
        { version: null, devices: 1, online: 1, failed: 0, withdrawn: 0 },
      ],
    },
    {
      what: "devices reporting their version withdrawn are counted on it",
      devices: [
        row("a", "1.2.0", true, "succeeded", { ...WITHDRAWN, version: "1.2.0" }),
        row("b", "1.2.0", false, "succeeded", { ...WITHDRAWN, version: "1.2.0", action: "move" }),
        row("c", "1.2.0", true, "succeeded"),
        row("d", "1.1.0", true, "succeeded"),
      ],
      expected: [
        { version: "1.2.0", devices: 3, online: 2, failed: 0, withdrawn: 2 },
        { version: "1.1.0", devices: 1, online: 1, failed: 0, withdrawn: 0 },
      ],
    },
    {
      what: "non-semver versions after semver ones, alphabetically",
      devices: [row("a", "zeta", true, null), row("b", "alpha", true, null), row("c", "2.0.0", true, null)],
      expected: [
        { version: "2.0.0", devices: 1, online: 1, failed: 0, withdrawn: 0 },
        { version: "alpha", devices: 1, online: 1, failed: 0, withdrawn: 0 },
        { version: "zeta", devices: 1, online: 1, failed: 0, withdrawn: 0 },
      ],
    },
  ];
  it.each(cases)("$what", ({ devices, expected }) => {
    expect(summarizeVersions(devices)).toEqual(expected);
  });
});

describe("fleetSnapshot", () => {
  it("lists devices sorted by id", () => {
    const fleet = emptyFleet();
    for (const id of ["dev-c", "dev-a", "dev-b"]) applyStatus(fleet, status(id));
    expect(fleetSnapshot(fleet).devices.map((d) => d.deviceId)).toEqual(["dev-a", "dev-b", "dev-c"]);
  });
});
