import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { callDaemon } from "../agent/control/control-client.js";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { startRepoServer } from "../publisher/repo-server.js";
import { AGENT_BIN, type BenchResult, freePort, median, rssKiB, SERVICE_BIN } from "./common.js";

/** What is measured after each cycle, on the one daemon process. */
export interface SoakSample {
  cycle: number;
  rssKiB: number;
  fds: number;
  versions: number;
  downloadFiles: number;
  downloadBytes: number;
  /** The journal's logical size (page_count × page_size, WAL included). */
  journalBytes: number;
}

export interface SoakRun {
  samples: SoakSample[];
  keepVersions: number;
  /** `edge-agent history --json` (its default 50 entries, and every entry), after the first cycle and after the last. */
  historyMs: { first: { recent: number; all: number }; last: { recent: number; all: number } };
  historyEntries: number;
  totalMs: number;
}

export interface SoakOptions {
  cycles: number;
  keepVersions?: number;
  agentBin?: string;
  serviceBin?: string;
  /** Runs of `history --json` per figure (the median is kept); default 3. */
  historyRuns?: number;
  progress?: (text: string) => void;
}

interface AttemptResult {
  result: string | null;
  toVersion: string;
  errorCode: string | null;
}

/**
 * One real daemon (supervising the example service) through `cycles` update
 * and rollback cycles: each cycle builds and publishes a new release through a
 * real repository server, asks the daemon to check (over its control socket,
 * as `edge-agent check` does) and waits for the commit, then asks it to roll
 * back, health-checked like an update. The daemon runs as the systemd unit
 * runs it (MALLOC_ARENA_MAX=1).
 */
export async function runSoak(opts: SoakOptions): Promise<SoakRun> {
  const agentBin = opts.agentBin ?? AGENT_BIN;
  const serviceBin = opts.serviceBin ?? SERVICE_BIN;
  const keepVersions = opts.keepVersions ?? 3;
  const root = await mkdtemp(join(tmpdir(), "edgepull-soak-"));
  const keys = await keygen({ outDir: join(root, "keys") });
  const repoDir = join(root, "repo");
  const repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  const dataDir = join(root, "data");
  const configPath = join(root, "agent.json");
  const port = await freePort();
  const publish = async (version: string, seed: number): Promise<void> => {
    const modelDir = join(root, "model");
    await rm(modelDir, { recursive: true, force: true });
    await writeExampleModel(modelDir, { version, seed });
    await buildRelease({ modelDir, name: "soak", version, repoDir, keyPath: keys.privateKeyPath });
    await publishChannel({ repoDir, name: "soak", version, channel: "stable", keyPath: keys.privateKeyPath });
  };
  await writeFile(
    configPath,
    JSON.stringify({
      deviceId: "soak",
      dataDir,
      name: "soak",
      channel: "stable",
      repository: repo.url,
      trustedKeys: [keys.publicKeyPath],
      // Checks come over the control socket; the poll loop only makes the first install.
      pollIntervalSeconds: 7 * 24 * 3600,
      keepVersions,
      diskReserveMiB: 0,
      service: { mode: "supervise", command: [process.execPath, serviceBin], env: { PORT: String(port) } },
      health: { url: `http://127.0.0.1:${port}/ready`, timeoutSeconds: 20, probationSeconds: 0, intervalMs: 10 },
      logLevel: "warn",
    }),
  );
  await publish("1.0.0", 1);
  const agent = spawn(process.execPath, [agentBin, "run", "--config", configPath], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, MALLOC_ARENA_MAX: "1" },
  });
  const exited = new Promise<void>((resolve) => agent.once("exit", () => resolve()));
  const socket = join(dataDir, "agent.sock");
  const started = performance.now();
  try {
    await untilActive(socket, "1.0.0");
    const pid = agent.pid as number;
    const samples: SoakSample[] = [];
    let historyFirst = { recent: 0, all: 0 };
    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      const version = `1.${cycle}.0`;
      await publish(version, cycle + 1);
      const check = await callDaemon<{ attempt?: AttemptResult }>(socket, "/check");
      expectResult(check?.attempt, version, `cycle ${cycle}: update`);
      const back = await callDaemon<AttemptResult>(socket, "/rollback");
      expectResult(back, undefined, `cycle ${cycle}: rollback`);
      samples.push({ cycle, rssKiB: rssKiB(pid), ...(await folders(dataDir, pid)) });
      if (cycle === 1) historyFirst = await historyTimes(agentBin, configPath, opts.historyRuns ?? 3);
      if (cycle % 50 === 0) opts.progress?.(`cycle ${cycle}/${opts.cycles}, RSS ${(rssKiB(pid) / 1024).toFixed(1)} MiB`);
    }
    const historyLast = await historyTimes(agentBin, configPath, opts.historyRuns ?? 3);
    const entries = JSON.parse(
      (await runCli(agentBin, ["history", "--json", "--limit", "1000000", "--config", configPath])).stdout,
    );
    return {
      samples,
      keepVersions,
      historyMs: { first: historyFirst, last: historyLast },
      historyEntries: (entries as unknown[]).length,
      totalMs: performance.now() - started,
    };
  } finally {
    agent.kill("SIGTERM");
    await exited;
    await repo.close();
    await rm(root, { recursive: true, force: true });
  }
}

function expectResult(attempt: AttemptResult | undefined, version: string | undefined, what: string): void {
  if (attempt?.result !== "succeeded" || (version !== undefined && attempt.toVersion !== version)) {
    throw new Error(`${what} did not succeed: ${JSON.stringify(attempt)}`);
  }
}

/** The first install comes from the poll loop; a check meanwhile is refused as busy. */
async function untilActive(socket: string, version: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = await callDaemon<{ decision: { action: string; reason?: string } }>(socket, "/check").catch(() => undefined);
    if (r?.decision.action === "none" && r.decision.reason === "up-to-date") return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the daemon never reported ${version} up to date`);
}

async function folders(dataDir: string, pid: number): Promise<Omit<SoakSample, "cycle" | "rssKiB">> {
  const downloads = await readdir(join(dataDir, "downloads"));
  let downloadBytes = 0;
  for (const f of downloads) downloadBytes += (await stat(join(dataDir, "downloads", f))).size;
  const db = new Database(join(dataDir, "state.db"), { readonly: true, fileMustExist: true });
  let journalBytes: number;
  try {
    journalBytes = (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
  } finally {
    db.close();
  }
  return {
    fds: (await readdir(`/proc/${pid}/fd`)).length,
    versions: (await readdir(join(dataDir, "versions"))).length,
    downloadFiles: downloads.length,
    downloadBytes,
    journalBytes,
  };
}

function runCli(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, ms: performance.now() - start }));
  });
}

/** The median of `runs` runs each: the CLI's start-up is most of it, and varies. */
async function historyTimes(bin: string, configPath: string, runs: number): Promise<{ recent: number; all: number }> {
  const time = async (extra: string[]): Promise<number> => {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push((await runCli(bin, ["history", "--json", ...extra, "--config", configPath])).ms);
    return median(ms);
  };
  return { recent: await time([]), all: await time(["--limit", "1000000"]) };
}

/** Bytes the journal grew per cycle over the first and the second half of the run. */
export function journalGrowth(samples: SoakSample[]): { firstHalf: number; secondHalf: number } {
  const mid = Math.floor(samples.length / 2);
  const per = (a: SoakSample | undefined, b: SoakSample | undefined): number =>
    a && b && b.cycle > a.cycle ? (b.journalBytes - a.journalBytes) / (b.cycle - a.cycle) : Number.NaN;
  return { firstHalf: per(samples[0], samples[mid - 1]), secondHalf: per(samples[mid - 1], samples.at(-1)) };
}

export async function benchSoak(cycles: number, progress: (text: string) => void): Promise<BenchResult> {
  const run = await runSoak({ cycles, progress });
  const at = (cycle: number): SoakSample | undefined => run.samples.find((s) => s.cycle === cycle);
  const base = at(Math.min(50, cycles));
  const last = run.samples.at(-1);
  const growth = journalGrowth(run.samples);
  const fds = run.samples.map((s) => s.fds);
  const mib = (kib: number | undefined): number => Number(((kib ?? Number.NaN) / 1024).toFixed(1));
  const rssChange = base && last ? (last.rssKiB / base.rssKiB - 1) * 100 : Number.NaN;
  return {
    name: `soak: one daemon through ${cycles} update and rollback cycles`,
    summary:
      `RSS ${mib(base?.rssKiB)} MiB after cycle ${base?.cycle}, ${mib(last?.rssKiB)} MiB after cycle ${last?.cycle} (${rssChange.toFixed(1)} %); ` +
      `fds ${Math.min(...fds)}-${Math.max(...fds)}; versions at most ${Math.max(...run.samples.map((s) => s.versions))} (keepVersions ${run.keepVersions}); ` +
      `downloads at most ${Math.max(...run.samples.map((s) => s.downloadFiles))} files; journal ${(growth.firstHalf / 1024).toFixed(2)} then ${(growth.secondHalf / 1024).toFixed(2)} KiB per cycle; ` +
      `history --json ${run.historyMs.first.recent.toFixed(0)} -> ${run.historyMs.last.recent.toFixed(0)} ms (all ${run.historyEntries} entries: ${run.historyMs.last.all.toFixed(0)} ms)`,
    figures: {
      cycles,
      seconds: Math.round(run.totalMs / 1000),
      rssAfter50MiB: mib(base?.rssKiB),
      rssAfterLastMiB: mib(last?.rssKiB),
      rssChangePercent: Number(rssChange.toFixed(1)),
      rssMaxMiB: mib(Math.max(...run.samples.map((s) => s.rssKiB))),
      // A single sample lands anywhere in V8's GC saw-tooth: the medians of ten and fifty cycles too.
      rssMedianCycles41To50MiB: mib(median(run.samples.slice(40, 50).map((s) => s.rssKiB))),
      rssMedianLast50MiB: mib(median(run.samples.slice(-50).map((s) => s.rssKiB))),
      fdsMin: Math.min(...fds),
      fdsMax: Math.max(...fds),
      fdsLast: last?.fds ?? Number.NaN,
      versionsMax: Math.max(...run.samples.map((s) => s.versions)),
      downloadFilesMax: Math.max(...run.samples.map((s) => s.downloadFiles)),
      downloadBytesMax: Math.max(...run.samples.map((s) => s.downloadBytes)),
      journalKiB: Number(((last?.journalBytes ?? 0) / 1024).toFixed(0)),
      journalBytesPerCycleFirstHalf: Math.round(growth.firstHalf),
      journalBytesPerCycleSecondHalf: Math.round(growth.secondHalf),
      historyRecentMsFirst: Math.round(run.historyMs.first.recent),
      historyRecentMsLast: Math.round(run.historyMs.last.recent),
      historyAllMsFirst: Math.round(run.historyMs.first.all),
      historyAllMsLast: Math.round(run.historyMs.last.all),
      historyEntries: run.historyEntries,
    },
    rows: run.samples,
  };
}
