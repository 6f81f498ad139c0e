import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const AGENT_BIN = join(ROOT, "dist", "agent", "main.js");
export const SERVICE_BIN = join(ROOT, "dist", "packaging", "example-service", "server.js");

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : Number.NaN;
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
