import semver from "semver";
import { type DeviceEventType, deviceIdOfTopic, EVENT_TYPES } from "../../shared/topics.js";

/**
 * The fleet as the publisher's fleet view knows it, built from retained device
 * statuses and live events. No I/O: `applyFleetMessage` takes what the broker
 * delivered and updates the map it is given (in place, so a burst of thousands of
 * retained statuses stays linear).
 */

/** Statuses and events are a few KiB; anything past this is refused unread. */
export const FLEET_MESSAGE_MAX_BYTES = 64 * 1024;

/** Last results that count as failures in the per-version summary. */
const FAILED_RESULTS: ReadonlySet<string> = new Set(["failed", "rolled_back"]);
const RESULT_EVENTS: ReadonlySet<DeviceEventType> = new Set(["succeeded", "failed", "rolled_back"]);

export interface LastResult {
  version: string;
  result: string | null;
  errorCode: string | null;
  at: string | null;
}

export interface HealthView {
  ok: boolean;
  status?: number;
  error?: string;
}

/** The device's active version is on the publisher's withdrawal list (`action` "stay": kept on purpose). */
export interface WithdrawnView {
  version: string;
  reason: string;
  action: string;
  withdrawnAt: string;
}

export interface DeviceView {
  deviceId: string;
  online: boolean;
  name: string | null;
  channel: string | null;
  agentVersion: string | null;
  activeVersion: string | null;
  previousVersion: string | null;
  phase: string | null;
  lastResult: LastResult | null;
  health: HealthView | null;
  /** Set while the device reports its active version withdrawn (its state is then WITHDRAWN). */
  withdrawn: WithdrawnView | null;
  lastEvent: { type: DeviceEventType; version: string; at: string; errorCode: string | null } | null;
  /** The newest timestamp the device itself sent (status or event); null until it sent one. */
  deviceAt: string | null;
  /** When this fleet view last received anything about the device. */
  heardAt: string;
}

export type Fleet = Map<string, DeviceView>;

export type ApplyOutcome = { kind: "status" | "event" | "cleared"; deviceId: string } | { kind: "skipped"; reason: string };

export interface VersionSummary {
  /** null: devices with no active version. */
  version: string | null;
  devices: number;
  online: number;
  /** Devices on this version whose last update attempt failed or was rolled back. */
  failed: number;
  /** Devices on this version that report it withdrawn. */
  withdrawn: number;
}

export interface DeviceRow extends DeviceView {
  lastSeen: string;
  /** "device": its own `at`; "fleet-view": when we received it (a last-will carries no time). */
  lastSeenSource: "device" | "fleet-view";
}

export interface FleetSnapshot {
  devices: DeviceRow[];
  versions: VersionSummary[];
}

export function emptyFleet(): Fleet {
  return new Map();
}

type Json = Record<string, unknown>;

class Skip extends Error {}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field<T>(obj: Json, key: string, ok: (v: unknown) => v is T, what: string): T {
  const v = obj[key];
  if (!ok(v)) throw new Skip(`${key} must be ${what} (found ${JSON.stringify(v)?.slice(0, 60) ?? "nothing"})`);
  return v;
}

function optional<T>(obj: Json, key: string, ok: (v: unknown) => v is T, what: string): T | undefined {
  return obj[key] === undefined ? undefined : field(obj, key, ok, what);
}

const isString = (v: unknown): v is string => typeof v === "string";
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
const isTime = (v: unknown): v is string => typeof v === "string" && !Number.isNaN(Date.parse(v));
const isTimeOrNull = (v: unknown): v is string | null => v === null || isTime(v);
const isEventType = (v: unknown): v is DeviceEventType => (EVENT_TYPES as readonly unknown[]).includes(v);

function isLastResult(v: unknown): v is LastResult | null {
  if (v === null) return true;
  return isObject(v) && isString(v.version) && isStringOrNull(v.result) && isStringOrNull(v.errorCode) && isTimeOrNull(v.at);
}

function isHealth(v: unknown): v is HealthView {
  return (
    isObject(v) &&
    isBoolean(v.ok) &&
    (v.status === undefined || typeof v.status === "number") &&
    (v.error === undefined || isString(v.error))
  );
}

function isWithdrawn(v: unknown): v is WithdrawnView | null {
  if (v === null) return true;
  return isObject(v) && isString(v.version) && isString(v.reason) && isString(v.action) && isTime(v.withdrawnAt);
}

function parseBody(topic: string, payload: Buffer): { deviceId: string; kind: "status" | "events"; body: Json } {
  const deviceId = deviceIdOfTopic(topic);
  if (deviceId === undefined) throw new Skip("not a device status or events topic");
  const kind = topic.endsWith("/status") ? "status" : "events";
  if (payload.length > FLEET_MESSAGE_MAX_BYTES) {
    throw new Skip(`${payload.length} bytes; at most ${FLEET_MESSAGE_MAX_BYTES} accepted`);
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch {
    throw new Skip("not JSON");
  }
  if (!isObject(body)) throw new Skip("not a JSON object");
  if (body.schema !== 1) throw new Skip(`schema must be 1 (found ${JSON.stringify(body.schema)})`);
  if (body.deviceId !== deviceId) {
    throw new Skip(`deviceId ${JSON.stringify(body.deviceId)} does not match the topic's ${JSON.stringify(deviceId)}`);
  }
  return { deviceId, kind, body };
}

function blankDevice(deviceId: string, heardAt: string): DeviceView {
  return {
    deviceId,
    online: true,
    name: null,
    channel: null,
    agentVersion: null,
    activeVersion: null,
    previousVersion: null,
    phase: null,
    lastResult: null,
    health: null,
    withdrawn: null,
    lastEvent: null,
    deviceAt: null,
    heardAt,
  };
}

function newer(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

function applyStatus(fleet: Fleet, deviceId: string, body: Json, heardAt: string): void {
  const online = field(body, "online", isBoolean, "true or false");
  const at = field(body, "at", isTimeOrNull, "an ISO time or null");
  const name = optional(body, "name", isString, "a string");
  const channel = optional(body, "channel", isString, "a string");
  const agentVersion = optional(body, "agentVersion", isString, "a string");
  const activeVersion = optional(body, "activeVersion", isStringOrNull, "a string or null");
  const previousVersion = optional(body, "previousVersion", isStringOrNull, "a string or null");
  const phase = optional(body, "phase", isString, "a string");
  const lastResult = optional(body, "lastResult", isLastResult, "{version, result, errorCode, at} or null");
  const health = optional(body, "health", isHealth, "{ok, status?, error?}");
  const withdrawn = optional(body, "withdrawn", isWithdrawn, "{version, reason, action, withdrawnAt} or null");

  const before = fleet.get(deviceId);
  // An offline status is the last-will (the broker speaking for a vanished device, at: null)
  // or the agent's goodbye on a clean stop (same shape, with at). Neither knows more than
  // "offline", so what the device last said stays, except health, which was a live reading.
  const base = !online && before ? before : blankDevice(deviceId, heardAt);
  fleet.set(deviceId, {
    ...base,
    online,
    name: name ?? base.name,
    channel: channel ?? base.channel,
    agentVersion: agentVersion ?? base.agentVersion,
    activeVersion: activeVersion === undefined ? base.activeVersion : activeVersion,
    previousVersion: previousVersion === undefined ? base.previousVersion : previousVersion,
    phase: phase ?? base.phase,
    lastResult: lastResult === undefined ? base.lastResult : lastResult,
    health: online ? (health ?? null) : null,
    // Like the active version, what the device last said about it (a last-will says nothing).
    withdrawn: withdrawn === undefined ? base.withdrawn : withdrawn,
    lastEvent: before?.lastEvent ?? null,
    deviceAt: newer(before?.deviceAt ?? null, at),
    heardAt,
  });
}

function applyEvent(fleet: Fleet, deviceId: string, body: Json, heardAt: string): void {
  const type = field(body, "type", isEventType, `one of ${EVENT_TYPES.join(", ")}`);
  const at = field(body, "at", isTime, "an ISO time");
  const version = field(body, "version", isString, "a string");
  const errorCode = field(body, "errorCode", isStringOrNull, "a string or null");
  // A device heard only through an event is connected right now: it just spoke.
  const device = { ...(fleet.get(deviceId) ?? blankDevice(deviceId, heardAt)) };
  device.lastEvent = { type, version, at, errorCode };
  device.deviceAt = newer(device.deviceAt, at);
  device.heardAt = heardAt;
  const known = device.lastResult?.at ?? null;
  // Events arrive before the next status does; a newer outcome is shown at once.
  if (RESULT_EVENTS.has(type) && (known === null || Date.parse(at) >= Date.parse(known))) {
    device.lastResult = { version, result: type, errorCode, at };
  }
  fleet.set(deviceId, device);
}

/**
 * Applies one message from `edgepull/v1/devices/+/status` or `.../events`.
 * Garbage is reported as skipped with the reason, never thrown. An empty
 * retained status (someone clearing the topic) removes the device.
 */
export function applyFleetMessage(fleet: Fleet, topic: string, payload: Buffer, receivedAt: Date): ApplyOutcome {
  const heardAt = receivedAt.toISOString();
  try {
    if (payload.length === 0 && topic.endsWith("/status")) {
      const deviceId = deviceIdOfTopic(topic);
      if (deviceId === undefined) throw new Skip("not a device status or events topic");
      fleet.delete(deviceId);
      return { kind: "cleared", deviceId };
    }
    const { deviceId, kind, body } = parseBody(topic, payload);
    if (kind === "status") {
      applyStatus(fleet, deviceId, body, heardAt);
      return { kind: "status", deviceId };
    }
    applyEvent(fleet, deviceId, body, heardAt);
    return { kind: "event", deviceId };
  } catch (err) {
    if (err instanceof Skip) return { kind: "skipped", reason: err.message };
    throw err;
  }
}

function compareVersions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const va = semver.valid(a);
  const vb = semver.valid(b);
  if (va && vb) return semver.rcompare(va, vb);
  if (va) return -1;
  if (vb) return 1;
  return a < b ? -1 : 1;
}

/** Devices per active version, newest version first, devices with none last. */
export function summarizeVersions(devices: Iterable<DeviceView>): VersionSummary[] {
  const byVersion = new Map<string | null, VersionSummary>();
  for (const d of devices) {
    const s = byVersion.get(d.activeVersion) ?? { version: d.activeVersion, devices: 0, online: 0, failed: 0, withdrawn: 0 };
    s.devices++;
    if (d.online) s.online++;
    if (d.withdrawn) s.withdrawn++;
    const result = d.lastResult?.result;
    if (result && FAILED_RESULTS.has(result)) s.failed++;
    byVersion.set(d.activeVersion, s);
  }
  return [...byVersion.values()].sort((a, b) => compareVersions(a.version, b.version));
}

/** Devices sorted by id, each with the time to show as last seen, and the per-version summary. */
export function fleetSnapshot(fleet: Fleet): FleetSnapshot {
  const devices = [...fleet.values()]
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0))
    .map(
      (d): DeviceRow => ({
        ...d,
        lastSeen: d.deviceAt ?? d.heardAt,
        lastSeenSource: d.deviceAt === null ? "fleet-view" : "device",
      }),
    );
  return { devices, versions: summarizeVersions(devices) };
}
