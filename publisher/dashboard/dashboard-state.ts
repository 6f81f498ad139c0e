import type { Inventory } from "../../shared/topics.js";
import type { ApplyOutcome, DeviceRow, DeviceView, Fleet, VersionSummary } from "../fleet/fleet-state.js";
import { summarizeVersions } from "../fleet/fleet-state.js";
import { DeviceLog, type HistoryEntry } from "./device-log.js";
import { type ChannelPointerRow, type ChannelRollout, rolloutProgress } from "./rollout-progress.js";
import { type RolloutPoint, RolloutSeries } from "./rollout-series.js";

export interface DashboardDevice extends DeviceRow {
  inventory: Inventory | null;
}

/** GET /api/snapshot, and the first message of every event stream. */
export interface DashboardSnapshot {
  generatedAt: string;
  devices: DashboardDevice[];
  versions: VersionSummary[];
  channels: ChannelRollout[];
  events: HistoryEntry[];
  series: Record<string, RolloutPoint[]>;
  /** Channel pointer files that could not be read, one line each. */
  problems: string[];
}

/** What changed since the last update: only the devices that did, everything small in full. */
export interface DashboardUpdate {
  generatedAt: string;
  devices: DashboardDevice[];
  removed: string[];
  versions: VersionSummary[];
  channels: ChannelRollout[];
  events: HistoryEntry[];
  points: Record<string, RolloutPoint>;
  problems: string[];
}

function byId(a: { deviceId: string }, b: { deviceId: string }): number {
  return a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0;
}

/**
 * The dashboard's view of the fleet: the fleet view's map (filled by the
 * MQTT subscription), the repository's channel pointers, and what the fleet
 * view does not keep (history, inventory, the rollout series). Messages mark
 * devices changed; `flush()` turns the marks into one update. No I/O, no timers.
 */
export class DashboardState {
  readonly fleet: Fleet = new Map();
  private readonly log = new DeviceLog();
  private readonly series = new RolloutSeries();
  /** The view of each device as of its previous message, to tell what a status changed. */
  private readonly seen = new Map<string, DeviceView>();
  private readonly changed = new Set<string>();
  private readonly removed = new Set<string>();
  private pointers: ChannelPointerRow[] = [];
  private problems: string[] = [];
  private dirty = false;

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** A message the fleet view applied (after it did). */
  apply(outcome: ApplyOutcome | { kind: string }, payload: Buffer): void {
    if (!("deviceId" in outcome)) {
      this.dirty = true;
      return;
    }
    const id = outcome.deviceId;
    const after = this.fleet.get(id);
    if (outcome.kind === "cleared") {
      this.seen.delete(id);
      this.log.forget(id);
      this.changed.delete(id);
      this.removed.add(id);
    } else {
      if (outcome.kind === "status") this.log.status(id, payload, this.seen.get(id), after, this.now());
      else this.log.event(id, payload);
      if (after) this.seen.set(id, after);
      this.removed.delete(id);
      this.changed.add(id);
    }
    this.dirty = true;
  }

  /** The repository's pointers, re-read; marks the rollouts changed when they differ. */
  setPointers(pointers: ChannelPointerRow[], problems: string[]): void {
    if (
      JSON.stringify(pointers) === JSON.stringify(this.pointers) &&
      JSON.stringify(problems) === JSON.stringify(this.problems)
    ) {
      return;
    }
    this.pointers = pointers;
    this.problems = problems;
    this.dirty = true;
  }

  get pending(): boolean {
    return this.dirty;
  }

  private row(d: DeviceView): DashboardDevice {
    return {
      ...d,
      lastSeen: d.deviceAt ?? d.heardAt,
      lastSeenSource: d.deviceAt === null ? "fleet-view" : "device",
      inventory: this.log.inventory(d.deviceId),
    };
  }

  /** Reads only: the series grows in flush(), so every point also reaches the live streams. */
  snapshot(): DashboardSnapshot {
    const channels = rolloutProgress(this.pointers, this.fleet.values());
    return {
      generatedAt: this.now().toISOString(),
      devices: [...this.fleet.values()].sort(byId).map((d) => this.row(d)),
      versions: summarizeVersions(this.fleet.values()),
      channels,
      events: this.log.recentEvents(),
      series: this.series.all(),
      problems: [...this.problems],
    };
  }

  /** The changes since the previous flush, or undefined when there were none. */
  flush(): DashboardUpdate | undefined {
    if (!this.dirty) return undefined;
    this.dirty = false;
    const devices = [...this.changed]
      .map((id) => this.fleet.get(id))
      .filter((d): d is DeviceView => d !== undefined)
      .sort(byId)
      .map((d) => this.row(d));
    const removed = [...this.removed];
    this.changed.clear();
    this.removed.clear();
    const channels = rolloutProgress(this.pointers, this.fleet.values());
    return {
      generatedAt: this.now().toISOString(),
      devices,
      removed,
      versions: summarizeVersions(this.fleet.values()),
      channels,
      events: this.log.takeNewEvents(),
      points: this.series.record(channels, this.now()),
      problems: [...this.problems],
    };
  }

  history(deviceId: string): { device: DashboardDevice; history: HistoryEntry[] } | undefined {
    const d = this.fleet.get(deviceId);
    return d ? { device: this.row(d), history: this.log.history(deviceId) } : undefined;
  }
}
