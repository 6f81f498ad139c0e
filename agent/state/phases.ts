/**
 * The phases of one update attempt, in order. The journal records a phase
 * before its side effect runs, so after a crash the recorded phase names the
 * step that may be half done and must be redone or undone.
 *
 *   downloading -> staging -> [validating] -> [waiting] -> activating -> starting -> probation -> succeeded
 *   (`validating` only with a `validate` command: the operator's check of the staged version;
 *   `waiting` only with maintenance windows: staged, holding the swap for a window)
 *   any failure before `activating`           -> failed
 *   any failure from `activating` on          -> rolling_back -> rolled_back | failed
 */
export const PHASES = [
  "downloading",
  "staging",
  "validating",
  "waiting",
  "activating",
  "starting",
  "probation",
  "rolling_back",
  "succeeded",
  "rolled_back",
  "failed",
  "superseded",
] as const;

export type Phase = (typeof PHASES)[number];
export type ActivePhase = Exclude<Phase, TerminalPhase>;
export type TerminalPhase = "succeeded" | "rolled_back" | "failed" | "superseded";
export type AttemptResult = TerminalPhase;

export function isTerminal(phase: Phase): phase is TerminalPhase {
  return phase === "succeeded" || phase === "rolled_back" || phase === "failed" || phase === "superseded";
}

/** From `activating` on, `current` may have moved: the attempt must end in commit or rollback. */
export function isPastActivation(phase: Phase): boolean {
  return phase === "activating" || phase === "starting" || phase === "probation" || phase === "rolling_back";
}

export function isPhase(value: string): value is Phase {
  return (PHASES as readonly string[]).includes(value);
}
