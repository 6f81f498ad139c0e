import { EdgeError, type ErrorCode } from "../../shared/errors.js";
import { type ActivePhase, type AttemptResult, isPastActivation, isTerminal } from "../state/phases.js";
import { type AttemptFacts, type AttemptPhase, carriedBy, JOURNAL_PHASE, type StepPhase, stepFor } from "./attempt-state.js";
import { fallBackToBundle } from "./delivery.js";
import { type MachineOptions, transition as nextJournalPhase } from "./machine.js";

/** Why the attempt's signal was aborted: the agent is stopping (resume later) or a newer target arrived. */
export type StopKind = "shutdown" | "superseded";

/** What came of running a step (or of looking at the signal before the swap). */
export type StepEvent =
  | { type: "done" }
  | { type: "failed"; error: EdgeError }
  /** The delta could not be used (download, memory, rebuild, check): the bundle is next. */
  | { type: "delta-unusable"; error: EdgeError }
  /** A stop had arrived when the attempt reached the swap: `current` must not move. */
  | { type: "stop-before-activation"; reason: StopKind }
  /** A stop aborted the step while it ran. */
  | { type: "stopped"; reason: StopKind; thrown: unknown };

/** The journal and file bookkeeping between steps, run in order by the orchestrator (effects.ts). */
export type Effect =
  /** The phase's side effect is done (the `after:<phase>` fault point). */
  | { type: "phase-done"; phase: ActivePhase }
  | { type: "record-error"; error: EdgeError }
  /** The journal learns why the delta was given up; downloads/ keeps only the bundle. */
  | { type: "record-delta-fallback"; error: EdgeError }
  | { type: "clean-staging" }
  /** A staged version that failed validation goes, as a failed staging leaves nothing behind. */
  | { type: "discard-version"; version: string }
  | { type: "finish"; result: AttemptResult; rollbackError?: { code: ErrorCode; message: string } }
  /** The new version proved healthy: previous version, deny-list (steps/commit.ts). */
  | { type: "commit" }
  /** Old versions go; the active and previous ones stay. */
  | { type: "prune" }
  | { type: "log"; level: "info" | "warn" | "error"; fields: Record<string, unknown>; message: string };

export interface AttemptState {
  attempt: AttemptFacts;
  phase: StepPhase;
}

export interface Transition {
  next: AttemptPhase;
  effects: Effect[];
}

/**
 * The attempt's pure transition: from the step that ran and what came of it,
 * the next step (with what it carries) and the bookkeeping to do first. The
 * order of journal phases is machine.ts's; this adds the data and the effects.
 */
export function transition(state: AttemptState, event: StepEvent, opts: MachineOptions): Transition {
  switch (event.type) {
    case "done":
      return succeeded(state, opts);
    case "failed":
      return failed(state, event.error, opts);
    case "delta-unusable":
      return deltaUnusable(state, event.error, opts);
    case "stop-before-activation":
      return stopBeforeActivation(state.attempt, event.reason);
    case "stopped":
      return stopped(state, event.reason, event.thrown);
  }
}

function succeeded({ attempt, phase }: AttemptState, opts: MachineOptions): Transition {
  const journal = JOURNAL_PHASE[phase.step];
  const next = nextJournalPhase(journal, "ok", opts);
  const done: Effect = { type: "phase-done", phase: journal };
  if (!isTerminal(next)) return { next: stepFor(next, carriedBy(phase)), effects: [done] };
  if (next === "succeeded") {
    return { next: ended(next), effects: [done, { type: "finish", result: next }, { type: "commit" }, { type: "prune" }] };
  }
  const cause = phase.step === "roll-back" ? phase.cause : undefined;
  return { next: ended(next), effects: [done, ...endWithoutCommit(attempt, next, cause)] };
}

function failed({ attempt, phase }: AttemptState, error: EdgeError, opts: MachineOptions): Transition {
  const journal = JOURNAL_PHASE[phase.step];
  if (phase.step === "roll-back") {
    return {
      next: ended("failed"),
      effects: [
        log("error", { attempt: attempt.id, err: error, to: attempt.fromVersion }, "rollback failed: the device needs attention"),
        {
          type: "finish",
          result: "failed",
          rollbackError: { code: "ROLLBACK_FAILED", message: `${error.code}: ${error.message}` },
        },
      ],
    };
  }
  const recorded: Effect[] = [
    { type: "record-error", error },
    log("error", { attempt: attempt.id, phase: journal, err: error, code: error.code }, "attempt phase failed"),
  ];
  const next = nextJournalPhase(journal, "failed", opts);
  if (next === "rolling_back") return { next: stepFor(next, { cause: error }), effects: recorded };
  const result = isTerminal(next) ? next : "failed";
  const discard: Effect[] = phase.step === "validate" ? [{ type: "discard-version", version: attempt.toVersion }] : [];
  return {
    next: ended(result),
    effects: [...recorded, ...discard, { type: "clean-staging" }, ...endWithoutCommit(attempt, result, error)],
  };
}

function deltaUnusable(state: AttemptState, error: EdgeError, opts: MachineOptions): Transition {
  const { attempt, phase } = state;
  if (phase.step !== "download" && phase.step !== "rebuild-from-delta") return failed(state, error, opts);
  if (phase.delivery.kind !== "delta") return failed(state, error, opts);
  const delivery = fallBackToBundle(error);
  const next: StepPhase = phase.step === "download" ? { step: "download", delivery } : { step: "stage-bundle", delivery };
  return {
    next,
    effects: [
      { type: "record-delta-fallback", error },
      log(
        "warn",
        { attempt: attempt.id, from: phase.delivery.offer.from, to: attempt.toVersion, code: error.code, err: error },
        "delta not usable; downloading the full bundle",
      ),
    ],
  };
}

function stopBeforeActivation(attempt: AttemptFacts, reason: StopKind): Transition {
  if (reason === "shutdown") {
    return {
      next: interrupted(new EdgeError("INTERRUPTED", `attempt ${attempt.id} interrupted before activation`)),
      effects: [log("warn", { attempt: attempt.id }, "stopping before activation; the attempt resumes on next start")],
    };
  }
  return supersede(attempt, "attempt superseded before activation");
}

function stopped({ attempt, phase }: AttemptState, reason: StopKind, thrown: unknown): Transition {
  const journal = JOURNAL_PHASE[phase.step];
  if (reason === "shutdown" || isPastActivation(journal)) {
    // Left open: recovery picks the attempt up at this phase on the next start.
    return {
      next: interrupted(new EdgeError("INTERRUPTED", `attempt ${attempt.id} interrupted in phase ${journal}`, { cause: thrown })),
      effects: [log("warn", { attempt: attempt.id, phase: journal }, "attempt interrupted; it resumes on next start")],
    };
  }
  return supersede(attempt, "attempt superseded by a newer release");
}

function supersede(attempt: AttemptFacts, message: string): Transition {
  return {
    next: ended("superseded"),
    effects: [
      { type: "finish", result: "superseded" },
      { type: "clean-staging" },
      log("info", { attempt: attempt.id, to: attempt.toVersion }, message),
    ],
  };
}

/** A rolled back or failed attempt: the journal's result, the log line, pruning. */
function endWithoutCommit(attempt: AttemptFacts, result: AttemptResult, cause: EdgeError | undefined): Effect[] {
  return [
    { type: "finish", result },
    log("warn", { attempt: attempt.id, result, version: attempt.toVersion, code: cause?.code }, "attempt ended"),
    { type: "prune" },
  ];
}

function ended(result: AttemptResult): AttemptPhase {
  return { step: "ended", result };
}

function interrupted(error: EdgeError): AttemptPhase {
  return { step: "interrupted", error };
}

function log(level: "info" | "warn" | "error", fields: Record<string, unknown>, message: string): Effect {
  return { type: "log", level, fields, message };
}
