import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import { parsePidRecord } from "./orphan.js";
import { isAlive } from "./process-group.js";

/**
 * What the hand-over controller leaves on disk so a later agent process (after
 * kill -9 or a power cut of the agent alone) finds the versions it started:
 *
 *   instances/<port>.json   version and folder of the process on that loopback port
 *   instances/<port>.pid    its pid and start time (written by its Supervisor)
 *   instances/serving.json  the port the proxy sends requests to
 */
export interface InstanceMeta {
  version: string;
  modelDir: string;
  port: number;
}

export interface FoundInstance extends InstanceMeta {
  pidFile: string;
  pid: number;
}

export class InstanceRecords {
  constructor(readonly dir: string) {}

  pidFile(port: number): string {
    return join(this.dir, `${port}.pid`);
  }

  async write(meta: InstanceMeta): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, `${meta.port}.json`), `${JSON.stringify(meta)}\n`);
  }

  async remove(port: number): Promise<void> {
    await rm(join(this.dir, `${port}.json`), { force: true });
    await rm(this.pidFile(port), { force: true });
  }

  async writeServing(port: number | undefined): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (port === undefined) await rm(join(this.dir, "serving.json"), { force: true });
    else await writeFileAtomic(join(this.dir, "serving.json"), `${JSON.stringify({ port })}\n`);
  }

  async servingPort(): Promise<number | undefined> {
    const value = await readJson(join(this.dir, "serving.json"));
    return typeof value?.port === "number" ? value.port : undefined;
  }

  /** Every recorded instance whose exact process (pid and start time) still runs; records of dead ones are removed. */
  async findLive(): Promise<FoundInstance[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const found: FoundInstance[] = [];
    for (const name of names) {
      const port = /^(\d+)\.json$/.exec(name)?.[1];
      if (port === undefined) continue;
      const meta = await readJson(join(this.dir, name));
      const pidFile = this.pidFile(Number(port));
      const pidText = await readFile(pidFile, "utf8").catch(() => "");
      const record = parsePidRecord(pidText);
      const live =
        meta &&
        typeof meta.version === "string" &&
        typeof meta.modelDir === "string" &&
        typeof record !== "string" &&
        record.startTime !== null &&
        (await isAlive(record.pid, record.startTime));
      if (!live || typeof record === "string") {
        await this.remove(Number(port));
        continue;
      }
      found.push({
        version: meta.version as string,
        modelDir: meta.modelDir as string,
        port: Number(port),
        pidFile,
        pid: record.pid,
      });
    }
    return found;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, "utf8"));
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
