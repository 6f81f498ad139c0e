import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";

const GNU_TIME = "/usr/bin/time";

export interface Measured {
  code: number | null;
  /** Wall time of the whole process, start-up included. */
  ms: number;
  /** Peak resident set (ru_maxrss) from GNU time, when it is installed. */
  maxRssKiB?: number;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs one command to its end and measures it: wall time here, peak RSS via
 * GNU time (`-f %M`, the kernel's ru_maxrss of the child, the figure
 * process.resourceUsage().maxRSS gives inside node). Killed after `timeoutMs`.
 */
export async function runMeasured(
  command: string,
  args: string[],
  opts: { timeoutMs?: number; rssFile: string },
): Promise<Measured> {
  const timed = existsSync(GNU_TIME);
  const [file, argv] = timed ? [GNU_TIME, ["-f", "%M", "-o", opts.rssFile, command, ...args]] : [command, args];
  await rm(opts.rssFile, { force: true });
  const start = performance.now();
  const child = spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], detached: opts.timeoutMs !== undefined });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          // The process group: GNU time and the command under it. The leader may
          // be gone already (its pipes held open by what it left behind): then
          // the group is too, or there is nothing left to kill.
          if (child.pid === undefined) return;
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            child.kill("SIGKILL");
          }
        }, opts.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c));
  });
  clearTimeout(timer);
  const ms = performance.now() - start;
  let maxRssKiB: number | undefined;
  if (timed && !timedOut) {
    const lines = (await readFile(opts.rssFile, "utf8").catch(() => "")).trim().split("\n");
    const value = Number(lines.at(-1));
    if (Number.isFinite(value) && value > 0) maxRssKiB = value;
  }
  await rm(opts.rssFile, { force: true });
  return { code, ms, ...(maxRssKiB !== undefined ? { maxRssKiB } : {}), timedOut, stdout, stderr };
}
