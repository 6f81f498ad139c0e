import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AgentConfig, parseConfig } from "../../agent/config.js";
import { readCurrentVersion } from "../../agent/install/activate.js";
import { type Layout, layoutFor } from "../../agent/install/layout.js";
import { silentLogger } from "../../agent/logging.js";
import type { FaultHook } from "../../agent/ports.js";
import { ChannelChecker } from "../../agent/sources/channel-check.js";
import { KeyRing } from "../../agent/sources/key-ring.js";
import { verifySideload } from "../../agent/sources/sideload.js";
import { WithdrawalTracker } from "../../agent/sources/withdrawal-tracker.js";
import { type Db, openDb } from "../../agent/state/db.js";
import { type AttemptRow, StateStore } from "../../agent/state/store.js";
import { loadTrustedKeys } from "../../agent/trusted-keys.js";
import { StopReason, Updater } from "../../agent/update/orchestrator.js";
import { planRecovery } from "../../agent/update/recovery.js";
import { makeDeltas } from "../../publisher/commands/delta.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import { FakeClock, FakeDisk, FakeMemory, FakeService } from "./core-fakes.js";
import { type ReleaseOptions, TestRepository } from "./test-repository.js";

export interface CoreWorldOptions {
  /** Merged into the device config (one level deep for health, delta and download). */
  config?: Record<string, Record<string, unknown> | unknown>;
  /** Where the fake clock starts (local time matters for maintenance windows). */
  start?: Date;
}

/** An abort controller that stops an attempt the way the agent does: a shutdown, or a newer release. */
export class Stopper {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  shutdown(): void {
    this.controller.abort(new StopReason("shutdown"));
  }
  supersede(): void {
    this.controller.abort(new StopReason("superseded"));
  }
}

/**
 * The update core in-process: a real temp data folder and SQLite journal, a
 * real publisher repository served over loopback HTTP, and fakes for the
 * clock, disk, memory and service. `at(point, action)` runs an action at a
 * fault point (the names EDGEPULL_FAULT takes); `points` lists those reached.
 */
export class CoreWorld {
  readonly clock: FakeClock;
  readonly disk = new FakeDisk();
  readonly memory = new FakeMemory();
  readonly points: string[] = [];
  readonly layout: Layout;
  private readonly actions: { point: string; nth: number; action: () => void }[] = [];
  private db: Db;
  store: StateStore;

  private constructor(
    readonly root: string,
    readonly repo: TestRepository,
    readonly service: FakeService,
    readonly config: AgentConfig,
    private readonly keys: PublicKeyInfo[],
    start: Date,
  ) {
    this.clock = new FakeClock(start.getTime());
    this.layout = layoutFor(config.dataDir);
    this.db = openDb(this.layout.dbPath);
    this.store = new StateStore(this.db, () => this.clock.now());
  }

  static async create(opts: CoreWorldOptions = {}): Promise<CoreWorld> {
    const root = await mkdtemp(join(tmpdir(), "edgepull-core-"));
    const repo = await TestRepository.create(root);
    const service = await FakeService.start();
    const extra = opts.config ?? {};
    const nested = (key: string, base: Record<string, unknown>): Record<string, unknown> => ({
      ...base,
      ...((extra[key] as Record<string, unknown> | undefined) ?? {}),
    });
    const config = parseConfig(
      {
        deviceId: "dev-core",
        dataDir: join(root, "data"),
        name: repo.name,
        channel: repo.channel,
        repository: repo.url,
        trustedKeys: [repo.publicKeyPath],
        diskReserveMiB: 0,
        ...extra,
        service: { mode: "command", command: ["true"] },
        health: nested("health", {
          url: service.healthUrl,
          probationSeconds: 0,
          intervalMs: 20,
          timeoutSeconds: 5,
          rollbackTimeoutSeconds: 5,
        }),
        download: nested("download", { retries: 0 }),
      },
      join(root, "agent.json"),
    );
    const layout = layoutFor(config.dataDir);
    for (const dir of [layout.dataDir, layout.versionsDir, layout.stagingDir, layout.downloadsDir]) {
      await mkdir(dir, { recursive: true });
    }
    const keys = await loadTrustedKeys(config.trustedKeys);
    return new CoreWorld(root, repo, service, config, keys, opts.start ?? new Date(2025, 0, 6, 12, 0, 0));
  }

  /** A device running 1.0.0 (installed through the core), with 2.0.0 in the repository. */
  static async onV1(opts: CoreWorldOptions = {}, v2: ReleaseOptions = {}): Promise<CoreWorld> {
    const w = await CoreWorld.create(opts);
    await w.release("1.0.0");
    await w.release("2.0.0", v2);
    const first = await w.install("1.0.0");
    if (first.result !== "succeeded") throw new Error(`installing 1.0.0 ended ${first.result} (${first.errorCode})`);
    return w;
  }

  /** Builds the example model at `version` into the repository (deltas come from delta()). */
  release(version: string, opts: ReleaseOptions = {}): Promise<void> {
    return this.repo.release(version, opts);
  }

  /** Offers a delta from `from` to `to` in the repository (re-signing `to`'s release). */
  async delta(from: string, to: string): Promise<void> {
    const made = await makeDeltas({
      repoDir: this.repo.repoDir,
      name: this.repo.name,
      from: [from],
      to,
      keyPath: this.repo.keyPath,
    });
    if (!made.deltas[0]?.offered) throw new Error(`the delta from ${from} to ${to} is not offered`);
  }

  /** Runs `action` once, the `nth` time from now that an attempt reaches fault point `point`. */
  at(point: string, action: () => void, nth = 1): void {
    const seen = this.points.filter((p) => p === point).length;
    this.actions.push({ point, nth: seen + nth, action });
  }

  /** A fresh updater on the same journal and ports, as a restarted agent would build. */
  updater(): Updater {
    const fault: FaultHook = (point) => {
      this.points.push(point);
      const count = this.points.filter((p) => p === point).length;
      for (const a of this.actions.filter((x) => x.point === point && x.nth === count)) a.action();
    };
    return new Updater({
      config: this.config,
      layout: this.layout,
      ports: { clock: this.clock, disk: this.disk, memory: this.memory, service: this.service, store: this.store, fault },
      recordedKeys: () => this.keys,
      logger: silentLogger(),
    });
  }

  /** One whole attempt at `version` from the repository, intake checks included. */
  async install(version: string, signal: AbortSignal = new AbortController().signal): Promise<AttemptRow> {
    const keyRing = new KeyRing(this.keys, this.store, silentLogger());
    const now = () => this.clock.now();
    const withdrawals = new WithdrawalTracker({ config: this.config, store: this.store, keyRing, logger: silentLogger(), now });
    const checker = new ChannelChecker({
      config: this.config,
      store: this.store,
      keyRing,
      withdrawals,
      logger: silentLogger(),
      now,
    });
    const verified = await checker.releaseByVersion(version);
    return this.updater().start(
      {
        kind: "update",
        source: "test",
        origin: "repository",
        release: verified.release,
        releaseText: verified.text,
        releaseDigest: verified.digest,
      },
      signal,
    );
  }

  /** Installs the bundle at `file` (a USB stick's, say), as `edge-agent install` would. */
  async sideload(file: string, signal: AbortSignal = new AbortController().signal): Promise<AttemptRow> {
    const verified = await verifySideload(file, this.keys, this.config.name, this.clock.now());
    return this.updater().start(
      {
        kind: "update",
        source: "sideload",
        origin: "sideload",
        release: verified.release,
        releaseText: verified.text,
        releaseDigest: verified.digest,
      },
      signal,
    );
  }

  rollbackTo(version: string): Promise<AttemptRow> {
    return this.updater().start({ kind: "rollback", source: "test", toVersion: version }, new AbortController().signal);
  }

  /** What a restarted agent does first: recovery, then the open attempt (if any) from where it stopped. */
  async resume(signal: AbortSignal = new AbortController().signal): Promise<AttemptRow | undefined> {
    this.db.close();
    this.db = openDb(this.layout.dbPath);
    this.store = new StateStore(this.db, () => this.clock.now());
    const plan = await planRecovery(this.layout, this.store, this.config.name, silentLogger());
    if (!plan.resume) return undefined;
    return this.updater().resume(plan.resume.attempt, plan.resume.phase, signal);
  }

  phases(id: number): string[] {
    return this.store.phaseLog(id).map((p) => p.phase);
  }

  active(): Promise<string | undefined> {
    return readCurrentVersion(this.layout);
  }

  async staging(): Promise<string[]> {
    return readdir(this.layout.stagingDir);
  }

  async downloads(): Promise<string[]> {
    return (await readdir(this.layout.downloadsDir)).sort();
  }

  async close(): Promise<void> {
    this.db.close();
    await this.service.close();
    await this.repo.close();
    await rm(this.root, { recursive: true, force: true });
  }
}
