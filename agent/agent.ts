import { EdgeError, toEdgeError } from "../shared/errors.js";
import type { ChannelPointer } from "../shared/manifest.js";
import { withdrawalOf } from "../shared/withdrawals.js";
import type { AttemptSlot } from "./attempt-slot.js";
import type { AgentConfig } from "./config.js";
import { readCurrentVersion } from "./install/activate.js";
import { sweepDownloads } from "./install/downloads-janitor.js";
import { type Layout, versionDir } from "./install/layout.js";
import { componentLogger } from "./logging.js";
import { pollUntilStopped } from "./poll-loop.js";
import type { ServiceController } from "./service/controller.js";
import { verifyPointerText } from "./sources/intake.js";
import type { KeyRing } from "./sources/key-ring.js";
import { findBundle, verifySideload } from "./sources/sideload.js";
import { refuseWithdrawnVersion } from "./sources/withdrawal-intake.js";
import type { WithdrawalTracker } from "./sources/withdrawal-tracker.js";
import { isPastActivation } from "./state/phases.js";
import type { AttemptRow, StateStore } from "./state/store.js";
import { decideForTarget, fetchChannelTarget } from "./update/channel-decision.js";
import { StopReason, type UpdateRequest } from "./update/orchestrator.js";
import type { Decision } from "./update/planner.js";
import { planRecovery } from "./update/recovery.js";
import { type AgentGraph, type AgentOptions, wireAgent } from "./wiring/agent-graph.js";

export type { AgentOptions } from "./wiring/agent-graph.js";

export interface CheckResult {
  decision: Decision;
  version: string;
  sequence: number;
  attempt?: AttemptRow;
}

export interface InstallResult {
  version: string;
  bundle: string;
  attempt: AttemptRow | undefined;
  detail: string;
}

/**
 * The device side, wired (wiring/agent-graph.ts): channel checks, sideloads
 * and rollbacks become attempts in the one attempt slot; recovery runs first.
 * Used by the daemon (`run`) and by the one-shot technician commands (`check`,
 * `rollback`, `install`) when no daemon is running.
 */
export class Agent {
  readonly config: AgentConfig;
  readonly layout: Layout;
  readonly store: StateStore;
  readonly keyRing: KeyRing;
  readonly withdrawals: WithdrawalTracker;
  private readonly slot: AttemptSlot;
  private pollLoop: Promise<void> | undefined;

  constructor(private readonly graph: AgentGraph) {
    this.config = graph.config;
    this.layout = graph.layout;
    this.store = graph.store;
    this.keyRing = graph.keyRing;
    this.withdrawals = graph.withdrawals;
    this.slot = graph.slot;
  }

  /** Opens the journal and takes the device lock; AGENT_BUSY if another process holds it. */
  static async open(config: AgentConfig, logger: AgentGraph["logger"], role: string, opts: AgentOptions = {}): Promise<Agent> {
    return new Agent(await wireAgent(config, logger, role, opts));
  }

  get stopping(): AbortSignal {
    return this.graph.shutdown.signal;
  }

  /** What the daemon's health watch needs of the service: whether it runs and how it last exited. */
  get serviceController(): ServiceController {
    return this.graph.service;
  }

  /** An update or rollback attempt runs: its own health checks own the service until it ends. */
  get attemptRunning(): boolean {
    return this.slot.current !== undefined;
  }

  /**
   * Before any source runs: clean up, then finish or roll back whatever the
   * journal left open. With nothing open, a supervised service is started on
   * the active version. Resolves once a resumed attempt ended.
   */
  async recover(): Promise<AttemptRow | undefined> {
    return (await this.beginRecovery()).resumed;
  }

  /**
   * Recovery up to the start of the resumed attempt, which then runs as a new
   * one does: the daemon's sources start at once, so a check can supersede it
   * or drop it before activation.
   */
  async beginRecovery(): Promise<{ resumed?: Promise<AttemptRow> }> {
    const { service, logger, updater } = this.graph;
    await service.recoverOrphans?.();
    const plan = await planRecovery(this.layout, this.store, this.config.name, componentLogger(logger, "recovery"));
    const preActivation = plan.resume && !isPastActivation(plan.resume.phase);
    if (plan.active && (!plan.resume || preActivation) && this.config.service.mode === "supervise") {
      await service.restart(versionDir(this.layout, plan.active));
    }
    if (!plan.resume) return {};
    const { attempt, phase, fromChannel } = plan.resume;
    return {
      resumed: this.slot.track(attempt.toVersion, phase, (signal) => updater.resume(attempt, phase, signal), fromChannel),
    };
  }

  /** Polls the channel until stop(): jittered interval, capped exponential backoff on errors. */
  startPolling(intervalSeconds: number = this.config.pollIntervalSeconds): void {
    this.pollLoop = pollUntilStopped({
      intervalMs: intervalSeconds * 1000,
      jitterFraction: this.config.pollJitterFraction,
      check: () => this.check("poll", { wait: false }),
      clock: this.graph.clock,
      signal: this.stopping,
      logger: this.graph.logger,
    });
  }

  /**
   * Checks the channel once. With `wait`, also waits for the resulting attempt
   * (the technician's `check`); the daemon's poll loop does not, so a newer
   * release can supersede a download in progress.
   */
  async check(source: string, opts: { wait: boolean; pointerText?: string }): Promise<CheckResult> {
    const { clock, logger } = this.graph;
    try {
      const found = await fetchChannelTarget(this.graph, opts.pointerText, this.stopping);
      const { state, target, version, active } = found;
      this.slot.dropTakenBack(active, version === active, (v) => withdrawalOf(this.withdrawals.current(), v) !== undefined);
      const running = this.slot.current;
      const { decision, leaving } = decideForTarget(
        this.graph,
        found,
        running ? { toVersion: running.toVersion, pastActivation: isPastActivation(running.phase) } : undefined,
      );
      this.store.setLastCheck({
        at: clock.now().toISOString(),
        outcome: decision.action === "install" ? `installing ${version}` : `${decision.reason}: ${decision.detail}`,
      });
      if (decision.action === "none") {
        if (decision.reason !== "up-to-date") logger.info({ version, reason: decision.reason }, decision.detail);
        if (!this.slot.current)
          this.keepDownloadsOf(decision.reason === "up-to-date" || decision.reason === "denied" ? undefined : version, active);
        return { decision, version, sequence: state.pointer.sequence };
      }
      if (leaving) {
        // Deliberate, and possibly a downgrade: say so where a technician will look.
        logger.warn(
          { from: active, to: version, reason: leaving.reason, withdrawnAt: leaving.withdrawnAt },
          "the active version is withdrawn; moving to the channel's release",
        );
      }
      const done = this.startAttempt(
        {
          kind: "update",
          source: leaving ? `${source}:withdrawn` : source,
          origin: "repository",
          release: target.release,
          releaseText: target.text,
          releaseDigest: target.digest,
        },
        true,
      );
      if (!opts.wait) {
        done.catch((err) => this.logAttemptError(err));
        return { decision, version, sequence: state.pointer.sequence };
      }
      return { decision, version, sequence: state.pointer.sequence, attempt: await done };
    } catch (thrown) {
      const err = toEdgeError(thrown);
      if (!this.stopping.aborted) {
        this.store.setLastCheck({ at: clock.now().toISOString(), outcome: "error", errorCode: err.code, error: err.message });
      }
      throw err;
    }
  }

  /**
   * The intake checks alone (signature, channel, expiry, sequence) for a pointer
   * pushed over MQTT, without recording it: garbage and replays are refused at
   * once, before any jitter delay.
   */
  screenPointer(text: string): ChannelPointer {
    return verifyPointerText(text, {
      trustedKeys: this.keyRing.current(),
      name: this.config.name,
      channel: this.config.channel,
      now: this.graph.clock.now(),
      highestSequence: this.store.highestSequence(this.config.channel),
      lastAcceptedText: this.store.lastPointerText(this.config.channel),
    }).pointer;
  }

  /**
   * Installs a bundle from a local path (USB stick, laptop, inbox) through the
   * same staging, verification, health check and rollback as a download. Its
   * own signed manifest must be signed by a trusted key; channel order and
   * expiry do not apply, and a technician may install a deny-listed version.
   */
  async installLocal(path: string, source: string): Promise<InstallResult> {
    const bundle = await findBundle(path);
    const verified = await verifySideload(bundle, this.keyRing.current(), this.config.name, this.graph.clock.now());
    const version = verified.release.version;
    refuseWithdrawnVersion(this.withdrawals.current(), version, "the bundle");
    if ((await readCurrentVersion(this.layout)) === version) {
      return { version, bundle, attempt: undefined, detail: `${version} is already active` };
    }
    const attempt = await this.startAttempt({
      kind: "update",
      source,
      origin: "sideload",
      release: verified.release,
      releaseText: verified.text,
      releaseDigest: verified.digest,
    });
    return { version, bundle, attempt, detail: `${attempt.result}` };
  }

  /** Manual rollback to the previous version, health-checked like an update. */
  async rollback(source: string): Promise<AttemptRow> {
    const previous = this.store.previousVersion();
    if (!previous || !this.store.getVersion(previous)) {
      throw new EdgeError("NO_PREVIOUS_VERSION", "there is no previous version staged on this device to roll back to");
    }
    const running = this.slot.current;
    if (running) throw new EdgeError("AGENT_BUSY", `an update to ${running.toVersion} is in progress`);
    refuseWithdrawnVersion(this.withdrawals.current(), previous, "rolling back to it");
    return this.startAttempt({ kind: "rollback", source, toVersion: previous });
  }

  /**
   * With no attempt running, the release the channel names is the only one
   * whose resumable partials are worth keeping (none once it is active or
   * deny-listed): whatever an earlier, now withdrawn or replaced release left goes.
   */
  private keepDownloadsOf(version: string | undefined, active: string | undefined): void {
    const wanted = version && { name: this.config.name, version, deltaFrom: active, partialOnly: true };
    sweepDownloads(this.layout, wanted || undefined, componentLogger(this.graph.logger, "downloads"));
  }

  /** One attempt at a time; a newer update supersedes one that has not reached activation. */
  private startAttempt(request: UpdateRequest, fromChannel = false): Promise<AttemptRow> {
    const update = request.kind === "update";
    return this.slot.start(
      {
        kind: request.kind,
        toVersion: update ? request.release.version : request.toVersion,
        phase: update ? "downloading" : "activating",
        fromChannel,
      },
      (signal) => this.graph.updater.start(request, signal),
    );
  }

  private logAttemptError(err: unknown): void {
    const e = toEdgeError(err);
    if (e.code === "INTERRUPTED") return;
    this.graph.logger.error({ err: e, code: e.code }, "attempt could not run");
  }

  /** Stops polling, interrupts any attempt (it resumes on the next start), stops a supervised service. */
  async stop(opts: { stopService: boolean } = { stopService: true }): Promise<void> {
    const { shutdown, service, db, lock } = this.graph;
    shutdown.abort(new StopReason("shutdown"));
    await this.pollLoop;
    await this.slot.settle();
    if (opts.stopService) await service.stop();
    await service.close?.();
    db.close();
    await lock.release();
  }
}
