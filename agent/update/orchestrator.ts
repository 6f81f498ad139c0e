import { access, chmod, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { sleep } from "../../shared/backoff.js";
import { extractBundle } from "../../shared/bundle-reader/extract.js";
import { EdgeError, toEdgeError } from "../../shared/errors.js";
import { fsyncDir } from "../../shared/fs-atomic.js";
import type { ArtifactRef, DeltaRef, ReleaseManifest } from "../../shared/manifest.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import { checkDownloadUrl } from "../../shared/url-policy.js";
import { removePartIfDiskFull } from "../bundle/disk-full.js";
import { downloadArtifact } from "../bundle/download.js";
import { copyLocalBundle } from "../bundle/local-copy.js";
import { type AgentConfig, downloadPolicy } from "../config.js";
import { applyDelta } from "../delta/apply-delta.js";
import { activateVersion, deactivate, readCurrentVersion } from "../install/activate.js";
import { checkFolderCap, sweepDownloads } from "../install/downloads-janitor.js";
import { deltaPartPath, downloadPartPath, type Layout, versionDir } from "../install/layout.js";
import { pruneVersions } from "../install/prune.js";
import type { Logger } from "../logging.js";
import type { ServiceController } from "../service/controller.js";
import { holdProbation, waitForReady } from "../service/health.js";
import { type ReleaseOrigin, readStoredRelease } from "../sources/sideload.js";
import type { AttemptRow, StateStore } from "../state/store.js";
import { diskSpaceFor } from "../telemetry/disk.js";
import { availableMemory } from "../telemetry/memory.js";
import { type MachineOptions, ROLLBACK_START, transition, UPDATE_START } from "./machine.js";
import { insideWindow } from "./maintenance-window.js";
import { type ActivePhase, isPastActivation, isTerminal, type Phase } from "./phases.js";
import { downloadsWanted } from "./wanted-downloads.js";

/** Why an attempt's signal was aborted: the agent is stopping (resume later) or a newer target arrived. */
export class StopReason extends Error {
  constructor(readonly kind: "shutdown" | "superseded") {
    super(kind === "shutdown" ? "the agent is stopping" : "a newer release superseded this one");
  }
}

export interface UpdaterDeps {
  config: AgentConfig;
  layout: Layout;
  store: StateStore;
  service: ServiceController;
  /** Keys for re-checking what the journal recorded: every key trusted at some point. */
  recordedKeys: () => PublicKeyInfo[];
  logger: Logger;
  /** Called on every journaled phase change, for status reporters. */
  onPhase?: (attempt: AttemptRow) => void;
  onDownloadProgress?: (received: number, total: number) => void;
  /**
   * Fault injection for crash tests: called at named points (`before:<phase>`
   * after the journal write and before the side effect, `after:<phase>` after
   * it, `mid:downloading` and `mid:staging` halfway through the bytes). The
   * composition root wires it to SIGKILL only when EDGEPULL_FAULT names a point.
   */
  fault?: (point: string) => void;
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

interface AttemptContext {
  id: number;
  kind: "update" | "rollback";
  fromVersion: string | null;
  toVersion: string;
  release: ReleaseManifest | undefined;
  /** Undefined for a rollback, which installs nothing. */
  origin: ReleaseOrigin | undefined;
  releaseDigest: string | null;
  cause: EdgeError | undefined;
}

/**
 * Runs one attempt through its phases. Each phase is written to the journal
 * before its side effect; the side effects are idempotent, so an attempt
 * resumed after a crash simply runs its recorded phase again.
 */
export class Updater {
  private readonly log: Logger;

  constructor(private readonly deps: UpdaterDeps) {
    this.log = deps.logger;
  }

  async start(request: UpdateRequest, signal: AbortSignal): Promise<AttemptRow> {
    const { store } = this.deps;
    const fromVersion = (await readCurrentVersion(this.deps.layout)) ?? null;
    if (request.kind === "rollback") {
      if (!store.getVersion(request.toVersion)) {
        throw new EdgeError("NO_PREVIOUS_VERSION", `version ${request.toVersion} is not staged on this device`);
      }
    }
    const phase: ActivePhase = request.kind === "update" ? UPDATE_START : ROLLBACK_START;
    const id = store.beginAttempt({
      kind: request.kind,
      source: request.source,
      fromVersion,
      toVersion: request.kind === "update" ? request.release.version : request.toVersion,
      releaseJson: request.kind === "update" ? request.releaseText : null,
      releaseDigest: request.kind === "update" ? request.releaseDigest : null,
      phase,
    });
    const ctx: AttemptContext = {
      id,
      kind: request.kind,
      fromVersion,
      toVersion: request.kind === "update" ? request.release.version : request.toVersion,
      release: request.kind === "update" ? request.release : undefined,
      origin: request.kind === "update" ? request.origin : undefined,
      releaseDigest: request.kind === "update" ? request.releaseDigest : null,
      cause: undefined,
    };
    this.log.info(
      { attempt: id, kind: ctx.kind, from: fromVersion, to: ctx.toVersion, source: request.source },
      "attempt started",
    );
    const begun = store.getAttempt(id);
    if (begun) this.deps.onPhase?.(begun);
    return this.run(ctx, phase, signal, false);
  }

  /** Continues an attempt the journal left open, from the phase recovery chose. */
  async resume(row: AttemptRow, phase: ActivePhase, signal: AbortSignal): Promise<AttemptRow> {
    // The journal's record says what the attempt was: a sideload record or a repository release.
    const stored = row.releaseJson ? readStoredRelease(row.releaseJson, this.deps.recordedKeys()) : undefined;
    const ctx: AttemptContext = {
      id: row.id,
      kind: row.kind,
      fromVersion: row.fromVersion,
      toVersion: row.toVersion,
      release: stored?.release,
      origin: stored?.origin,
      releaseDigest: row.releaseDigest,
      cause: row.errorCode ? new EdgeError(row.errorCode, row.errorMessage ?? row.errorCode) : undefined,
    };
    this.log.warn({ attempt: row.id, recorded: row.phase, resumeAt: phase, to: row.toVersion }, "resuming interrupted attempt");
    return this.run(ctx, phase, signal, true);
  }

  private async run(ctx: AttemptContext, first: ActivePhase, signal: AbortSignal, resumed: boolean): Promise<AttemptRow> {
    const { store } = this.deps;
    let phase: Phase = first;
    let journaled = !resumed; // a new attempt was begun in `first` already
    while (!isTerminal(phase)) {
      const active: ActivePhase = phase;
      // The last stretch of staging does not watch the signal: a stop that came then must not swap `current`.
      if (active === "activating" && signal.aborted && signal.reason instanceof StopReason) {
        if (signal.reason.kind === "shutdown") {
          this.log.warn({ attempt: ctx.id }, "stopping before activation; the attempt resumes on next start");
          throw new EdgeError("INTERRUPTED", `attempt ${ctx.id} interrupted before activation`);
        }
        store.finishAttempt(ctx.id, "superseded");
        await this.cleanStaging();
        this.log.info({ attempt: ctx.id, to: ctx.toVersion }, "attempt superseded before activation");
        return this.finished(ctx.id);
      }
      if (!journaled) this.journal(ctx.id, active);
      journaled = false;
      try {
        this.deps.fault?.(`before:${active}`);
        await this.step(active, ctx, signal);
        this.deps.fault?.(`after:${active}`);
        phase = transition(active, "ok", this.machineOptions());
      } catch (thrown) {
        if (signal.aborted && signal.reason instanceof StopReason) {
          if (signal.reason.kind === "shutdown" || isPastActivation(active)) {
            // Leave the attempt open: recovery picks it up at this phase on the next start.
            this.log.warn({ attempt: ctx.id, phase: active }, "attempt interrupted; it resumes on next start");
            throw new EdgeError("INTERRUPTED", `attempt ${ctx.id} interrupted in phase ${active}`, { cause: thrown });
          }
          store.finishAttempt(ctx.id, "superseded");
          await this.cleanStaging();
          this.log.info({ attempt: ctx.id, to: ctx.toVersion }, "attempt superseded by a newer release");
          return this.finished(ctx.id);
        }
        const err = toEdgeError(thrown);
        if (active === "rolling_back") {
          this.log.error({ attempt: ctx.id, err, to: ctx.fromVersion }, "rollback failed: the device needs attention");
          store.finishAttempt(ctx.id, "failed", { code: "ROLLBACK_FAILED", message: `${err.code}: ${err.message}` });
          return this.finished(ctx.id);
        }
        ctx.cause = err;
        store.setError(ctx.id, err.code, err.message);
        this.log.error({ attempt: ctx.id, phase: active, err, code: err.code }, "attempt phase failed");
        phase = transition(active, "failed", this.machineOptions());
        if (phase === "failed") await this.cleanStaging();
      }
    }
    store.finishAttempt(ctx.id, phase);
    await this.afterFinish(ctx, phase);
    return this.finished(ctx.id);
  }

  private machineOptions(): MachineOptions {
    return {
      probationSeconds: this.deps.config.health.probationSeconds,
      hasWindows: this.deps.config.maintenanceWindows.length > 0,
    };
  }

  private journal(id: number, phase: ActivePhase): void {
    this.deps.store.setPhase(id, phase);
    const row = this.deps.store.getAttempt(id);
    if (row) this.deps.onPhase?.(row);
  }

  /** Every ending goes through here: downloads/ keeps only what the attempt may still need. */
  private finished(id: number): AttemptRow {
    const { store, layout, config } = this.deps;
    const row = store.getAttempt(id);
    if (!row) throw new EdgeError("INTERNAL", `attempt ${id} vanished from the journal`);
    sweepDownloads(layout, downloadsWanted(row, config.name, store.isDenied(row.toVersion) !== undefined), this.log);
    this.deps.onPhase?.(row);
    return row;
  }

  private async step(phase: ActivePhase, ctx: AttemptContext, signal: AbortSignal): Promise<void> {
    switch (phase) {
      case "downloading":
        return this.download(ctx, signal);
      case "staging":
        return this.stage(ctx, signal);
      case "waiting":
        return this.waitForWindow(ctx, signal);
      case "activating":
        return activateVersion(this.deps.layout, ctx.toVersion);
      case "starting":
        return this.startService(ctx.toVersion, this.deps.config.health.timeoutSeconds, signal);
      case "probation":
        return this.probation(signal);
      case "rolling_back":
        return this.rollBack(ctx, signal);
    }
  }

  private requireRelease(ctx: AttemptContext): ReleaseManifest {
    if (!ctx.release) throw new EdgeError("INTERNAL", `attempt ${ctx.id} has no release manifest to install from`);
    return ctx.release;
  }

  private isStaged(version: string): Promise<boolean> {
    if (!this.deps.store.getVersion(version)) return Promise.resolve(false);
    return access(versionDir(this.deps.layout, version)).then(
      () => true,
      () => false,
    );
  }

  private bundleFile(release: ReleaseManifest): string {
    return downloadPartPath(this.deps.layout, release.name, release.version).replace(/\.part$/, "");
  }

  /**
   * The delta this attempt uses: offered from the version that was active when
   * the attempt began, smaller than the bundle, that version still staged here,
   * deltas enabled, and not given up on earlier in this attempt.
   */
  private async deltaOffer(ctx: AttemptContext): Promise<DeltaRef | undefined> {
    const release = ctx.release;
    const from = ctx.fromVersion;
    if (!release || !from || ctx.kind !== "update" || !this.deps.config.delta.enabled) return undefined;
    // A sideload never touches the network (the device may have none), so it never takes a delta.
    if (ctx.origin !== "repository") return undefined;
    const offer = release.deltas?.find((d) => d.from === from);
    if (!offer || offer.size >= release.bundle.size) return undefined;
    if (this.deps.store.getAttempt(ctx.id)?.deltaFallbackCode) return undefined;
    return (await this.isStaged(from)) ? offer : undefined;
  }

  private deltaFile(release: ReleaseManifest, from: string): string {
    return deltaPartPath(this.deps.layout, release.name, from, release.version).replace(/\.part$/, "");
  }

  /** The delta is given up for this attempt: why is recorded, its files go, the bundle comes next. */
  private async fallBackToBundle(
    ctx: AttemptContext,
    release: ReleaseManifest,
    from: string,
    thrown: unknown,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) throw thrown;
    const err = toEdgeError(thrown, "DELTA_FAILED");
    this.deps.store.setDeltaFallback(ctx.id, err.code, err.message);
    this.log.warn(
      { attempt: ctx.id, from, to: release.version, code: err.code, err },
      "delta not usable; downloading the full bundle",
    );
    sweepDownloads(this.deps.layout, { name: release.name, version: release.version }, this.log);
  }

  private async download(ctx: AttemptContext, signal: AbortSignal): Promise<void> {
    const release = this.requireRelease(ctx);
    if (await this.isStaged(release.version)) {
      this.log.info({ version: release.version }, "version already staged; nothing to download");
      return;
    }
    const offer = await this.deltaOffer(ctx);
    if (offer) {
      try {
        await this.fetchDelta(ctx, release, offer, signal);
        return;
      } catch (err) {
        await this.fallBackToBundle(ctx, release, offer.from, err, signal);
      }
    }
    this.deps.store.setDelivery(ctx.id, "bundle", null);
    const { layout } = this.deps;
    const partPath = downloadPartPath(layout, release.name, release.version);
    await this.makeRoom(release, release.bundle.size, partPath, null);
    if (ctx.origin === "sideload") {
      await removePartIfDiskFull(partPath, this.log, () =>
        copyLocalBundle({
          url: release.bundle.url,
          partPath,
          expectedSize: release.bundle.size,
          expectedSha256: release.bundle.sha256,
          signal,
        }),
      );
      return;
    }
    await this.fetchArtifact(ctx, "bundle", release.bundle, partPath, signal);
  }

  /** Downloads the delta (resumable, like the bundle), checked against the signed size and SHA-256. */
  private async fetchDelta(ctx: AttemptContext, release: ReleaseManifest, offer: DeltaRef, signal: AbortSignal): Promise<void> {
    const { layout, store } = this.deps;
    store.setDelivery(ctx.id, "delta", offer.from);
    if (await exists(this.deltaFile(release, offer.from))) return;
    const partPath = deltaPartPath(layout, release.name, offer.from, release.version);
    await this.makeRoom(release, offer.size, partPath, offer.from);
    this.log.info(
      { attempt: ctx.id, from: offer.from, to: release.version, deltaBytes: offer.size, bundleBytes: release.bundle.size },
      "downloading a delta instead of the bundle",
    );
    await this.fetchArtifact(ctx, `delta from ${offer.from}`, offer, partPath, signal);
  }

  /**
   * Resumable HTTP download checked against the signed size and SHA-256; the bytes count in the journal.
   * The URL policy was applied at intake; it is applied again here because a journaled attempt may predate it.
   */
  private async fetchArtifact(
    ctx: AttemptContext,
    what: string,
    artifact: ArtifactRef,
    partPath: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { config, store } = this.deps;
    const result = await removePartIfDiskFull(partPath, this.log, () =>
      downloadArtifact({
        url: checkDownloadUrl(artifact.url, downloadPolicy(config), `${ctx.toVersion} ${what}`),
        partPath,
        expectedSize: artifact.size,
        expectedSha256: artifact.sha256,
        logger: this.log.child({ component: "download" }),
        signal,
        retry: { attempts: config.download.retries, baseMs: 500, capMs: 30_000 },
        idleTimeoutMs: config.download.idleTimeoutSeconds * 1000,
        onProgress: (received, total) => {
          if (received * 2 >= total) this.deps.fault?.("mid:downloading");
          this.deps.onDownloadProgress?.(received, total);
        },
      }),
    );
    const before = store.getAttempt(ctx.id)?.bytesDownloaded ?? 0;
    store.setBytesDownloaded(ctx.id, before + result.bytesTransferred);
  }

  /**
   * Before any byte of a download: downloads/ keeps only this release's bundle
   * (and its delta from `deltaFrom`), the artifact fits under download.maxFolderMiB,
   * and the disk has room.
   */
  private async makeRoom(
    release: ReleaseManifest,
    artifactSize: number,
    partPath: string,
    deltaFrom: string | null,
  ): Promise<void> {
    const { layout, config } = this.deps;
    const sweep = sweepDownloads(layout, { name: release.name, version: release.version, deltaFrom }, this.log);
    const have = await stat(partPath).then(
      (s) => s.size,
      () => 0,
    );
    const what = `${release.version}'s ${deltaFrom ? `delta from ${deltaFrom}` : "bundle"}`;
    checkFolderCap({ sweep, partBytes: have, artifactSize, capMiB: config.download.maxFolderMiB, what });
    await this.checkDiskSpace(release, artifactSize, have);
  }

  /** Room for the artifact still to come (`have` bytes of it are here), the unpacked files and the reserve. */
  private async checkDiskSpace(release: ReleaseManifest, artifactSize: number, have: number): Promise<void> {
    const payload = release.files.reduce((sum, f) => sum + f.size, 0);
    const reserve = this.deps.config.diskReserveMiB * 1024 * 1024;
    const needed = artifactSize - have + payload + reserve;
    const disk = await diskSpaceFor(this.deps.layout.dataDir);
    if (disk.availableBytes < needed) {
      throw new EdgeError(
        "DISK_SPACE_LOW",
        `${release.version} needs ${mib(needed)} MiB free on ${disk.mount} (download, unpacked files and ${this.deps.config.diskReserveMiB} MiB reserve); ${mib(disk.availableBytes)} MiB available`,
      );
    }
  }

  private async stage(ctx: AttemptContext, signal: AbortSignal): Promise<void> {
    const release = this.requireRelease(ctx);
    if (await this.isStaged(release.version)) return;
    const offer = await this.deltaOffer(ctx);
    if (offer) {
      try {
        if (!(await exists(this.deltaFile(release, offer.from)))) await this.download(ctx, signal);
        // download() may have given the delta up already; then the bundle is here.
        if (!this.deps.store.getAttempt(ctx.id)?.deltaFallbackCode) {
          await this.stageFromDelta(ctx, release, offer, signal);
          return;
        }
      } catch (err) {
        await this.fallBackToBundle(ctx, release, offer.from, err, signal);
      }
    }
    const bundle = this.bundleFile(release);
    if (!(await exists(bundle))) await this.download(ctx, signal);
    const dest = await this.freshStagingDir(ctx, release);
    const payloadBytes = release.files.reduce((sum, f) => sum + f.size, 0);
    await extractBundle({
      bundlePath: bundle,
      destDir: dest,
      expected: { name: release.name, version: release.version, files: release.files },
      logger: this.log.child({ component: "extract" }),
      signal,
      onProgress: (bytes) => {
        if (bytes * 2 >= payloadBytes) this.deps.fault?.("mid:staging");
      },
    });
    await this.commitStaging(ctx, release, dest);
    await rm(bundle, { force: true });
  }

  private async freshStagingDir(ctx: AttemptContext, release: ReleaseManifest): Promise<string> {
    await this.cleanStaging();
    return join(this.deps.layout.stagingDir, `${release.version}.${ctx.id}`);
  }

  /**
   * Rebuilds the version in staging from the active version's files (only read)
   * and the delta; every rebuilt file is checked against the signed manifest.
   */
  private async stageFromDelta(
    ctx: AttemptContext,
    release: ReleaseManifest,
    offer: DeltaRef,
    signal: AbortSignal,
  ): Promise<void> {
    const { store, layout, config } = this.deps;
    const memory = await availableMemory();
    if (memory < config.delta.minFreeMemoryMiB * 1024 * 1024) {
      throw new EdgeError(
        "MEMORY_LOW",
        `applying a delta needs ${config.delta.minFreeMemoryMiB} MiB of free memory (delta.minFreeMemoryMiB); ${mib(memory)} MiB available`,
      );
    }
    const dest = await this.freshStagingDir(ctx, release);
    const payloadBytes = release.files.reduce((sum, f) => sum + f.size, 0);
    const started = Date.now();
    try {
      await mkdir(dest, { recursive: true });
      await applyDelta({
        deltaPath: this.deltaFile(release, offer.from),
        baseDir: versionDir(layout, offer.from),
        destDir: dest,
        expectedFiles: release.files,
        signal,
        tempDir: layout.stagingDir,
        onProgress: (bytes) => {
          if (bytes * 2 >= payloadBytes) this.deps.fault?.("mid:patching");
        },
      });
    } catch (err) {
      await rm(dest, { recursive: true, force: true });
      throw err;
    }
    this.log.info(
      {
        attempt: ctx.id,
        from: offer.from,
        to: release.version,
        ms: Date.now() - started,
        savedBytes: release.bundle.size - offer.size,
      },
      "version rebuilt from the active version and a delta",
    );
    await this.commitStaging(ctx, release, dest);
    store.setBytesSaved(ctx.id, release.bundle.size - offer.size);
    await rm(this.deltaFile(release, offer.from), { force: true });
  }

  /** Verified files in `dest` become versions/<version>, durably, and the journal knows it. */
  private async commitStaging(ctx: AttemptContext, release: ReleaseManifest, dest: string): Promise<void> {
    const { layout, store } = this.deps;
    await makeReadOnly(dest, release);
    const final = versionDir(layout, release.version);
    // A folder here that the journal does not know is a leftover of a crash between rename and record.
    await rm(final, { recursive: true, force: true });
    await rename(dest, final);
    await fsyncDir(layout.versionsDir);
    store.recordVersion({
      version: release.version,
      releaseJson: store.getAttempt(ctx.id)?.releaseJson ?? "",
      releaseDigest: ctx.releaseDigest ?? "",
      stagedAt: new Date().toISOString(),
    });
    this.log.info({ version: release.version, dir: final }, "version staged and verified");
  }

  /** Holds a staged version until a maintenance window opens; a newer release may still supersede it. */
  private async waitForWindow(ctx: AttemptContext, signal: AbortSignal): Promise<void> {
    const windows = this.deps.config.maintenanceWindows;
    if (insideWindow(windows, new Date())) return;
    this.log.info({ attempt: ctx.id, version: ctx.toVersion, windows }, "staged; waiting for a maintenance window to activate");
    // Windows are set in whole minutes: look again just after each minute turns.
    while (!insideWindow(windows, new Date())) await sleep(60_050 - (Date.now() % 60_000), signal);
  }

  private async startService(version: string, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
    const { service, config, layout } = this.deps;
    await service.restart(versionDir(layout, version));
    const ready = await waitForReady({
      url: config.health.url,
      timeoutMs: timeoutSeconds * 1000,
      intervalMs: config.health.intervalMs,
      signal,
      crash: service.crashSignal(),
    });
    this.log.info({ version, waitedMs: ready.waitedMs, probes: ready.probes }, "service ready");
  }

  private async probation(signal: AbortSignal): Promise<void> {
    const { service, config } = this.deps;
    await holdProbation({
      url: config.health.url,
      durationMs: config.health.probationSeconds * 1000,
      intervalMs: Math.max(config.health.intervalMs, 500),
      signal,
      crash: service.crashSignal(),
    });
  }

  private async rollBack(ctx: AttemptContext, signal: AbortSignal): Promise<void> {
    const { layout, store, service } = this.deps;
    const cause = ctx.cause;
    store.deny({
      version: ctx.toVersion,
      releaseDigest: ctx.releaseDigest,
      errorCode: cause?.code ?? "INTERNAL",
      reason: cause?.message ?? "failed after activation",
    });
    if (!ctx.fromVersion) {
      this.log.warn({ version: ctx.toVersion }, "first install failed; no previous version to return to");
      await service.stop();
      await deactivate(layout);
      return;
    }
    this.log.warn({ from: ctx.toVersion, to: ctx.fromVersion, code: cause?.code }, "rolling back");
    await activateVersion(layout, ctx.fromVersion);
    await this.startService(ctx.fromVersion, this.deps.config.health.rollbackTimeoutSeconds, signal);
  }

  private async afterFinish(ctx: AttemptContext, phase: Phase): Promise<void> {
    const { store, config, layout } = this.deps;
    if (phase === "succeeded") {
      store.setPreviousVersion(ctx.fromVersion);
      // It just proved healthy here; an old deny-list entry no longer applies.
      store.clearDenied(ctx.toVersion);
      if (ctx.kind === "rollback" && ctx.fromVersion) {
        // Without this the next poll would reinstall the release the technician just left.
        store.deny({
          version: ctx.fromVersion,
          releaseDigest: store.getVersion(ctx.fromVersion)?.releaseDigest ?? null,
          errorCode: "OPERATOR_ROLLBACK",
          reason: "rolled back by an operator",
        });
      }
      this.log.info({ attempt: ctx.id, version: ctx.toVersion, from: ctx.fromVersion }, "update committed");
    } else {
      this.log.warn({ attempt: ctx.id, result: phase, version: ctx.toVersion, code: ctx.cause?.code }, "attempt ended");
    }
    const active = await readCurrentVersion(layout);
    await pruneVersions(layout, store, config.keepVersions, [active, store.previousVersion()], this.log).catch((err) =>
      this.log.warn({ err }, "pruning old versions failed"),
    );
  }

  private async cleanStaging(): Promise<void> {
    const dir = this.deps.layout.stagingDir;
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}

function mib(bytes: number): number {
  return Math.ceil(bytes / (1024 * 1024));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Staged files are read-only: the service must not change a version another boot may return to. */
async function makeReadOnly(dir: string, release: ReleaseManifest): Promise<void> {
  for (const f of release.files) {
    await chmod(join(dir, f.path), f.mode === 0o755 ? 0o555 : 0o444);
  }
}
