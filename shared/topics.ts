import type { AttemptJson } from "./attempt-json.js";
/**
 * Every MQTT topic and payload edgepull uses, in one place. Publisher, agent,
 * fleet view and anyone scripting with mosquitto_pub/sub read this module (and
 * the README table made from it).
 *
 *   edgepull/v1/<name>/channels/<channel>     retained, QoS 1: the signed channel pointer,
 *                                             byte for byte the repository's channels/<name>/<channel>.json
 *   edgepull/v1/<name>/withdrawals            retained, QoS 1: the signed withdrawal list,
 *                                             byte for byte the repository's withdrawals/<name>.json
 *   edgepull/v1/devices/<deviceId>/status     retained, QoS 1: DeviceStatusMessage; the broker
 *                                             publishes { online: false } as last-will
 *   edgepull/v1/devices/<deviceId>/events     QoS 1, not retained: DeviceEvent
 */
export const TOPIC_ROOT = "edgepull/v1";

/** A pointer is a few hundred bytes; anything far larger is refused unread. */
export const POINTER_MAX_BYTES = 64 * 1024;

export function channelTopic(name: string, channel: string): string {
  return `${TOPIC_ROOT}/${name}/channels/${channel}`;
}

/** A withdrawal entry is about 250 bytes: room for a thousand of them. */
export const WITHDRAWALS_MAX_BYTES = 256 * 1024;

export function withdrawalsTopic(name: string): string {
  return `${TOPIC_ROOT}/${name}/withdrawals`;
}

export function deviceStatusTopic(deviceId: string): string {
  return `${TOPIC_ROOT}/devices/${deviceId}/status`;
}

export function deviceEventsTopic(deviceId: string): string {
  return `${TOPIC_ROOT}/devices/${deviceId}/events`;
}

/** Subscriptions for the fleet view. */
export const ALL_DEVICE_STATUS = `${TOPIC_ROOT}/devices/+/status`;
export const ALL_DEVICE_EVENTS = `${TOPIC_ROOT}/devices/+/events`;

/** Every model's retained channel pointers, for the fleet view's expiry warnings. */
export const ALL_CHANNEL_POINTERS = `${TOPIC_ROOT}/+/channels/+`;

/** Every model's retained withdrawal list, for the fleet view's expiry warnings. */
export const ALL_WITHDRAWAL_LISTS = `${TOPIC_ROOT}/+/withdrawals`;

/** The model a withdrawal list topic names, or undefined. */
export function withdrawalsNameOfTopic(topic: string): string | undefined {
  return /^edgepull\/v1\/([^/]+)\/withdrawals$/.exec(topic)?.[1];
}

/** The model and channel a channel topic names, or undefined. */
export function channelOfTopic(topic: string): { name: string; channel: string } | undefined {
  const match = /^edgepull\/v1\/([^/]+)\/channels\/([^/]+)$/.exec(topic);
  return match?.[1] && match[2] ? { name: match[1], channel: match[2] } : undefined;
}

/** The device id a status or events topic names, or undefined. */
export function deviceIdOfTopic(topic: string): string | undefined {
  const match = /^edgepull\/v1\/devices\/([^/]+)\/(status|events)$/.exec(topic);
  return match?.[1];
}

/** MQTT topic levels must not contain wildcards, separators or NUL. */
export function topicLevelProblem(value: string, what: string): string | undefined {
  if (value.length === 0 || /[+#/]/.test(value) || value.includes("\0")) {
    return `${what} cannot be used in an MQTT topic (no '+', '#', '/' or NUL)`;
  }
  return undefined;
}

export interface Inventory {
  os: string;
  kernel: string;
  arch: string;
  cpu: { model: string; cores: number };
  memory: { totalBytes: number; availableBytes: number };
  disk: { mount: string; availableBytes: number; sizeBytes: number } | null;
  /** Degrees Celsius, when the board reports it. */
  temperatureC: number | null;
}

/**
 * What a device counted for one version it served or tried (the agent's
 * journal; README "Healthy device-hours"). healthySeconds: time the daemon
 * watched it serving with every readiness probe answering ready;
 * unhealthySeconds: watched time with any probe not; rollbacks: times the
 * device left it because it failed (an automatic rollback after a failed
 * activation or probation, or an operator's rollback from it); denied: it is
 * on the device's deny-list.
 */
export interface VersionHealth {
  version: string;
  healthySeconds: number;
  unhealthySeconds: number;
  rollbacks: number;
  denied: boolean;
}

export interface DeviceStatusMessage {
  schema: 1;
  deviceId: string;
  online: boolean;
  /** When the device sent it; null in the last-will, which the broker sends later on its behalf. */
  at: string | null;
  name?: string;
  channel?: string;
  agentVersion?: string;
  activeVersion?: string | null;
  previousVersion?: string | null;
  phase?: string;
  /** The short form fleet tools before lastUpdate read; kept, derived from lastUpdate. */
  lastResult?: { version: string; result: string | null; errorCode: string | null; at: string | null } | null;
  /** The open attempt, else the last finished one, in the shape of every other surface (schemas/attempt.json). */
  lastUpdate?: AttemptJson | null;
  health?: { ok: boolean; status?: number; error?: string };
  /** Set while the active version is on the publisher's withdrawal list (`action` "stay": kept on purpose). */
  withdrawn?: { version: string; reason: string; action: string; withdrawnAt: string } | null;
  /** The versions the device served or tried, the most recent first (at most VERSION_HEALTH_LIMIT). */
  versionHealth?: VersionHealth[];
  inventory?: Inventory;
}

/** A status names at most this many versions: the newest ones, so it stays a few KiB. */
export const VERSION_HEALTH_LIMIT = 16;

export const EVENT_TYPES = ["update_started", "downloaded", "activated", "succeeded", "failed", "rolled_back"] as const;
export type DeviceEventType = (typeof EVENT_TYPES)[number];

export interface DeviceEvent {
  schema: 1;
  deviceId: string;
  /** The model the device follows: consumers on a broker shared by several models filter on it. */
  name: string;
  type: DeviceEventType;
  at: string;
  version: string;
  fromVersion: string | null;
  attempt: number;
  errorCode: string | null;
  error: string | null;
  durationMs: number;
  bytes: number;
}

/** The retained last-will: what the broker says when a device vanishes. */
export function offlineStatus(deviceId: string): DeviceStatusMessage {
  return { schema: 1, deviceId, online: false, at: null };
}
