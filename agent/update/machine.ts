import type { ActivePhase, Phase } from "../state/phases.js";

/**
 * The pure transition function of an attempt: given the phase that just ran
 * and whether it succeeded, the next phase. The orchestrator performs effects;
 * this decides order, so the order can be tested without any.
 */
export type Outcome = "ok" | "failed";

export interface MachineOptions {
  probationSeconds: number;
  /** With maintenance windows, a staged version waits for one before the swap. */
  hasWindows?: boolean;
  /** With a `validate` command, a staged version is validated before anything else happens to it. */
  validates?: boolean;
}

export function transition(phase: ActivePhase, outcome: Outcome, opts: MachineOptions): Phase {
  if (outcome === "failed") {
    switch (phase) {
      case "downloading":
      case "staging":
      case "validating":
      case "waiting":
        return "failed";
      case "activating":
      case "starting":
      case "probation":
        return "rolling_back";
      case "rolling_back":
        return "failed";
    }
  }
  switch (phase) {
    case "downloading":
      return "staging";
    case "staging":
      return opts.validates ? "validating" : afterValidation(opts);
    case "validating":
      return afterValidation(opts);
    case "waiting":
      return "activating";
    case "activating":
      return "starting";
    case "starting":
      return opts.probationSeconds > 0 ? "probation" : "succeeded";
    case "probation":
      return "succeeded";
    case "rolling_back":
      return "rolled_back";
  }
}

function afterValidation(opts: MachineOptions): Phase {
  return opts.hasWindows ? "waiting" : "activating";
}

/** Where a manual rollback starts: the target is already staged, so straight to the swap. */
export const ROLLBACK_START: ActivePhase = "activating";
export const UPDATE_START: ActivePhase = "downloading";

/**
 * Where to pick up an attempt the journal left open, given what `current`
 * points at on disk (the truth) and what the journal intended.
 */
export function resumePhase(
  recorded: ActivePhase,
  onDisk: string | undefined,
  attempt: { toVersion: string; fromVersion: string | null },
): ActivePhase {
  switch (recorded) {
    case "downloading":
    case "staging":
    case "waiting":
      return recorded;
    case "validating":
      // Nothing has touched the serving version: the check simply runs again (steps/validate.ts
      // first stops a validator the crashed agent left running).
      return "validating";
    case "activating":
      return "activating";
    case "starting":
    case "probation":
      // The service must be started again either way; if the link never moved, redo the swap.
      return onDisk === attempt.toVersion ? "starting" : "activating";
    case "rolling_back":
      return "rolling_back";
  }
}
