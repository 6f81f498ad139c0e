import type { Inventory } from "../../shared/topics.js";
import type { DeviceView } from "../fleet/fleet-state.js";

/**
 * What the fleet view does not keep and the dashboard shows: each device's
 * recent history, the fleet's recent events and each device's inventory.
 * Bounded in memory; fed the messages the fleet view already accepted. No I/O.
 */

export const HISTORY_PER_DEVICE = 100;
export const RECENT_EVENTS = 200;

/** A device event, or a change of what its status says (online, version, phase, health). */
export interface HistoryEntry {
  at: string;
  deviceId: string;
  /** A device event type (update_started ... rolled_back), or "online", "offline", "status". */
  type: string;
  version: string | null;
  errorCode: string | null;
  /** The event's error message, or the health error: device text, shown as text. */
  error: string | null;
  phase: string | null;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The inventory's known fields with the right types; anything else in it is dropped. */
export function pickInventory(v: unknown): Inventory | null {
  if (!isObject(v)) return null;
  const cpu = isObject(v.cpu) ? v.cpu : {};
  const memory = isObject(v.memory) ? v.memory : {};
  const disk = isObject(v.disk) ? v.disk : null;
  return {
    os: str(v.os) ?? "",
    kernel: str(v.kernel) ?? "",
    arch: str(v.arch) ?? "",
    cpu: { model: str(cpu.model) ?? "", cores: num(cpu.cores) ?? 0 },
    memory: { totalBytes: num(memory.totalBytes) ?? 0, availableBytes: num(memory.availableBytes) ?? 0 },
    disk: disk
      ? { mount: str(disk.mount) ?? "", availableBytes: num(disk.availableBytes) ?? 0, sizeBytes: num(disk.sizeBytes) ?? 0 }
      : null,
    temperatureC: num(v.temperatureC),
  };
}

function parse(payload: Buffer): Json | undefined {
  try {
    const body: unknown = JSON.parse(payload.toString("utf8"));
    return isObject(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

export class DeviceLog {
  private readonly histories = new Map<string, HistoryEntry[]>();
  private readonly inventories = new Map<string, Inventory>();
  private readonly recent: HistoryEntry[] = [];
  /** Entries added since the last `takeNewEvents()`, for the live stream. */
  private fresh: HistoryEntry[] = [];

  constructor(
    private readonly perDevice = HISTORY_PER_DEVICE,
    private readonly recentMax = RECENT_EVENTS,
  ) {}

  /** A status the fleet view applied; `before` is what the view held until then. */
  status(deviceId: string, payload: Buffer, before: DeviceView | undefined, after: DeviceView | undefined, heardAt: Date): void {
    const body = parse(payload);
    if (!body || !after) return;
    const inventory = pickInventory(body.inventory);
    if (inventory) this.inventories.set(deviceId, inventory);
    const at = str(body.at) ?? heardAt.toISOString();
    const entry = (type: string): HistoryEntry => ({
      at,
      deviceId,
      type,
      version: after.activeVersion,
      errorCode: after.lastResult?.errorCode ?? null,
      error: after.health?.error ?? null,
      phase: after.phase,
    });
    if (!before) {
      // First sight (at start, the retained burst of every device): history only, not a fleet event.
      this.add(entry(after.online ? "online" : "offline"), false);
    } else if (before.online !== after.online) {
      this.add(entry(after.online ? "online" : "offline"), true);
    } else if (
      before.activeVersion !== after.activeVersion ||
      before.phase !== after.phase ||
      before.health?.ok !== after.health?.ok
    ) {
      this.add(entry("status"), false);
    }
  }

  /** A device event (update_started ... rolled_back). */
  event(deviceId: string, payload: Buffer): void {
    const body = parse(payload);
    if (!body) return;
    this.add(
      {
        at: str(body.at) ?? new Date().toISOString(),
        deviceId,
        type: str(body.type) ?? "event",
        version: str(body.version),
        errorCode: str(body.errorCode),
        error: str(body.error),
        phase: null,
      },
      true,
    );
  }

  forget(deviceId: string): void {
    this.histories.delete(deviceId);
    this.inventories.delete(deviceId);
  }

  history(deviceId: string): HistoryEntry[] {
    return [...(this.histories.get(deviceId) ?? [])];
  }

  inventory(deviceId: string): Inventory | null {
    return this.inventories.get(deviceId) ?? null;
  }

  recentEvents(): HistoryEntry[] {
    return [...this.recent];
  }

  takeNewEvents(): HistoryEntry[] {
    const out = this.fresh;
    this.fresh = [];
    return out;
  }

  /** Every entry goes to the device's history; events and online changes also to the fleet's recent list. */
  private add(entry: HistoryEntry, fleetWide: boolean): void {
    const list = this.histories.get(entry.deviceId) ?? [];
    pushBounded(list, entry, this.perDevice);
    this.histories.set(entry.deviceId, list);
    if (!fleetWide) return;
    pushBounded(this.recent, entry, this.recentMax);
    pushBounded(this.fresh, entry, this.recentMax);
  }
}
