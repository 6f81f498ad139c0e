import { describeWithdrawal, type WithdrawalEntry } from "../../shared/withdrawals.js";
import type { DeniedRow } from "../state/store.js";

/**
 * Decides whether a verified target should be installed now. Pure.
 */
export type Decision =
  | { action: "install"; version: string }
  | {
      action: "none";
      reason:
        | "up-to-date"
        | "denied"
        | "retry-later"
        | "busy"
        | "held"
        | "incompatible"
        | "not-in-rollout"
        | "rollout-paused"
        | "withdrawn";
      detail: string;
    };

export interface PlanInput {
  targetVersion: string;
  activeVersion: string | undefined;
  denied: DeniedRow | undefined;
  /** The publisher withdrew the active version. */
  activeWithdrawn?: WithdrawalEntry;
  /** Failed attempts at the target since its last success. */
  failures: { count: number; lastAt: string | null };
  /** The attempt in progress, if any. */
  running?: { toVersion: string; pastActivation: boolean };
  now: Date;
  retryBaseMs: number;
  retryCapMs: number;
}

export function retryDelayMs(failures: number, baseMs: number, capMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

export function planUpdate(input: PlanInput): Decision {
  const { targetVersion } = input;
  if (input.running) {
    if (input.running.toVersion === targetVersion) {
      return { action: "none", reason: "busy", detail: `already installing ${targetVersion}` };
    }
    // A deny-listed target does not wait for anything: say it is denied, not that it waits.
    if (input.running.pastActivation && !(input.denied && input.activeVersion !== targetVersion)) {
      return {
        action: "none",
        reason: "busy",
        detail: `${input.running.toVersion} is already active and under health check; ${targetVersion} waits`,
      };
    }
  }
  if (input.activeVersion === targetVersion) {
    const w = input.activeWithdrawn;
    if (w) {
      const why =
        w.action === "stay"
          ? "the publisher chose to keep it running"
          : "the channel still names it: nothing to move to until the publisher moves the channel";
      return { action: "none", reason: "withdrawn", detail: `${describeWithdrawal(w)}; ${why}` };
    }
    return { action: "none", reason: "up-to-date", detail: `${targetVersion} is active` };
  }
  if (input.denied) {
    return {
      action: "none",
      reason: "denied",
      detail: `${targetVersion} is on the deny-list (${input.denied.errorCode}: ${input.denied.reason}); clear it with edge-agent allow ${targetVersion}`,
    };
  }
  if (input.failures.count > 0 && input.failures.lastAt) {
    const wait = retryDelayMs(input.failures.count, input.retryBaseMs, input.retryCapMs);
    const due = Date.parse(input.failures.lastAt) + wait;
    if (input.now.getTime() < due) {
      return {
        action: "none",
        reason: "retry-later",
        detail: `${targetVersion} failed ${input.failures.count} time(s); next try after ${new Date(due).toISOString()}`,
      };
    }
  }
  return { action: "install", version: targetVersion };
}
