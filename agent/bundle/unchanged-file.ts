import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";

/**
 * Notices whether a file is written, replaced or removed after this point: an
 * inotify watch (which sees a write at once, whatever the timestamps'
 * granularity) and the file's identity and times (which see what happened
 * while no watch could). Closes itself at the first change it sees.
 */
export class UnchangedFile {
  private changed = false;

  private constructor(
    readonly path: string,
    private readonly identity: string,
    private watcher: FSWatcher | undefined,
  ) {}

  static async watch(path: string): Promise<UnchangedFile> {
    const guard: { file?: UnchangedFile; early: boolean } = { early: false };
    const watcher = watch(path, { persistent: false }, () => {
      if (guard.file) guard.file.markChanged();
      else guard.early = true;
    });
    watcher.on("error", () => guard.file?.markChanged());
    const file = new UnchangedFile(path, await identityOf(path), watcher);
    guard.file = file;
    if (guard.early) file.markChanged();
    return file;
  }

  /** True when nothing has touched the file since `watch`. */
  async unchanged(): Promise<boolean> {
    // Let a pending inotify event reach its listener before trusting the flag.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.changed) return false;
    const now = await identityOf(this.path).catch(() => "gone");
    return now === this.identity;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private markChanged(): void {
    this.changed = true;
    this.close();
  }
}

async function identityOf(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
