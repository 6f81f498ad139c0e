import { type ChildProcess, spawn } from "node:child_process";
import { type BenchResult, clockTicksPerSecond, cpuTicks, median, rssKiB } from "./common.js";
import { DeviceWatch, settledOn } from "./device-watch.js";
import { type BenchAgent, createMqttBenchWorld, startBenchAgent } from "./mqtt-setup.js";

const SAMPLE_EVERY_MS = 10_000;
/** After install, before the window opens: the last status publishes and the bare process's start-up are not idle. */
const SETTLE_MS = 15_000;

interface Samples {
  /** Including reaped children: systeminformation reads some values through helper processes. */
  ticks: number[];
  ownTicks: number[];
  rssKiB: number[];
}

function sample(pid: number, into: Samples): void {
  into.ticks.push(cpuTicks(pid, { children: true }));
  into.ownTicks.push(cpuTicks(pid));
  into.rssKiB.push(rssKiB(pid));
}

function summarize(s: Samples, windowSeconds: number, hz: number) {
  const cpuSeconds = ((s.ticks.at(-1) ?? 0) - (s.ticks[0] ?? 0)) / hz;
  return {
    cpuSeconds,
    ownCpuSeconds: ((s.ownTicks.at(-1) ?? 0) - (s.ownTicks[0] ?? 0)) / hz,
    cpuPercent: (100 * cpuSeconds) / windowSeconds,
    rssMedianMiB: median(s.rssKiB) / 1024,
    rssMaxMiB: Math.max(...s.rssKiB) / 1024,
  };
}

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

/**
 * The daemon idle with MQTT connected (a version installed, push subscription,
 * status heartbeat, inventory refresh, hourly fallback poll) over a long
 * window, against a bare `node` process sampled the same way at the same time.
 */
export async function benchIdleMqtt(minutes: number, progress: (text: string) => void = () => {}): Promise<BenchResult> {
  const world = await createMqttBenchWorld("edgepull-bench-idle-mqtt-");
  const hz = clockTicksPerSecond();
  let watch: DeviceWatch | undefined;
  let agent: BenchAgent | undefined;
  let bare: ChildProcess | undefined;
  try {
    watch = await DeviceWatch.connect(world.broker.url);
    // Published and retained before the agent starts: it installs from its first poll or the retained pointer.
    await world.push(await world.release("1.0.0"));
    // Defaults for everything MQTT but the URL: the idle load a real device carries.
    agent = startBenchAgent(await world.writeAgentConfig("idle-1", {}));
    bare = spawn(process.execPath, ["-e", "setInterval(()=>{},1e9)"], { stdio: "ignore" });
    const w = watch;
    await w.until("v1 installed and reported", () => settledOn(w.latest.get("idle-1")?.status, "1.0.0"), 60_000);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const agentSamples: Samples = { ticks: [], ownTicks: [], rssKiB: [] };
    const bareSamples: Samples = { ticks: [], ownTicks: [], rssKiB: [] };
    const windowMs = minutes * 60_000;
    const fromMessage = watch.messages.length;
    const start = performance.now();
    for (let i = 0; ; i++) {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited during the window: ${agent.complaints.join(" | ")}`);
      sample(agent.pid, agentSamples);
      sample(bare.pid as number, bareSamples);
      if (i > 0 && i % 6 === 0) progress(`idle-mqtt: ${i / 6} of ${minutes} min`);
      const next = start + (i + 1) * SAMPLE_EVERY_MS;
      if (next - start > windowMs + 1) break;
      await new Promise((r) => setTimeout(r, next - performance.now()));
    }
    const windowSeconds = (performance.now() - start) / 1000;
    const a = summarize(agentSamples, windowSeconds, hz);
    const b = summarize(bareSamples, windowSeconds, hz);
    const sent = watch.messages.length - fromMessage;
    return {
      name: `agent daemon idle with MQTT connected, ${minutes} min (${world.broker.kind})`,
      summary:
        `CPU ${a.cpuPercent.toFixed(3)} % of one core (bare node ${b.cpuPercent.toFixed(3)} %), ` +
        `RSS median ${a.rssMedianMiB.toFixed(1)} MiB / max ${a.rssMaxMiB.toFixed(1)} MiB ` +
        `(bare node ${b.rssMedianMiB.toFixed(1)} / ${b.rssMaxMiB.toFixed(1)} MiB): RSS ratio ${(a.rssMedianMiB / b.rssMedianMiB).toFixed(2)}; ` +
        `${sent} device messages in the window`,
      figures: {
        windowSeconds: round(windowSeconds, 1),
        samples: agentSamples.ticks.length,
        clockTicksPerSecond: hz,
        agentCpuSeconds: round(a.cpuSeconds, 2),
        agentCpuPercentOneCore: round(a.cpuPercent, 3),
        agentOwnCpuSecondsWithoutHelpers: round(a.ownCpuSeconds, 2),
        bareNodeCpuSeconds: round(b.cpuSeconds, 2),
        bareNodeCpuPercentOneCore: round(b.cpuPercent, 3),
        cpuRatio: b.cpuSeconds > 0 ? round(a.cpuSeconds / b.cpuSeconds, 1) : "bare node used no measurable CPU",
        agentRssMedianMiB: round(a.rssMedianMiB, 1),
        agentRssMaxMiB: round(a.rssMaxMiB, 1),
        bareNodeRssMedianMiB: round(b.rssMedianMiB, 1),
        bareNodeRssMaxMiB: round(b.rssMaxMiB, 1),
        rssMedianRatio: round(a.rssMedianMiB / b.rssMedianMiB, 2),
        deviceMessagesInWindow: sent,
        agentWarnings: agent.complaintCount,
      },
    };
  } finally {
    bare?.kill("SIGKILL");
    await agent?.stop();
    await watch?.close();
    await world.close();
  }
}
