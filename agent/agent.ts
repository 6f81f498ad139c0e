import { mkdir } from "node:fs/promises";
import { backoffDelay, jittered, sleep } from "../shared/backoff.js";
import { EdgeError, toEdgeError } from "../shared/errors.js";
import type { ChannelPointer } from "../shared/manifest.js";
import type { PublicKeyInfo } from "../shared/signature.js";
import { withdrawalOf } from "../shared/withdrawals.js";
import type { AgentConfig } from "./config.js";
import { readCurrentVersion } from "./install/activate.js";
import { sweepDownloads } from "./install/downloads-janitor.js";
import { type Layout, layoutFor, versionDir } from "./install/layout.js";
import type { Logger } from "./logging.js";
import type { ServiceController } from "./service/controller.js";
import { RestartCommand } from "./service/restart-command.js";
import { Supervisor } from "./service/supervisor.js";
import { ChannelChecker } from "./sources/channel-check.js";
import { verifyPointerText } from "./sources/intake.js";
import { KeyRing } from "./sources/key-ring.js";
import { findBundle, verifySideload } from "./sources/sideload.js";
import { refuseWithdrawnVersion } from "./sources/withdrawal-intake.js";
import { WithdrawalTracker } from "./sources/withdrawal-tracker.js";
import { type Db, openDb } from "./state/db.js";
import { DeviceLock } from "./state/lock.js";
import { type AttemptRow, StateStore } from "./state/store.js";
import { loadTrustedKeys } from "./trusted-keys.js";
import { decideCheck } from "./update/check-decision.js";
import { StopReason, type UpdateRequest, Updater } from "./update/orchestrator.js";
import { isPastActivation, type Phase } from "./update/phases.js";
import type { Decision } from "./update/planner.js";
import { planRecovery } from "./update/recovery.js";

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

/** Failed pre-activation attempts at one version are retried after 1 min, 2 min, ... up to 6 h. */
const RETRY_BASE_MS = 60_000;
const RETRY_CAP_MS = 6 * 3600_000;

export interface AgentOptions {
  now?: () => Date;
  /** Crash-test fault injection; see UpdaterDeps.fault. */
  fault?: (point: string) => void;
  /** Every journaled phase change of an attempt, for status reporting and fleet events. */
  onAttempt?: (row: AttemptRow) => void;
  /** A new withdrawal list was accepted. */
  onWithdrawals?: () => void;
  /** Where a supervised service's output goes (see SupervisorOptions.output). */
  serviceOutput?: "stdout" | "stderr";
}

interface RunningAttempt {
  toVersion: string;
  phase: Phase;
  controller: AbortController;
  done: Promise<AttemptRow>;
  /** The channel named its version: a repository release, started or resumed (not a sideload or a rollback). */
  fromChannel: boolean;
}

/**
 * The device side, wired: journal, lock, service control, update runner and
 * channel checks. Used by the daemon (`run`) and by the one-shot technician
 * commands (`check`, `rollback`) when no daemon is running.
 */
export class Agent {
  readonly layout: Layout;
  readonly store: StateStore;
  readonly keyRing: KeyRing;
  readonly withdrawals: WithdrawalTracker;
  private readonly service: ServiceController;
  private readonly updater: Updater;
  private readonly checker: ChannelChecker;
  private readonly shutdown = new AbortController();
  private running: RunningAttempt | undefined;
  private pollLoop: Promise<void> | undefined;

  private constructor(
    readonly config: AgentConfig,
    private readonly db: Db,
    private readonly lock: DeviceLock,
    rootKeys: PublicKeyInfo[],
    private readonly logger: Logger,
    now: () => Date,
    opts: AgentOptions,
  ) {
    this.layout = layoutFor(config.dataDir);
    this.store = new StateStore(db, now);
    this.keyRing = new KeyRing(rootKeys, this.store, logger.child({ component: "keys" }));
    this.withdrawals = new WithdrawalTracker({
      config,
      store: this.store,
      keyRing: this.keyRing,
      logger: logger.child({ component: "withdrawals" }),
      now,
      onAccepted: opts.onWithdrawals,
    });
    this.service =
      config.service.mode === "supervise"
        ? new Supervisor({
            command: config.service.command,
            cwd: config.service.cwd,
            env: config.service.env,
            pidFile: this.layout.servicePidFile,
            logger: logger.child({ component: "supervisor" }),
            stopTimeoutMs: config.service.stopTimeoutSeconds * 1000,
            output: opts.serviceOutput ?? "stdout",
          })
        : new RestartCommand({
            command: config.service.command,
            cwd: config.service.cwd,
            timeoutMs: config.service.restartTimeoutSeconds * 1000,
            logger: logger.child({ component: "restart-command" }),
          });
    this.updater = new Updater({
      config,
      layout: this.layout,
      store: this.store,
      service: this.service,
      recordedKeys: () => this.keyRing.everTrusted(),
      logger: logger.child({ component: "updater" }),
      fault: opts.fault,
      onPhase: (row) => {
        if (this.running && this.running.toVersion === row.toVersion) this.running.phase = row.phase;
        opts.onAttempt?.(row);
      },
    });
    this.checker = new ChannelChecker({
      config,
      store: this.store,
      keyRing: this.keyRing,
      withdrawals: this.withdrawals,
      logger: logger.child({ component: "channel" }),
      now,
    });
  }

  /** Opens the journal and takes the device lock; AGENT_BUSY if another process holds it. */
  static async open(config: AgentConfig, logger: Logger, role: string, opts: AgentOptions = {}): Promise<Agent> {
    const now = opts.now ?? (() => new Date());
    const layout = layoutFor(config.dataDir);
    for (const dir of [layout.dataDir, layout.versionsDir, layout.stagingDir, layout.downloadsDir]) {
      await mkdir(dir, { recursive: true });
    }
    const trustedKeys = await loadTrustedKeys(config.trustedKeys);
    const lock = await DeviceLock.acquire(layout.lockFile, role);
    try {
      const db = openDb(layout.dbPath);
      return new Agent(config, db, lock, trustedKeys, logger, now, opts);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  get stopping(): AbortSignal {
    return this.shutdown.signal;
  }

  /** What the daemon's health watch needs of the service: whether it runs and how it last exited. */
  get serviceController(): ServiceController {
    return this.service;
  }

  /** An update or rollback attempt runs: its own health checks own the service until it ends. */
  get attemptRunning(): boolean {
    return this.running !== undefined;
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
    if (this.service instanceof Supervisor && (await this.service.killOrphan())) {
      this.logger.warn("stopped a service left running by a previous agent process");
    }
    const plan = await planRecovery(this.layout, this.store, this.config.name, this.logger.child({ component: "recovery" }));
    const preActivation = plan.resume && !isPastActivation(plan.resume.phase);
    if (plan.active && (!plan.resume || preActivation) && this.config.service.mode === "supervise") {
      await this.service.restart(versionDir(this.layout, plan.active));
    }
    if (!plan.resume) return {};
    const { attempt, phase, fromChannel } = plan.resume;
    return {
      resumed: this.track(attempt.toVersion, phase, (signal) => this.updater.resume(attempt, phase, signal), fromChannel),
    };
  }

  /** Polls the channel until stop(): jittered interval, capped exponential backoff on errors. */
  startPolling(intervalSeconds: number = this.config.pollIntervalSeconds): void {
    const intervalMs = intervalSeconds * 1000;
    const signal = this.shutdown.signal;
    this.pollLoop = (async () => {
      let failures = 0;
      while (!signal.aborted) {
        let delay = jittered(intervalMs, this.config.pollJitterFraction);
        try {
          await this.check("poll", { wait: false });
          failures = 0;
        } catch (err) {
          if (signal.aborted) break;
          failures++;
          delay = Math.max(1000, backoffDelay(failures, { baseMs: 2000, capMs: intervalMs }));
          this.logger.warn({ err, failures, retryInMs: delay }, "channel check failed");
        }
        await sleep(delay, signal).catch(() => {});
      }
    })();
  }

  /**
   * Checks the channel once. With `wait`, also waits for the resulting attempt
   * (the technician's `check`); the daemon's poll loop does not, so a newer
   * release can supersede a download in progress.
   */
  async check(source: string, opts: { wait: boolean; pointerText?: string }): Promise<CheckResult> {
    try {
      const state =
        opts.pointerText === undefined
          ? await this.checker.check(this.shutdown.signal)
          : await this.checker.consider(opts.pointerText, this.shutdown.signal);
      const pinned = this.config.pinVersion;
      const target =
        pinned && pinned !== state.release.release.version
          ? await this.checker.releaseByVersion(pinned, this.shutdown.signal)
          : state.release;
      const version = target.release.version;
      const active = await readCurrentVersion(this.layout);
      this.dropTakenBack(active, version === active);
      const { decision, leaving } = decideCheck({
        deviceId: this.config.deviceId,
        arch: this.config.arch,
        labels: this.config.labels,
        configHold: this.config.hold,
        operatorHold: this.store.hold(),
        release: target.release,
        pointer: pinned ? undefined : state.pointer,
        activeVersion: active,
        withdrawals: this.withdrawals.current(),
        denied: this.store.isDenied(version),
        failures: this.store.recentFailures(version),
        running: this.running
          ? { toVersion: this.running.toVersion, pastActivation: isPastActivation(this.running.phase) }
          : undefined,
        now: new Date(),
        retryBaseMs: RETRY_BASE_MS,
        retryCapMs: RETRY_CAP_MS,
      });
      this.store.setLastCheck({
        at: new Date().toISOString(),
        outcome: decision.action === "install" ? `installing ${version}` : `${decision.reason}: ${decision.detail}`,
      });
      if (decision.action === "none") {
        if (decision.reason !== "up-to-date") this.logger.info({ version, reason: decision.reason }, decision.detail);
        if (!this.running)
          this.keepDownloadsOf(decision.reason === "up-to-date" || decision.reason === "denied" ? undefined : version, active);
        return { decision, version, sequence: state.pointer.sequence };
      }
      if (leaving) {
        // Deliberate, and possibly a downgrade: say so where a technician will look.
        this.logger.warn(
          { from: active, to: version, reason: leaving.reason, withdrawnAt: leaving.withdrawnAt },
          "the active version is withdrawn; moving to the channel's release",
        );
      }
      const release = target;
      const done = this.startAttempt(
        {
          kind: "update",
          source: leaving ? `${source}:withdrawn` : source,
          origin: "repository",
          release: release.release,
          releaseText: release.text,
          releaseDigest: release.digest,
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
      if (!this.shutdown.signal.aborted) {
        this.store.setLastCheck({ at: new Date().toISOString(), outcome: "error", errorCode: err.code, error: err.message });
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
      now: new Date(),
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
    const verified = await verifySideload(bundle, this.keyRing.current(), this.config.name, new Date());
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
    if (this.running) throw new EdgeError("AGENT_BUSY", `an update to ${this.running.toVersion} is in progress`);
    refuseWithdrawnVersion(this.withdrawals.current(), previous, "rolling back to it");
    return this.startAttempt({ kind: "rollback", source, toVersion: previous });
  }

  /**
   * Stops an attempt that has not reached activation when its release was taken
   * back: the channel names the active version again (an aborted rollout) while
   * a release it named before is still downloading, staging or waiting, or the
   * publisher withdrew the version. Left running, it would be installed and
   * undone only at the next check (an hour later with MQTT).
   */
  private dropTakenBack(activeVersion: string | undefined, channelNamesActive: boolean): void {
    const r = this.running;
    if (!r || r.toVersion === activeVersion || isPastActivation(r.phase)) return;
    const withdrawn = withdrawalOf(this.withdrawals.current(), r.toVersion) !== undefined;
    if (!withdrawn && !(r.fromChannel && channelNamesActive)) return;
    this.logger.info(
      { dropped: r.toVersion, active: activeVersion },
      withdrawn ? "the publisher withdrew the version being installed" : "the channel went back to the active version",
    );
    r.controller.abort(new StopReason("superseded"));
  }

  /**
   * With no attempt running, the release the channel names is the only one
   * whose resumable partials are worth keeping (none once it is active or
   * deny-listed): whatever an earlier, now withdrawn or replaced release left goes.
   */
  private keepDownloadsOf(version: string | undefined, active: string | undefined): void {
    const wanted = version && { name: this.config.name, version, deltaFrom: active, partialOnly: true };
    sweepDownloads(this.layout, wanted || undefined, this.logger.child({ component: "downloads" }));
  }

  /** One attempt at a time; a newer update supersedes one that has not reached activation. */
  private async startAttempt(request: UpdateRequest, fromChannel = false): Promise<AttemptRow> {
    const version = request.kind === "update" ? request.release.version : request.toVersion;
    const current = this.running;
    if (current) {
      if (isPastActivation(current.phase) || request.kind !== "update") {
        throw new EdgeError("AGENT_BUSY", `an attempt at ${current.toVersion} is in phase ${current.phase}`);
      }
      this.logger.info({ from: current.toVersion, to: version }, "a newer release supersedes the download in progress");
      current.controller.abort(new StopReason("superseded"));
      await current.done.catch(() => {});
    }
    return this.track(
      version,
      request.kind === "update" ? "downloading" : "activating",
      (signal) => this.updater.start(request, signal),
      fromChannel,
    );
  }

  private track(
    toVersion: string,
    phase: Phase,
    run: (signal: AbortSignal) => Promise<AttemptRow>,
    fromChannel = false,
  ): Promise<AttemptRow> {
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.shutdown.signal]);
    const entry: RunningAttempt = { toVersion, phase, controller, done: Promise.resolve(undefined as never), fromChannel };
    entry.done = run(signal).finally(() => {
      if (this.running === entry) this.running = undefined;
    });
    this.running = entry;
    return entry.done;
  }

  private logAttemptError(err: unknown): void {
    const e = toEdgeError(err);
    if (e.code === "INTERRUPTED") return;
    this.logger.error({ err: e, code: e.code }, "attempt could not run");
  }

  /** Stops polling, interrupts any attempt (it resumes on the next start), stops a supervised service. */
  async stop(opts: { stopService: boolean } = { stopService: true }): Promise<void> {
    this.shutdown.abort(new StopReason("shutdown"));
    await this.pollLoop;
    await this.running?.done.catch(() => {});
    if (opts.stopService) await this.service.stop();
    this.db.close();
    await this.lock.release();
  }
}
