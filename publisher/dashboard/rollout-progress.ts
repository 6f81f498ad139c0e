import { inRollout } from "../../shared/rollout.js";
import type { DeviceView } from "../fleet/fleet-state.js";

/** A channel pointer as the repository holds it (edge-publish channels). */
export interface ChannelPointerRow {
  name: string;
  channel: string;
  version: string;
  sequence: number;
  rollout: { percent: number; paused: boolean };
}

/** How far one channel's release has reached the devices that follow the channel. */
export interface ChannelRollout extends ChannelPointerRow {
  /** Devices reporting this channel (and this model, or no model yet). */
  devices: number;
  /** Running the channel's version. */
  updated: number;
  /** Not running it, and their last attempt at it failed or was rolled back. */
  failed: number;
  /** Inside the rollout share (the same stable hash the devices use), not there yet and not failed. */
  pending: number;
  /** Outside the share: they stay where they are until it grows. */
  outside: number;
}

const FAILED_RESULTS: ReadonlySet<string> = new Set(["failed", "rolled_back"]);

function follows(device: DeviceView, pointer: ChannelPointerRow): boolean {
  return device.channel === pointer.channel && (device.name === null || device.name === pointer.name);
}

/** Counts per channel, in the order the pointers come. No I/O. */
export function rolloutProgress(pointers: readonly ChannelPointerRow[], devices: Iterable<DeviceView>): ChannelRollout[] {
  const rows = pointers.map((p): ChannelRollout => ({ ...p, devices: 0, updated: 0, failed: 0, pending: 0, outside: 0 }));
  for (const d of devices) {
    for (const row of rows) {
      if (!follows(d, row)) continue;
      row.devices++;
      if (d.activeVersion === row.version) row.updated++;
      else if (d.lastResult?.version === row.version && FAILED_RESULTS.has(d.lastResult.result ?? "")) row.failed++;
      else if (inRollout(d.deviceId, row.name, row.version, row.rollout.percent)) row.pending++;
      else row.outside++;
    }
  }
  return rows;
}
