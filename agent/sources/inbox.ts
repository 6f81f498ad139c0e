import { mkdir, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { FSWatcher } from "chokidar";
import { toEdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";
import type { AttemptRow } from "../state/store.js";

export const INBOX_DONE = "installed";
export const INBOX_FAILED = "failed";

/** What the inbox reads of an install's outcome (the daemon's local install returns more). */
export interface InboxInstallOutcome {
  version: string;
  /** Undefined when the bundle's version was already active. */
  attempt: Pick<AttemptRow, "result" | "errorCode" | "errorMessage"> | undefined;
}

/**
 * A folder where a technician (or a sync job) drops bundles. A file is taken
 * only once its size has stopped changing (a copy still in progress is left
 * alone), installed through the ordinary path, then moved into `installed/` or
 * `failed/` beside a `<file>.result.json` that says what happened.
 */
export class InboxWatcher {
  private watcher: FSWatcher | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly install: (path: string) => Promise<InboxInstallOutcome>,
    private readonly logger: Logger,
    private readonly stabilityMs = 2000,
  ) {}

  async start(): Promise<void> {
    // Loaded here: most devices have no inbox, and chokidar would cost them about 0.5 MiB for nothing.
    const { watch } = await import("chokidar");
    await mkdir(join(this.dir, INBOX_DONE), { recursive: true });
    await mkdir(join(this.dir, INBOX_FAILED), { recursive: true });
    // chokidar's stability check only stats (it never opens a file), so a FIFO cannot block it; the pickup
    // reads through `install`, which opens without blocking and refuses anything but a regular file.
    const watcher = watch(this.dir, {
      depth: 0,
      ignoreInitial: false,
      awaitWriteFinish: { stabilityThreshold: this.stabilityMs, pollInterval: Math.max(50, this.stabilityMs / 10) },
      ignored: (path, stats) => basename(path).startsWith(".") || (stats?.isFile() === true && !path.endsWith(".tar.gz")),
    });
    watcher.on("add", (path) => {
      if (!path.endsWith(".tar.gz")) return;
      this.queue = this.queue.then(() => this.take(path));
    });
    watcher.on("error", (err) => this.logger.warn({ err, dir: this.dir }, "inbox watch error"));
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
    this.watcher = watcher;
    this.logger.info({ dir: this.dir }, "watching the inbox for bundles");
  }

  private async take(path: string): Promise<void> {
    if (this.stopped) return; // left in the inbox for the next start
    const name = basename(path);
    this.logger.info({ file: name }, "bundle found in the inbox");
    let outcome: Record<string, unknown>;
    let ok = false;
    try {
      const result = await this.install(path);
      ok = !result.attempt || result.attempt.result === "succeeded";
      outcome = {
        ok,
        version: result.version,
        result: result.attempt?.result ?? "already-active",
        errorCode: result.attempt?.errorCode ?? null,
        error: result.attempt?.errorMessage ?? null,
      };
    } catch (thrown) {
      const err = toEdgeError(thrown);
      if (err.code === "INTERRUPTED" || this.stopped) return; // the agent is stopping; the file stays for next time
      outcome = { ok: false, result: "refused", errorCode: err.code, error: err.message };
    }
    const dest = join(this.dir, ok ? INBOX_DONE : INBOX_FAILED, name);
    try {
      await rename(path, dest);
      await writeFile(
        `${dest}.result.json`,
        `${JSON.stringify({ ...outcome, file: name, at: new Date().toISOString() }, null, 2)}\n`,
      );
    } catch (err) {
      this.logger.warn({ err, file: name }, "could not move the bundle out of the inbox");
    }
    this.logger.info({ file: name, ...outcome }, "inbox bundle handled");
  }

  /** Stops watching; an install in progress ends when the agent stops (it resumes on the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
