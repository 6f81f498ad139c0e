import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmdirSync } from "node:fs";
import { appendFile, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A small tmpfs mounted on a folder, so a test can fill the disk the agent's
 * data folder lives on at a moment it chooses (root only: CI runs as root).
 */
const MiB = 1024 * 1024;

export interface SmallDisk {
  dir: string;
  availableBytes(): Promise<number>;
  /** Writes a filler file (outside the agent's data folder) until only `leaveBytes` stay free. */
  fill(leaveBytes: number): Promise<void>;
  /** Deletes the filler: the operator freed the disk. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

/** Why a small tmpfs cannot be mounted here, or undefined when it can (tried once, for real). */
export function smallDiskProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to mount a small tmpfs as the data folder";
  const probe = mkdtempSync(join(tmpdir(), "edgepull-tmpfs-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stdio: "pipe" });
    execFileSync("umount", [probe], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  } finally {
    rmdirSync(probe);
  }
}

export async function mountSmallDisk(dir: string, sizeMiB: number): Promise<SmallDisk> {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m,mode=0755`, "tmpfs", dir], { stdio: "pipe" });
  const filler = join(dir, "filler.bin");
  const availableBytes = async (): Promise<number> => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    availableBytes,
    fill: async (leaveBytes) => {
      // In pieces, looking again each time: the agent may be writing to the same disk meanwhile.
      for (;;) {
        const room = (await availableBytes()) - leaveBytes;
        if (room < 4096) return;
        try {
          await appendFile(filler, Buffer.alloc(Math.min(room, MiB) & ~4095, 0x55));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOSPC") return;
          throw err;
        }
      }
    },
    free: () => rm(filler, { force: true }),
    unmount: async () => {
      try {
        execFileSync("umount", [dir], { stdio: "pipe" });
      } catch {
        // Something still holds a file there (a test that failed midway): detach it anyway.
        execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      }
    },
  };
}
