import { canonicalJson } from "../../shared/canonical-json.js";
import type { DeviceStatusMessage, Inventory, VersionHealth } from "../../shared/topics.js";

const MIB = 1024 * 1024;
export const MEMORY_STEP_BYTES = 64 * MIB;
export const DISK_MIN_STEP_BYTES = 256 * MIB;
export const DISK_STEP_FRACTION = 0.01;
export const TEMPERATURE_STEP_C = 2;
export const SERVING_STEP_SECONDS = 3600;

/** Free space is rounded down: the fleet view may understate it, never promise bytes that are not there. */
function floorTo(value: number, step: number): number {
  return Math.floor(value / step) * step;
}

/**
 * The inventory with its jittering numbers coarsened, so that a status is
 * resent only when one of them moves by a step that matters. A value sitting
 * right on a step boundary can still flip between neighbours; the reporter's
 * minimum interval bounds what that costs.
 */
export function quantizeInventory(inv: Inventory): Inventory {
  const disk = inv.disk
    ? {
        ...inv.disk,
        availableBytes: floorTo(
          inv.disk.availableBytes,
          Math.max(DISK_MIN_STEP_BYTES, Math.ceil(inv.disk.sizeBytes * DISK_STEP_FRACTION)),
        ),
      }
    : null;
  return {
    ...inv,
    cpu: { ...inv.cpu },
    memory: { ...inv.memory, availableBytes: floorTo(inv.memory.availableBytes, MEMORY_STEP_BYTES) },
    disk,
    // Nearest even degree: a reading shown as 42 is within 1 °C of the truth.
    temperatureC: inv.temperatureC === null ? null : Math.round(inv.temperatureC / TEMPERATURE_STEP_C) * TEMPERATURE_STEP_C,
  };
}

/**
 * Serving seconds grow with every health probe: counted in whole hours for the
 * key, a status goes out when a version passes an hour (or a rollback or
 * deny-list entry appears), and the heartbeat carries the exact figures.
 */
export function quantizeVersionHealth(list: readonly VersionHealth[]): VersionHealth[] {
  return list.map((v) => ({
    ...v,
    healthySeconds: floorTo(v.healthySeconds, SERVING_STEP_SECONDS),
    unhealthySeconds: floorTo(v.unhealthySeconds, SERVING_STEP_SECONDS),
  }));
}

/** Everything a status says except when it was said, with the inventory and serving time coarsened: equal keys mean the second need not be sent. */
export function statusKey(msg: DeviceStatusMessage): string {
  const { at: _at, ...rest } = msg;
  return canonicalJson({
    ...rest,
    ...(rest.inventory ? { inventory: quantizeInventory(rest.inventory) } : {}),
    ...(rest.versionHealth ? { versionHealth: quantizeVersionHealth(rest.versionHealth) } : {}),
  });
}
