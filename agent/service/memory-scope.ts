import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";

/**
 * Whether a command can be run under a memory cap here: cgroups v2 with the
 * memory controller, and systemd willing to make a transient scope for us
 * (`systemd-run --scope` as root, `--user --scope` otherwise). Probed once by
 * running the real thing on `true`; the answer is kept for the process's life.
 */
export type MemoryScope = { enforced: true; prefix: (memoryMaxMiB: number) => string[] } | { enforced: false; reason: string };

const PROBE_TIMEOUT_MS = 10_000;
let cached: Promise<MemoryScope> | undefined;

export function memoryScope(): Promise<MemoryScope> {
  cached ??= probeMemoryScope();
  return cached;
}

export async function probeMemoryScope(): Promise<MemoryScope> {
  let controllers: string;
  try {
    controllers = await readFile("/sys/fs/cgroup/cgroup.controllers", "utf8");
  } catch {
    return { enforced: false, reason: "no cgroup v2 hierarchy at /sys/fs/cgroup (cgroup.controllers is missing)" };
  }
  if (!controllers.split(/\s+/).includes("memory")) {
    return { enforced: false, reason: "the cgroup v2 memory controller is not enabled" };
  }
  const base = process.getuid?.() === 0 ? ["systemd-run", "--scope"] : ["systemd-run", "--user", "--scope"];
  const prefix = (mib: number): string[] => [...base, "-p", `MemoryMax=${mib}M`, "--quiet", "--"];
  const [program, ...args] = [...prefix(64), "true"];
  const failure = await runProbe(program as string, args);
  if (failure) return { enforced: false, reason: `${base.join(" ")} does not work here: ${failure}` };
  return { enforced: true, prefix };
}

/** undefined when the probe exited 0; otherwise why not, in a few words. */
function runProbe(program: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    let stderr = "";
    const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"], timeout: PROBE_TIMEOUT_MS });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 500) stderr += chunk.toString("utf8");
    });
    child.once("error", (err) => resolve(err.message));
    child.once("close", (code, signal) => {
      if (code === 0) resolve(undefined);
      else
        resolve(
          `${signal ? `killed by ${signal}` : `exit code ${code}`}${stderr.trim() ? `: ${stderr.trim().split("\n").at(-1)}` : ""}`,
        );
    });
  });
}
