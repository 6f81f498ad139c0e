import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { AgentConfig } from "../config.js";
import { readCurrentVersion } from "../install/activate.js";
import { type Layout, layoutFor, versionDir } from "../install/layout.js";
import type { Logger } from "../logging.js";
import type { Clock } from "../ports.js";
import { type Db, openDb } from "../state/db.js";
import { StateStore } from "../state/store.js";
import { loadTrustedKeys } from "../trusted-keys.js";
import { exists } from "../update/artifacts.js";
import type { AgentGraph } from "../wiring/agent-graph.js";
import { wireSources } from "../wiring/agent-graph.js";

/** Dry runs work in `<dataDir>/.dry-run.<pid>.<random>/`; nothing else in the data folder is written. */
const PREFIX = ".dry-run.";

/**
 * What a dry run works on: the real data folder's versions and `current`
 * (only read), and a private folder for everything it writes: downloads,
 * staging, the versions it stages, and a copy of the journal. The journal is
 * copied with plain file reads, never opened by SQLite in place (a read-only
 * SQLite connection still creates or writes `state.db-shm`), so the real
 * `state.db` and its `-wal`/`-shm` stay byte-identical. No device lock is
 * taken: nothing the daemon owns is touched, so it runs beside a daemon.
 */
export interface DryWorld extends Pick<AgentGraph, "config" | "clock" | "store" | "keyRing" | "withdrawals" | "checker"> {
  /** The real paths, for reading what is active and staged. */
  real: Layout;
  /** Private downloads/, staging/ and versions/ (the active version linked in, for a delta's base). */
  layout: Layout;
  active: string | undefined;
  dispose(): Promise<void>;
}

export async function openDryWorld(config: AgentConfig, logger: Logger, clock: Clock): Promise<DryWorld> {
  const real = layoutFor(config.dataDir);
  await removeStaleDryRuns(real.dataDir);
  const root = join(real.dataDir, `${PREFIX}${process.pid}.${randomBytes(4).toString("hex")}`);
  let db: Db | undefined;
  const dispose = async () => {
    db?.close();
    await rm(root, { recursive: true, force: true });
  };
  try {
    const trustedKeys = await loadTrustedKeys(config.trustedKeys);
    await mkdir(root);
    const layout: Layout = {
      ...real,
      versionsDir: join(root, "versions"),
      stagingDir: join(root, "staging"),
      downloadsDir: join(root, "downloads"),
      currentLink: join(root, "current"),
      dbPath: join(root, "state.db"),
      servicePidFile: join(root, "service.pid"),
      controlSocket: join(root, "agent.sock"),
      lockFile: join(root, "agent.lock"),
    };
    for (const dir of [layout.versionsDir, layout.stagingDir, layout.downloadsDir]) await mkdir(dir);
    const active = await readCurrentVersion(real);
    if (active && (await exists(versionDir(real, active)))) {
      await symlink(versionDir(real, active), versionDir(layout, active));
    }
    db = openDb(await copyJournal(real.dbPath, layout.dbPath));
    const store = new StateStore(db, () => clock.now());
    const sources = wireSources(config, store, trustedKeys, logger, clock);
    return { config, clock, store, ...sources, real, layout, active, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** The journal and its write-ahead log, copied byte for byte (a fresh device has neither). */
async function copyJournal(from: string, to: string): Promise<string> {
  if (await exists(from)) {
    await copyFile(from, to);
    // Commits not yet checkpointed live in the -wal; SQLite replays them in the copy.
    if (await exists(`${from}-wal`)) await copyFile(`${from}-wal`, `${to}-wal`);
  }
  return to;
}

/** A dry run killed before its cleanup leaves its folder; the next one removes it once its process is gone. */
async function removeStaleDryRuns(dataDir: string): Promise<void> {
  for (const entry of await readdir(dataDir).catch(() => [] as string[])) {
    if (!entry.startsWith(PREFIX)) continue;
    const pid = Number(entry.slice(PREFIX.length).split(".")[0]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
    await rm(join(dataDir, entry), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
