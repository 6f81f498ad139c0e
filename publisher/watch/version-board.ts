import type { Logger } from "pino";
import { COMPLETE_MARKER, compareVersions } from "./version-folders.js";

export type CompleteReason = "marker" | "stable";

type Phase = "waiting" | "complete" | "building" | "done" | "failed";

interface Entry {
  phase: Phase;
  reason?: CompleteReason;
  timer?: NodeJS.Timeout;
  changedWhileBuilding: boolean;
  warnedAfterDone: boolean;
}

/**
 * Which version folders are still being written, which are complete and
 * waiting their turn, and which are done. A folder is complete when its
 * `.complete` marker appears or when nothing in it has changed for `stableMs`,
 * whichever comes first. Only timers are side effects here; building is the
 * caller's job (`next()` / `finished()`).
 */
export class VersionBoard {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly stableMs: number,
    private readonly logger: Logger,
    /** Called whenever a version may have become ready or the board may have gone idle. */
    private readonly onChange: () => void,
  ) {}

  /** A version already in the repository when watching began: never built again. */
  skip(version: string): void {
    this.entries.set(version, { phase: "done", changedWhileBuilding: false, warnedAfterDone: true });
  }

  /** Something in the version's folder was added, changed or removed; `marker` when it is the marker arriving. */
  touch(version: string, marker: boolean): void {
    let entry = this.entries.get(version);
    if (!entry) {
      entry = { phase: "waiting", changedWhileBuilding: false, warnedAfterDone: false };
      this.entries.set(version, entry);
      this.logger.info(
        { version, marker: COMPLETE_MARKER, stableMs: this.stableMs },
        "version folder seen; waiting for its marker or for it to stop changing",
      );
    }
    switch (entry.phase) {
      case "building":
        entry.changedWhileBuilding = true;
        return;
      case "done":
        if (!entry.warnedAfterDone) {
          entry.warnedAfterDone = true;
          this.logger.warn(
            { version },
            "version folder changed after it was handled; a version is immutable, drop the new content as a new version folder",
          );
        }
        return;
      case "failed":
        this.logger.info({ version }, "version folder changed after a failed build; it will be tried again once complete");
        entry.phase = "waiting";
        break;
      case "complete":
        // A marker is training's word; quiet is only a guess that new writes disprove.
        if (entry.reason === "marker") return;
        entry.phase = "waiting";
        break;
      case "waiting":
        break;
    }
    if (marker) this.complete(version, entry, "marker");
    else this.arm(version, entry);
  }

  /** The version's folder is gone. */
  removed(version: string): void {
    const entry = this.entries.get(version);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.entries.delete(version);
    if (entry.phase !== "done") this.logger.info({ version, phase: entry.phase }, "version folder removed");
    this.onChange();
  }

  /** The lowest complete version, now marked as building; undefined when none is ready. */
  next(): { version: string; reason: CompleteReason } | undefined {
    let best: string | undefined;
    for (const [version, entry] of this.entries) {
      if (entry.phase === "complete" && (best === undefined || compareVersions(version, best) < 0)) best = version;
    }
    if (best === undefined) return undefined;
    const entry = this.entries.get(best) as Entry;
    entry.phase = "building";
    entry.changedWhileBuilding = false;
    return { version: best, reason: entry.reason ?? "stable" };
  }

  /** The build (and publish) of `version` ended. */
  finished(version: string, ok: boolean): void {
    const entry = this.entries.get(version);
    if (entry?.phase !== "building") return; // removed (or removed and recreated) meanwhile
    if (ok) {
      entry.phase = "done";
      if (entry.changedWhileBuilding) {
        entry.warnedAfterDone = true;
        this.logger.warn(
          { version },
          "version folder changed while it was being built; the release holds the files as they were when the build began",
        );
      }
    } else if (entry.changedWhileBuilding) {
      // The failure may come from the change itself (a file still being written): try again once it settles.
      entry.phase = "waiting";
      entry.reason = undefined;
      this.arm(version, entry);
    } else {
      entry.phase = "failed";
    }
  }

  /** Versions whose folders are still being written (no marker seen, not quiet yet). */
  waiting(): string[] {
    return [...this.entries].filter(([, e]) => e.phase === "waiting").map(([v]) => v);
  }

  /** Nothing waiting to become complete, complete but not started, or building. */
  isIdle(): boolean {
    for (const entry of this.entries.values()) {
      if (entry.phase === "waiting" || entry.phase === "complete" || entry.phase === "building") return false;
    }
    return true;
  }

  /** Clears every timer (on stop). */
  clear(): void {
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
  }

  private arm(version: string, entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (entry.phase === "waiting" && this.entries.get(version) === entry) this.complete(version, entry, "stable");
    }, this.stableMs);
  }

  private complete(version: string, entry: Entry, reason: CompleteReason): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.phase = "complete";
    entry.reason = reason;
    this.logger.info(
      { version, reason },
      reason === "marker" ? `version complete: ${COMPLETE_MARKER} found` : "version complete: no change for the stable time",
    );
    this.onChange();
  }
}
