import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { callDaemon } from "../agent/control/control-client.js";
import type { DaemonRoutes } from "../agent/wiring/control-routes.js";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { startRepoServer } from "../publisher/repo-server.js";
import { AGENT_BIN, AGENT_UNIT, freePort, median, PROBE_BIN, SERVICE_BIN } from "./common.js";
import type { ProbeLine } from "./memory-probe.js";
import { type ResidentMemory, residentMemory } from "./process-memory.js";

/** The daemon's own V8 figures after a cycle (from the bench's memory probe preloaded into it). */
export type V8Figures = Omit<ProbeLine, "seq" | "rssKiB" | "forcedGc">;

/** What is measured after each cycle, on the one daemon process. */
export interface SoakSample extends ResidentMemory, V8Figures, FolderFigures {
  cycle: number;
}

export interface SoakRun {
  samples: SoakSample[];
  /** Taken every IDLE_STEP_SECONDS after the last cycle while the daemon does nothing. */
  idle: { seconds: number; sample: SoakSample }[];
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
  /** The built memory probe (dist/bench/memory-probe.js). */
  probeBin?: string;
  /** Runs of `history --json` per figure (the median is kept); default 3. */
  historyRuns?: number;
  /**
   * A full GC in the daemon after each cycle, before its V8 figures are read (the RSS is read first):
   * heapUsed is then the live heap. It changes how the heap grows, so it is off for the target's figures.
   */
  forceGc?: boolean;
  /** Seconds to watch the daemon idle after the last cycle (default 0). */
  idleSeconds?: number;
  /** The systemd unit whose Environment= lines the daemon gets (default packaging/systemd/edgepull-agent.service). */
  unitPath?: string;
  /** More environment for the daemon, for experiments. */
  extraEnv?: Record<string, string>;
  /** Extra node flags for the daemon, for experiments (the systemd unit passes none). */
  nodeFlags?: string[];
  progress?: (text: string) => void;
}

const IDLE_STEP_SECONDS = 5;

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
 * runs it (its Environment= lines, no node flags).
 */
export async function runSoak(opts: SoakOptions): Promise<SoakRun> {
  const agentBin = opts.agentBin ?? AGENT_BIN;
  const serviceBin = opts.serviceBin ?? SERVICE_BIN;
  const probeBin = opts.probeBin ?? PROBE_BIN;
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
  const probeFile = join(root, "memory-probe.jsonl");
  const flags = [...(opts.forceGc ? ["--expose-gc"] : []), ...(opts.nodeFlags ?? [])];
  const agent = spawn(process.execPath, [...flags, "--import", probeBin, agentBin, "run", "--config", configPath], {
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...(await unitEnvironment(opts.unitPath)),
      ...opts.extraEnv,
      EDGEPULL_MEMORY_PROBE: probeFile,
      ...(opts.forceGc ? { EDGEPULL_MEMORY_PROBE_GC: "1" } : {}),
    },
  });
  const exited = new Promise<void>((resolve) => agent.once("exit", () => resolve()));
  const socket = join(dataDir, "agent.sock");
  const started = performance.now();
  try {
    await untilActive(socket, "1.0.0");
    const pid = agent.pid as number;
    const samples: SoakSample[] = [];
    let probes = 0;
    const sample = async (cycle: number): Promise<SoakSample> => {
      // The kernel's figures first: a forced GC in the probe must not shrink the RSS recorded for the cycle.
      const resident = await residentMemory(pid);
      const v8 = await probe(pid, probeFile, ++probes);
      return { cycle, ...resident, ...v8, ...(await folders(dataDir, pid)) };
    };
    let historyFirst = { recent: 0, all: 0 };
    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      const version = `1.${cycle}.0`;
      await publish(version, cycle + 1);
      const check = await callDaemon<DaemonRoutes, "/check">(socket, "/check", {});
      expectResult(check?.attempt, version, `cycle ${cycle}: update`);
      const back = await callDaemon<DaemonRoutes, "/rollback">(socket, "/rollback", {});
      expectResult(back, undefined, `cycle ${cycle}: rollback`);
      const s = await sample(cycle);
      samples.push(s);
      if (cycle === 1) historyFirst = await historyTimes(agentBin, configPath, opts.historyRuns ?? 3);
      if (cycle % 50 === 0) opts.progress?.(progressLine(s, opts.cycles));
    }
    // A device idles between updates: what the daemon keeps once nothing happens for a while.
    const idle: { seconds: number; sample: SoakSample }[] = [];
    for (let seconds = IDLE_STEP_SECONDS; seconds <= (opts.idleSeconds ?? 0); seconds += IDLE_STEP_SECONDS) {
      await new Promise((res) => setTimeout(res, IDLE_STEP_SECONDS * 1000));
      idle.push({ seconds, sample: await sample(opts.cycles) });
    }
    const historyLast = await historyTimes(agentBin, configPath, opts.historyRuns ?? 3);
    const entries = JSON.parse(
      (await runCli(agentBin, ["history", "--json", "--limit", "1000000", "--config", configPath])).stdout,
    );
    return {
      samples,
      idle,
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

/**
 * What systemd gives the agent: a clean environment with PATH and the user's HOME, plus every
 * `Environment=` line of packaging/systemd/edgepull-agent.service (read from the unit itself, so
 * the two cannot drift apart), and no node flags (ExecStart runs the script through its
 * `#!/usr/bin/env node` line). Nothing of the bench's own environment (NODE_OPTIONS, say) leaks in.
 */
export async function unitEnvironment(unitPath = AGENT_UNIT): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
  };
  for (const line of (await readFile(unitPath, "utf8")).split("\n")) {
    const assignment = /^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (assignment) env[assignment[1] as string] = assignment[2] as string;
  }
  return env;
}

/** Asks the daemon's memory probe for its V8 figures (SIGUSR2) and waits for the answer numbered `seq`. */
async function probe(pid: number, file: string, seq: number): Promise<V8Figures> {
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 3000; i++) {
    const text = await readFile(file, "utf8").catch(() => "");
    const line = text ? (JSON.parse(text.trimEnd().split("\n").at(-1) as string) as ProbeLine) : undefined;
    if (line?.seq === seq) {
      // Read, so removed: the probe creates it again for the next one.
      await rm(file, { force: true });
      const { seq: _seq, rssKiB: _rss, forcedGc: _gc, ...figures } = line;
      return figures;
    }
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(`the daemon's memory probe did not answer request ${seq}`);
}

function progressLine(s: SoakSample, cycles: number): string {
  const mib = (kib: number): string => (kib / 1024).toFixed(1);
  return (
    `cycle ${s.cycle}/${cycles}, RSS ${mib(s.rssKiB)} MiB (anon ${mib(s.rssAnonKiB)}: brk heap ${mib(s.brkHeapKiB)}, ` +
    `other anon ${mib(s.anonMappingsKiB)}; file ${mib(s.rssFileKiB)}), V8 heap ${mib(s.heapUsedKiB)}/${mib(s.heapTotalKiB)} ` +
    `(after last major GC ${mib(s.heapUsedAfterMajorGcKiB)}, code ${mib(s.codeSpaceKiB)}), external ${mib(s.externalKiB)}`
  );
}

function expectResult(attempt: AttemptResult | undefined, version: string | undefined, what: string): void {
  if (attempt?.result !== "succeeded" || (version !== undefined && attempt.toVersion !== version)) {
    throw new Error(`${what} did not succeed: ${JSON.stringify(attempt)}`);
  }
}

/** The first install comes from the poll loop; a check meanwhile is refused as busy. */
async function untilActive(socket: string, version: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = await callDaemon<DaemonRoutes, "/check">(socket, "/check", {}).catch(() => undefined);
    if (r?.decision.action === "none" && r.decision.reason === "up-to-date") return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the daemon never reported ${version} up to date`);
}

interface FolderFigures {
  fds: number;
  versions: number;
  downloadFiles: number;
  downloadBytes: number;
  /** The journal's logical size (page_count × page_size, WAL included). */
  journalBytes: number;
}

async function folders(dataDir: string, pid: number): Promise<FolderFigures> {
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
