import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const AGENT_BIN = join(ROOT, "dist", "agent", "main.js");
export const SERVICE_BIN = join(ROOT, "dist", "packaging", "example-service", "server.js");
export const AGENT_UNIT = join(ROOT, "packaging", "systemd", "edgepull-agent.service");
/** Preloaded into the soak bench's daemon for its V8 figures; never shipped. */
export const PROBE_BIN = join(ROOT, "dist", "bench", "memory-probe.js");

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : Number.NaN;
}

/**
 * utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat);
 * with `children`, plus cutime + cstime (16, 17): the helpers it spawned and reaped.
 */
export function cpuTicks(pid: number, opts: { children?: boolean } = {}): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: count from after its closing one, where field 3 starts.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const own = Number(fields[11]) + Number(fields[12]);
  return opts.children ? own + Number(fields[13]) + Number(fields[14]) : own;
}

/** Clock ticks per second for /proc CPU times (`getconf CLK_TCK`, 100 on nearly every Linux). */
export function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

/** Busy and total clock ticks of the whole machine, summed over all cores (first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  // idle and iowait are the time the cores had nothing to run.
  return { busy: total - (values[3] ?? 0) - (values[4] ?? 0), total };
}

/** A port nobody listens on right now (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function sh(command: string, opts: { cwd?: string } = {}): Promise<{ code: number | null; ms: number; stderr: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", command], { cwd: opts.cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, ms: performance.now() - start, stderr }));
  });
}

export function hasCommand(name: string): Promise<boolean> {
  return sh(`command -v ${name}`).then((r) => r.code === 0);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface BenchResult {
  name: string;
  figures: Record<string, number | string>;
  summary: string;
  /** Per-case details, in --json output only. */
  rows?: unknown[];
}

export function report(results: BenchResult[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  for (const r of results) {
    process.stdout.write(`\n## ${r.name}\n${r.summary}\n`);
    for (const [k, v] of Object.entries(r.figures)) process.stdout.write(`  ${k}: ${v}\n`);
  }
}
