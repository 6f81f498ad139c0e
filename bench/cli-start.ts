import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keygen } from "../publisher/commands/keygen.js";
import { AGENT_BIN, type BenchResult, median } from "./common.js";

/**
 * Wall time of one `node <bin> <args>` from spawn to exit, in ms. status exits 1
 * on a device with nothing installed yet and still prints its answer; a command
 * that printed nothing failed, and fails the bench (it would time an error path).
 */
function timeOnce(bin: string, args: string[]): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error && stdout.trim() === "") reject(new Error(`${bin} ${args.join(" ")}: ${stderr || error.message}`));
      else resolve(performance.now() - start);
    });
  });
}

/** Runs alternate between the binaries so load on a shared machine falls on each alike. */
async function medians(bins: string[], args: string[], runs: number): Promise<number[]> {
  const times: number[][] = bins.map(() => []);
  for (let i = 0; i < runs; i++) for (const [b, bin] of bins.entries()) times[b]?.push(await timeOnce(bin, args));
  return times.map((t) => median(t));
}

/**
 * `--only cli-start [--baseline-dist DIR]`: start-to-exit time of `edge-agent
 * --version` and `edge-agent status --json` (a fresh device: a config, no
 * journal yet), median of `runs`; with a baseline dist/ (another build of the
 * agent) both are timed in the same run, interleaved.
 */
export async function benchCliStart(runs = 10, baselineDist?: string): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-cli-"));
  const configPath = join(root, "agent.json");
  const keys = await keygen({ outDir: join(root, "keys") });
  await writeFile(
    configPath,
    JSON.stringify({
      deviceId: "bench",
      dataDir: "data",
      name: "bench",
      channel: "stable",
      repository: "http://127.0.0.1:9/",
      trustedKeys: [keys.publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: "http://127.0.0.1:9/" },
    }),
  );
  const bins = [AGENT_BIN, ...(baselineDist ? [join(baselineDist, "agent", "main.js")] : [])];
  try {
    const version = await medians(bins, ["--version"], runs);
    const status = await medians(bins, ["status", "--json", "--config", configPath], runs);
    const figures: Record<string, number> = {
      versionMs: Math.round(version[0] as number),
      statusJsonMs: Math.round(status[0] as number),
    };
    if (baselineDist) {
      figures.baselineVersionMs = Math.round(version[1] as number);
      figures.baselineStatusJsonMs = Math.round(status[1] as number);
    }
    const baseline = baselineDist ? ` (baseline ${figures.baselineVersionMs} / ${figures.baselineStatusJsonMs} ms)` : "";
    return {
      name: `edge-agent start to exit, median of ${runs}`,
      summary: `--version ${figures.versionMs} ms, status --json ${figures.statusJsonMs} ms${baseline}`,
      figures,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
