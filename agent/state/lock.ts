import { readFileSync } from "node:fs";
import { open, readFile, unlink } from "node:fs/promises";
import { EdgeError } from "../../shared/errors.js";

/**
 * One process at a time changes a device: the daemon, or a technician's
 * `check`/`rollback` when the daemon is down. A lock file holds the owner's pid
 * and process start time; a lock whose owner is gone (kill -9, power cut) is
 * stale and taken over, and a reused pid is told apart by its start time.
 */
export interface LockOwner {
  pid: number;
  startTime: string | null;
  role: string;
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22, counted after the parenthesised command name (which may hold spaces).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const start = processStartTime(owner.pid);
  return owner.startTime === null || start === null || start === owner.startTime;
}

export async function readLockOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, "utf8")) as LockOwner;
    return isAlive(owner) ? owner : undefined;
  } catch {
    return undefined;
  }
}

export class DeviceLock {
  private constructor(private readonly path: string) {}

  static async acquire(path: string, role: string): Promise<DeviceLock> {
    const me: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), role };
    for (let tries = 0; tries < 3; tries++) {
      try {
        const handle = await open(path, "wx", 0o644);
        await handle.writeFile(JSON.stringify(me));
        await handle.sync();
        await handle.close();
        return new DeviceLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const owner = await readLockOwner(path);
      if (owner) {
        throw new EdgeError(
          "AGENT_BUSY",
          `another edge-agent (${owner.role}, pid ${owner.pid}) is changing this device; try again when it is done`,
        );
      }
      await unlink(path).catch(() => {});
    }
    throw new EdgeError("AGENT_BUSY", `cannot take the lock ${path}`);
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => {});
  }
}
