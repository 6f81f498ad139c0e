import { EdgeError, toEdgeError } from "../../shared/errors.js";
import type { ReleaseManifest } from "../../shared/manifest.js";
import { readCurrentVersion } from "../install/activate.js";
import { sweepDownloads } from "../install/downloads-janitor.js";
import { type ReleaseOrigin, readStoredRelease } from "../sources/sideload.js";
import type { ActivePhase } from "../state/phases.js";
import type { AttemptRow } from "../state/store.js";
import { isStaged } from "./artifacts.js";
import { type StepEvent, type StopKind, transition } from "./attempt-machine.js";
import { type AttemptFacts, type AttemptPhase, isEnd, JOURNAL_PHASE, type StepPhase, stepFor } from "./attempt-state.js";
import { chooseDelivery, type Delivery, type DeltaFallback, describeDelivery } from "./delivery.js";
import { runEffects } from "./effects.js";
import { type MachineOptions, ROLLBACK_START, UPDATE_START } from "./machine.js";
import { STEPS } from "./steps/registry.js";
import type { CoreDeps, StepContext, StepExecutor } from "./steps/step.js";
import { downloadsWanted } from "./wanted-downloads.js";

/** Why an attempt's signal was aborted: the agent is stopping (resume later) or a newer target arrived. */
export class StopReason extends Error {
  constructor(readonly kind: StopKind) {
    super(kind === "shutdown" ? "the agent is stopping" : "a newer release superseded this one");
  }
}

export type UpdateRequest =
  | {
      kind: "update";
      source: string;
      /** Decides where the bundle may come from: the network (under the URL policy) or the sideload's own file. */
      origin: ReleaseOrigin;
      releaseText: string;
      releaseDigest: string;
      release: ReleaseManifest;
    }
  | { kind: "rollback"; source: string; toVersion: string };

/**
 * Runs one attempt through its steps (steps/), asking the pure transition
 * (attempt-machine.ts) what comes next and doing the bookkeeping it names
 * (effects.ts). Each phase is written to the journal before its side effect;
 * the side effects are idempotent, so an attempt resumed after a crash simply
 * runs its recorded phase again.
 */
export class Updater {
  constructor(private readonly deps: CoreDeps) {}

  async start(request: UpdateRequest, signal: AbortSignal): Promise<AttemptRow> {
    const { store } = this.deps.ports;
    const fromVersion = (await readCurrentVersion(this.deps.layout)) ?? null;
    if (request.kind === "rollback" && !store.getVersion(request.toVersion)) {
      throw new EdgeError("NO_PREVIOUS_VERSION", `version ${request.toVersion} is not staged on this device`);
    }
    const update = request.kind === "update" ? request : undefined;
    const toVersion = request.kind === "update" ? request.release.version : request.toVersion;
    const release = update && { manifest: update.release, origin: update.origin };
    const delivery = update ? await this.chooseDelivery(release, fromVersion, undefined) : undefined;
    const first = stepFor(update ? UPDATE_START : ROLLBACK_START, { delivery });
    const id = store.beginAttempt({
      kind: request.kind,
      source: request.source,
      fromVersion,
      toVersion,
      releaseJson: update?.releaseText ?? null,
      releaseDigest: update?.releaseDigest ?? null,
      phase: JOURNAL_PHASE[first.step],
    });
    const attempt: AttemptFacts = {
      id,
      kind: request.kind,
      fromVersion,
      toVersion,
      release,
      releaseJson: update?.releaseText ?? null,
      releaseDigest: update?.releaseDigest ?? null,
    };
    this.deps.logger.info(
      { attempt: id, kind: attempt.kind, from: fromVersion, to: toVersion, source: request.source },
      "attempt started",
    );
    this.logDelivery(attempt, delivery);
    const begun = store.getAttempt(id);
    if (begun) this.deps.onPhase?.(begun);
    return this.run(attempt, first, signal, { journaled: true, bytesDownloaded: 0 });
  }

  /** Continues an attempt the journal left open, from the phase recovery chose. */
  async resume(row: AttemptRow, phase: ActivePhase, signal: AbortSignal): Promise<AttemptRow> {
    // The journal's record says what the attempt was: a sideload record or a repository release.
    const stored = row.releaseJson ? readStoredRelease(row.releaseJson, this.deps.recordedKeys()) : undefined;
    const attempt: AttemptFacts = {
      id: row.id,
      kind: row.kind,
      fromVersion: row.fromVersion,
      toVersion: row.toVersion,
      release: stored && { manifest: stored.release, origin: stored.origin },
      releaseJson: row.releaseJson,
      releaseDigest: row.releaseDigest,
    };
    const needsDelivery = row.kind === "update" && (phase === "downloading" || phase === "staging");
    const fallback: DeltaFallback | undefined = row.deltaFallbackCode
      ? { code: row.deltaFallbackCode, message: row.deltaFallbackMessage ?? "" }
      : undefined;
    const delivery = needsDelivery ? await this.chooseDelivery(attempt.release, row.fromVersion, fallback) : undefined;
    const cause = row.errorCode ? new EdgeError(row.errorCode, row.errorMessage ?? row.errorCode) : undefined;
    this.deps.logger.warn(
      { attempt: row.id, recorded: row.phase, resumeAt: phase, to: row.toVersion },
      "resuming interrupted attempt",
    );
    this.logDelivery(attempt, delivery);
    const first = stepFor(phase, { delivery, cause });
    return this.run(attempt, first, signal, { journaled: false, bytesDownloaded: row.bytesDownloaded });
  }

  /** The one delivery decision of an attempt, from what is staged here now. */
  private async chooseDelivery(
    release: AttemptFacts["release"],
    fromVersion: string | null,
    fallback: DeltaFallback | undefined,
  ): Promise<Delivery> {
    const target = release?.manifest.version;
    return chooseDelivery({
      release,
      activeVersion: fromVersion,
      deltasEnabled: this.deps.config.delta.enabled,
      targetStaged: target !== undefined && (await isStaged(this.deps, target)),
      baseStaged: fromVersion !== null && (await isStaged(this.deps, fromVersion)),
      fallback,
    });
  }

  private logDelivery(attempt: AttemptFacts, delivery: Delivery | undefined): void {
    if (!delivery) return;
    this.deps.logger.info(
      { attempt: attempt.id, delivery: delivery.kind, reason: delivery.reason },
      `delivery: ${describeDelivery(delivery)}`,
    );
  }

  private async run(
    attempt: AttemptFacts,
    first: StepPhase,
    signal: AbortSignal,
    opts: { journaled: boolean; bytesDownloaded: number },
  ): Promise<AttemptRow> {
    const ctx: StepContext = { deps: this.deps, attempt, signal, tally: { bytesDownloaded: opts.bytesDownloaded } };
    const { fault } = this.deps.ports;
    let phase: AttemptPhase = first;
    // A new attempt was begun in its first phase already; a resumed one writes it again.
    let entered: ActivePhase | undefined;
    let journaled = opts.journaled;
    while (!isEnd(phase)) {
      const current: StepPhase = phase;
      const journal = JOURNAL_PHASE[current.step];
      const stop = stopKind(signal);
      let event: StepEvent;
      // The last stretch of staging does not watch the signal: a stop that came then must not swap `current`.
      if (current.step === "activate" && stop) {
        event = { type: "stop-before-activation", reason: stop };
      } else {
        if (entered !== journal) {
          if (!journaled) this.journal(attempt.id, journal);
          journaled = false;
          entered = journal;
          fault(`before:${journal}`);
        }
        event = await this.execute(current, ctx);
      }
      const { next, effects } = transition({ attempt, phase: current }, event, this.machineOptions());
      await runEffects(effects, ctx);
      phase = next;
    }
    if (phase.step === "interrupted") throw phase.error;
    return this.finished(attempt.id);
  }

  private async execute(phase: StepPhase, ctx: StepContext): Promise<StepEvent> {
    try {
      const step = STEPS[phase.step] as StepExecutor<StepPhase["step"]>;
      return await step(phase, ctx);
    } catch (thrown) {
      const stop = stopKind(ctx.signal);
      if (stop) return { type: "stopped", reason: stop, thrown };
      return { type: "failed", error: toEdgeError(thrown) };
    }
  }

  private machineOptions(): MachineOptions {
    return {
      probationSeconds: this.deps.config.health.probationSeconds,
      hasWindows: this.deps.config.maintenanceWindows.length > 0,
      validates: this.deps.config.validate !== undefined,
    };
  }

  private journal(id: number, phase: ActivePhase): void {
    const { store } = this.deps.ports;
    store.setPhase(id, phase);
    const row = store.getAttempt(id);
    if (row) this.deps.onPhase?.(row);
  }

  /** Every ending goes through here: downloads/ keeps only what the attempt may still need. */
  private finished(id: number): AttemptRow {
    const { layout, config, logger, ports } = this.deps;
    const row = ports.store.getAttempt(id);
    if (!row) throw new EdgeError("INTERNAL", `attempt ${id} vanished from the journal`);
    sweepDownloads(layout, downloadsWanted(row, config.name, ports.store.isDenied(row.toVersion) !== undefined), logger);
    this.deps.onPhase?.(row);
    return row;
  }
}

function stopKind(signal: AbortSignal): StopKind | undefined {
  return signal.aborted && signal.reason instanceof StopReason ? signal.reason.kind : undefined;
}
