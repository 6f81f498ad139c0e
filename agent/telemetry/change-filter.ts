import { canonicalJson } from "../../shared/canonical-json.js";
import type { DeviceStatusMessage, Inventory } from "../../shared/topics.js";

const MIB = 1024 * 1024;
export const MEMORY_STEP_BYTES = 64 * MIB;
export const DISK_MIN_STEP_BYTES = 256 * MIB;
export const DISK_STEP_FRACTION = 0.01;
export const TEMPERATURE_STEP_C = 2;

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

/** Everything a status says except when it was said, with the inventory coarsened: equal keys mean the second need not be sent. */
export function statusKey(msg: DeviceStatusMessage): string {
  const { at: _at, ...rest } = msg;
  return canonicalJson(rest.inventory ? { ...rest, inventory: quantizeInventory(rest.inventory) } : rest);
}
