import { access } from "node:fs/promises";
import { readCurrentVersion, removeLeftovers } from "../install/activate.js";
import { sweepDownloads } from "../install/downloads-janitor.js";
import { type Layout, versionDir } from "../install/layout.js";
import type { Logger } from "../logging.js";
import { recordedOrigin } from "../sources/sideload.js";
import type { ActivePhase } from "../state/phases.js";
import type { AttemptRow, StateStore } from "../state/store.js";
import { resumePhase } from "./machine.js";
import { downloadsWanted } from "./wanted-downloads.js";

export interface RecoveryPlan {
  /** What `current` points at on disk right now. */
  active: string | undefined;
  /** The open attempt to continue, the phase to continue it from, and whether it answers to the channel (resumesFromChannel). */
  resume?: { attempt: AttemptRow; phase: ActivePhase; fromChannel: boolean };
  removed: string[];
}

/**
 * Runs before any source starts. The symlink on disk is the truth; the journal
 * says what was intended. Partial staging and half-made links are discarded;
 * an open attempt is continued from the phase that may be half done, and
 * downloads/ keeps only what that attempt (or a failed last one, which may be
 * retried) can still use. `name` is the model the device follows.
 */
export async function planRecovery(layout: Layout, store: StateStore, name: string, logger: Logger): Promise<RecoveryPlan> {
  const removed = await removeLeftovers(layout);
  if (removed.length > 0) logger.warn({ removed }, "removed leftovers of an interrupted run");
  const active = await readCurrentVersion(layout);
  if (active !== undefined) {
    const present = await access(versionDir(layout, active)).then(
      () => true,
      () => false,
    );
    if (!present) logger.error({ active }, "current points at a version folder that does not exist");
  }
  const attempt = store.openAttempt();
  const owner = attempt ?? store.lastFinishedAttempt();
  const wanted = owner && downloadsWanted(owner, name, store.isDenied(owner.toVersion) !== undefined);
  sweepDownloads(layout, wanted, logger);
  if (!attempt) return { active, removed };
  const phase = resumePhase(attempt.phase as ActivePhase, active, attempt);
  logger.warn({ attempt: attempt.id, recorded: attempt.phase, onDisk: active, resumeAt: phase }, "found an interrupted attempt");
  return { active, resume: { attempt, phase, fromChannel: resumesFromChannel(attempt) }, removed };
}

/**
 * An update of a repository release (HTTP poll, pin, MQTT push) was started
 * because the channel named it, and a resumed one still answers to the
 * channel: dropped before activation when the channel goes back to the active
 * version (a rollout aborted while the device was down), as a new one is. A
 * sideload was the technician's choice, and a rollback starts past activation.
 */
export function resumesFromChannel(attempt: AttemptRow): boolean {
  return attempt.kind === "update" && attempt.releaseJson !== null && recordedOrigin(attempt.releaseJson) === "repository";
}
