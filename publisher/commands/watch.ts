import { access, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { watch } from "chokidar";
import type { Logger } from "pino";
import { EdgeError } from "../../shared/errors.js";
import { nameProblem } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { type DeltaHook, deltasFromPrevious } from "../watch/delta-hook.js";
import { releaseVersion } from "../watch/release-step.js";
import { VersionBoard } from "../watch/version-board.js";
import { COMPLETE_MARKER, isHiddenName, isVersionName, locate } from "../watch/version-folders.js";

export const DEFAULT_STABLE_MS = 10_000;
/**
 * chokidar 4 can miss a file created while it lists a folder that just appeared
 * (seen here: a marker written right after mkdir was reported only when the
 * next change in that folder came), so waiting folders are also looked at.
 */
const MARKER_POLL_MS = 1000;

export interface WatchOptions {
  /** Where training drops `<version>/` folders. */
  modelsDir: string;
  repoDir: string;
  keyPath: string;
  name: string;
  channel: string;
  mqtt?: MqttSettings;
  /** A folder without a marker is complete once nothing in it changed for this long (default 10 s). */
  stableMs?: number;
  expiresInDays?: number;
  logger: Logger;
  /** Deltas from this many newest earlier releases, plus the channel's (default 2; 0: none). */
  deltaBases?: number;
  /** Runs after each build, before the publish (default: deltasFromPrevious(deltaBases)). */
  buildDeltas?: DeltaHook;
}

export interface WatchHandle {
  /** Stops watching; a version being built is finished and published, nothing new is started. */
  stop(): Promise<void>;
  /** Resolves once no version is waiting to become complete, queued or being built (or after stop). */
  idle(): Promise<void>;
}

async function checkOptions(opts: WatchOptions, stableMs: number): Promise<void> {
  const problem = nameProblem(opts.name) ?? nameProblem(opts.channel, "channel");
  if (problem) throw new EdgeError("VERSION_INVALID", problem);
  if (!Number.isFinite(stableMs) || stableMs <= 0) {
    throw new EdgeError("USAGE", `the stable time must be a positive number of milliseconds (found ${stableMs})`);
  }
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  // A bad key would otherwise surface only at the first build, perhaps hours later.
  await loadPrivateKey(opts.keyPath);
  const st = await stat(opts.modelsDir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new EdgeError("MODEL_DIR_INVALID", `models folder ${opts.modelsDir} does not exist or is not a folder`);
  }
}

async function inRepository(repoDir: string, name: string, version: string): Promise<boolean> {
  return access(join(repoDir, releaseManifestPath(name, version))).then(
    () => true,
    () => false,
  );
}

/**
 * Watches a models folder and releases each complete new `<version>/` folder:
 * build, then publish to the channel, one version at a time, lowest first.
 */
export async function startWatch(opts: WatchOptions): Promise<WatchHandle> {
  const stableMs = opts.stableMs ?? DEFAULT_STABLE_MS;
  await checkOptions(opts, stableMs);
  const log = opts.logger;
  const settings = { ...opts, buildDeltas: opts.buildDeltas ?? deltasFromPrevious(opts.deltaBases), logger: log };

  let stopped = false;
  let scanned = false;
  let running: Promise<void> | undefined;
  let idleWaiters: (() => void)[] = [];
  const board = new VersionBoard(stableMs, log, () => {
    drain();
    notifyIdle();
  });

  function notifyIdle(): void {
    if (!stopped && (running || !board.isIdle())) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function drain(): void {
    // Before the first scan ends, the lowest version may not have been seen yet.
    if (running || stopped || !scanned) return;
    const first = board.next();
    if (!first) return;
    running = (async () => {
      for (let next: typeof first | undefined = first; next; next = stopped ? undefined : board.next()) {
        const ok = await releaseVersion(settings, next.version, next.reason);
        board.finished(next.version, ok);
      }
    })().finally(() => {
      running = undefined;
      // A version may have become complete between the loop's last look and now.
      drain();
      notifyIdle();
    });
  }

  // Versions already released are skipped, so a restart does not rebuild (or re-publish) the past.
  const skipped: string[] = [];
  for (const entry of await readdir(opts.modelsDir, { withFileTypes: true })) {
    if (entry.isDirectory() && isVersionName(entry.name) && (await inRepository(opts.repoDir, opts.name, entry.name))) {
      board.skip(entry.name);
      skipped.push(entry.name);
    }
  }
  if (skipped.length > 0) log.info({ versions: skipped }, "versions already in the repository; skipped");

  const warned = new Set<string>();
  const watcher = watch(opts.modelsDir, { ignoreInitial: false, followSymlinks: false });
  watcher.on("all", (event, path) => {
    const at = locate(opts.modelsDir, path);
    if (!at || stopped) return;
    if (!isVersionName(at.folder)) {
      const isFolder = at.inner !== "" || event === "addDir";
      if (isFolder && !isHiddenName(at.folder) && !warned.has(at.folder)) {
        warned.add(at.folder);
        log.warn({ folder: at.folder }, "ignoring a folder whose name is not a semantic version");
      }
      return;
    }
    if (at.inner === "") {
      if (event === "unlinkDir") board.removed(at.folder);
      else if (event === "addDir") board.touch(at.folder, false);
      return; // a plain file named like a version is not a model folder
    }
    const marker = at.inner === COMPLETE_MARKER && (event === "add" || event === "change");
    board.touch(at.folder, marker);
  });
  watcher.on("error", (err) => log.warn({ err, modelsDir: opts.modelsDir }, "models folder watch error"));
  await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  scanned = true;
  const markerPoll = setInterval(() => {
    for (const version of board.waiting()) {
      access(join(opts.modelsDir, version, COMPLETE_MARKER)).then(
        () => {
          if (!stopped) board.touch(version, true);
        },
        () => undefined,
      );
    }
  }, MARKER_POLL_MS);
  log.info(
    { modelsDir: opts.modelsDir, repoDir: opts.repoDir, name: opts.name, channel: opts.channel, stableMs, mqtt: opts.mqtt?.url },
    "watching for model versions",
  );
  drain();

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearInterval(markerPoll);
        board.clear();
        await watcher.close();
        if (running !== undefined) {
          log.info({}, "stopping: finishing the version in hand");
          await running;
        }
        notifyIdle();
        log.info({}, "watch stopped");
      })();
      return stopping;
    },
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        notifyIdle();
      });
    },
  };
}
