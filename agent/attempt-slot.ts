import { EdgeError } from "../shared/errors.js";
import { linkSignals } from "./linked-signal.js";
import type { Logger } from "./logging.js";
import { isPastActivation, type Phase } from "./state/phases.js";
import type { AttemptRow } from "./state/store.js";
import { StopReason } from "./update/orchestrator.js";

export interface RunningAttempt {
  toVersion: string;
  phase: Phase;
  controller: AbortController;
  done: Promise<AttemptRow>;
  /** Started because the channel named its version (not a sideload, a rollback or a resumed attempt). */
  fromChannel: boolean;
}

/**
 * The one attempt a device runs at a time. A newer update supersedes one that
 * has not reached activation; past it, everything else waits (AGENT_BUSY).
 */
export class AttemptSlot {
  private running: RunningAttempt | undefined;

  constructor(
    private readonly shutdown: AbortSignal,
    private readonly logger: Logger,
  ) {}

  get current(): Readonly<RunningAttempt> | undefined {
    return this.running;
  }

  /** Every journaled phase change: the slot knows when its attempt passes activation. */
  notePhase(row: AttemptRow): void {
    if (this.running && this.running.toVersion === row.toVersion) this.running.phase = row.phase;
  }

  /** Starts an attempt in `phase`, superseding an update still before activation. */
  async start(
    request: { kind: "update" | "rollback"; toVersion: string; phase: Phase; fromChannel: boolean },
    run: (signal: AbortSignal) => Promise<AttemptRow>,
  ): Promise<AttemptRow> {
    const current = this.running;
    if (current) {
      if (isPastActivation(current.phase) || request.kind !== "update") {
        throw new EdgeError("AGENT_BUSY", `an attempt at ${current.toVersion} is in phase ${current.phase}`);
      }
      this.logger.info({ from: current.toVersion, to: request.toVersion }, "a newer release supersedes the download in progress");
      current.controller.abort(new StopReason("superseded"));
      await current.done.catch(() => {});
    }
    return this.track(request.toVersion, request.phase, run, request.fromChannel);
  }

  /** Runs `run` as the slot's attempt (a resumed one goes straight here). */
  track(
    toVersion: string,
    phase: Phase,
    run: (signal: AbortSignal) => Promise<AttemptRow>,
    fromChannel = false,
  ): Promise<AttemptRow> {
    const controller = new AbortController();
    const linked = linkSignals(controller.signal, this.shutdown);
    const entry: RunningAttempt = { toVersion, phase, controller, done: Promise.resolve(undefined as never), fromChannel };
    entry.done = run(linked.signal).finally(() => {
      linked.dispose();
      if (this.running === entry) this.running = undefined;
    });
    this.running = entry;
    return entry.done;
  }

  /**
   * Stops an attempt that has not reached activation when its release was taken
   * back: the channel names the active version again (an aborted rollout) while
   * a release it named before is still downloading, staging or waiting, or the
   * publisher withdrew the version. Left running, it would be installed and
   * undone only at the next check (an hour later with MQTT).
   */
  dropTakenBack(activeVersion: string | undefined, channelNamesActive: boolean, isWithdrawn: (version: string) => boolean): void {
    const r = this.running;
    if (!r || r.toVersion === activeVersion || isPastActivation(r.phase)) return;
    const withdrawn = isWithdrawn(r.toVersion);
    if (!withdrawn && !(r.fromChannel && channelNamesActive)) return;
    this.logger.info(
      { dropped: r.toVersion, active: activeVersion },
      withdrawn ? "the publisher withdrew the version being installed" : "the channel went back to the active version",
    );
    r.controller.abort(new StopReason("superseded"));
  }

  /** Waits for the attempt running now (if any) to end, however it ends. */
  async settle(): Promise<void> {
    await this.running?.done.catch(() => {});
  }
}
