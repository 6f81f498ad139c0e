import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, readlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AGENT_BIN, type BenchResult, median } from "./common.js";
import { type BenchAgent, createMqttBenchWorld, type MqttBenchWorld, startBenchAgent } from "./mqtt-setup.js";

const SAMPLES = 10;
const INSTALL_WAIT_MS = 90_000;

/** RSS and its two parts as the kernel counts them: anonymous (heaps) and file-backed (node's code, addons), KiB. */
interface Resident {
  rss: number;
  anon: number;
  file: number;
}

function resident(pid: number): Resident {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { rss: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile") };
}

const medianOf = (values: Resident[]): Resident => ({
  rss: median(values.map((v) => v.rss)),
  anon: median(values.map((v) => v.anon)),
  file: median(values.map((v) => v.file)),
});

interface Subject {
  label: string;
  pid: () => number;
  stop: () => Promise<void>;
}

async function pollingConfig(world: MqttBenchWorld, deviceId: string): Promise<string> {
  // The MQTT world's config without the broker, polling every 5 s: the idle polling device of the idle RSS bench.
  const path = await world.writeAgentConfig(deviceId, {});
  const config = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  delete config.mqtt;
  await writeFile(path, JSON.stringify({ ...config, pollIntervalSeconds: 5 }));
  return path;
}

async function untilInstalled(configPath: string, agent: BenchAgent): Promise<void> {
  const link = join(dirname(configPath), "data", "current");
  const deadline = performance.now() + INSTALL_WAIT_MS;
  for (;;) {
    if (agent.child.exitCode !== null) throw new Error(`an agent exited before installing: ${agent.complaints.join(" | ")}`);
    if (
      await readlink(link).then(
        () => true,
        () => false,
      )
    )
      return;
    if (performance.now() > deadline) throw new Error(`no version installed in ${INSTALL_WAIT_MS / 1000} s at ${link}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One repeat: every subject started at once in one world, sampled together; the median RSS of each, in KiB. */
async function oneRun(bins: { label: string; bin: string }[], settleMs: number): Promise<Map<string, Resident>> {
  const world = await createMqttBenchWorld("edgepull-bench-idle-side-");
  const subjects: Subject[] = [];
  let bare: ChildProcess | undefined;
  try {
    await world.push(await world.release("1.0.0"));
    const started: { configPath: string; agent: BenchAgent }[] = [];
    for (const [i, { label, bin }] of bins.entries()) {
      for (const mode of ["polling", "mqtt"] as const) {
        const id = `${mode}-${i}`;
        const configPath = mode === "mqtt" ? await world.writeAgentConfig(id, {}) : await pollingConfig(world, id);
        const agent = startBenchAgent(configPath, bin);
        started.push({ configPath, agent });
        subjects.push({ label: `${label} ${mode}`, pid: () => agent.pid, stop: () => agent.stop() });
      }
    }
    bare = spawn(process.execPath, ["-e", "setInterval(()=>{},1e9)"], { stdio: "ignore" });
    const bareChild = bare;
    subjects.push({ label: "bare node", pid: () => bareChild.pid as number, stop: async () => void bareChild.kill("SIGKILL") });
    for (const { configPath, agent } of started) await untilInstalled(configPath, agent);
    await new Promise((r) => setTimeout(r, settleMs));
    const samples = new Map<string, Resident[]>(subjects.map((s) => [s.label, []]));
    for (let i = 0; i < SAMPLES; i++) {
      for (const s of subjects) samples.get(s.label)?.push(resident(s.pid()));
      await new Promise((r) => setTimeout(r, 1000));
    }
    return new Map([...samples].map(([label, values]) => [label, medianOf(values)]));
  } finally {
    for (const s of subjects) await s.stop();
    await world.close();
  }
}

/**
 * `--only idle-side [--repeats 3] [--settle-seconds 15] [--baseline-dist DIR]`:
 * the idle daemon polling every 5 s and the idle daemon with MQTT connected
 * (both with a version installed) beside a bare `node` process, all in one run;
 * with a baseline dist/ (another build of the agent), its two daemons run
 * beside them too. Sampled from `settleSeconds` after the last install
 * (start-up, the install and the first status publishes are not idle, and V8
 * shrinks its heap only some time after the work stops): the median RSS of
 * each over 10 s, then the median over the repeats.
 */
export async function benchIdleSide(
  repeats: number,
  opts: { baselineDist?: string; settleSeconds: number },
  progress: (t: string) => void = () => {},
): Promise<BenchResult> {
  const { baselineDist, settleSeconds } = opts;
  const bins = [{ label: "agent", bin: AGENT_BIN }];
  if (baselineDist) bins.push({ label: "baseline", bin: join(baselineDist, "agent", "main.js") });
  const runs: Map<string, Resident>[] = [];
  for (let i = 0; i < repeats; i++) {
    runs.push(await oneRun(bins, settleSeconds * 1000));
    progress(`idle-side: run ${i + 1} of ${repeats}`);
  }
  const labels = [...(runs[0]?.keys() ?? [])];
  const mibOf = (label: string, part: keyof Resident = "rss"): number =>
    median(runs.map((r) => (r.get(label) as Resident)[part])) / 1024;
  const bareMiB = mibOf("bare node");
  const figures: Record<string, number> = {};
  const parts: string[] = [];
  for (const label of labels) {
    const value = mibOf(label);
    figures[`${label} RSS MiB`] = Number(value.toFixed(1));
    figures[`${label} anonymous MiB`] = Number(mibOf(label, "anon").toFixed(1));
    figures[`${label} file-backed MiB`] = Number(mibOf(label, "file").toFixed(1));
    if (label === "bare node") continue;
    figures[`${label} ratio`] = Number((value / bareMiB).toFixed(2));
    parts.push(`${label} ${value.toFixed(1)} MiB (${(value / bareMiB).toFixed(2)}x)`);
  }

  const perRun = runs.map((r) => labels.map((l) => `${l} ${((r.get(l) as Resident).rss / 1024).toFixed(1)}`).join(", "));
  return {
    name: `idle RSS side by side, ${settleSeconds} s after the installs, median of ${repeats} runs`,
    summary: `${parts.join("; ")}; bare node ${bareMiB.toFixed(1)} MiB\n${perRun.map((p, i) => `  run ${i + 1}: ${p}`).join("\n")}`,
    figures,
  };
}
