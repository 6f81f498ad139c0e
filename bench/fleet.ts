import { readFileSync } from "node:fs";
import { type BenchResult, clockTicksPerSecond, cpuTicks, machineTicks, median, rssKiB } from "./common.js";
import { DeviceWatch, settledOn } from "./device-watch.js";
import { type BenchAgent, createMqttBenchWorld, type MqttBenchWorld, startBenchAgent } from "./mqtt-setup.js";

/** The agent's default status pacing, set explicitly so the figures say what they were measured with. */
const STATUS_MIN_INTERVAL_S = 5;
const JITTERS = [0, 10] as const;
const QUIET_BEFORE_PUSH_MS = (STATUS_MIN_INTERVAL_S + 5) * 1000;

interface Fleet {
  ids: string[];
  agents: Map<string, BenchAgent>;
}

function memAvailableMiB(): number {
  const match = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** The agents' CPU including the helpers they spawn (the restart command, systeminformation's probes). */
function agentsTicks(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuTicks(pid, { children: true }), 0);
}

function assertAllRunning(fleet: Fleet): void {
  for (const [id, agent] of fleet.agents) {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) {
      throw new Error(`agent ${id} exited (${agent.child.exitCode ?? agent.child.signalCode}): ${agent.complaints.join(" | ")}`);
    }
  }
}

/** Starts one agent every `staggerMs`: fifty Node processes loading at once would queue on two cores. */
async function startFleet(world: MqttBenchWorld, fleet: Fleet, jitterSeconds: number, staggerMs: number): Promise<void> {
  for (const id of fleet.ids) {
    const config = await world.writeAgentConfig(id, {
      pushJitterSeconds: jitterSeconds,
      statusMinIntervalSeconds: STATUS_MIN_INTERVAL_S,
    });
    fleet.agents.set(id, startBenchAgent(config));
    await new Promise((r) => setTimeout(r, staggerMs));
  }
}

async function waitSettled(watch: DeviceWatch, fleet: Fleet, version: string, sinceMs: number, timeoutMs: number): Promise<void> {
  const fresh = (id: string): boolean => {
    const seen = watch.latest.get(id);
    return seen !== undefined && seen.receivedAt >= sinceMs && settledOn(seen.status, version);
  };
  await watch.until(
    `all ${fleet.ids.length} devices reporting ${version} idle`,
    () => {
      assertAllRunning(fleet);
      return fleet.ids.every(fresh);
    },
    timeoutMs,
    () =>
      pendingSummary(
        watch,
        fleet.ids.filter((id) => !fresh(id)),
      ),
  );
}

function pendingSummary(watch: DeviceWatch, ids: string[]): string {
  const shown = ids.slice(0, 5).map((id) => {
    const s = watch.latest.get(id)?.status;
    return s ? `${id}: online ${s.online}, ${s.activeVersion ?? "none"}, ${s.phase ?? "?"}` : `${id}: no status`;
  });
  return `${ids.length} pending (${shown.join("; ")})`;
}

interface RunFigures {
  lastDeviceDoneMs: number;
  lastSucceededEventMs: number;
  devicesStarted: number;
  updateStartedMedianMs: number;
  updateStartedSpreadMs: number;
  messagesPerDevice: number;
  messagesPerDeviceSettled: number;
  failedOrRolledBack: number;
  agentsCpuSeconds: number;
  brokerCpuSeconds: number | string;
  benchProcessCpuSeconds: number;
  hostBusyPercent: number;
  otherHostCpuSeconds: number;
}

/** Publishes `version`, pushes its pointer, and watches the fleet until every device reports it installed. */
async function measureUpdate(world: MqttBenchWorld, watch: DeviceWatch, fleet: Fleet, version: string, jitterSeconds: number) {
  const pointer = await world.release(version);
  // Status pacing counts from each device's previous status: let the start-up ones age out first.
  await new Promise((r) => setTimeout(r, QUIET_BEFORE_PUSH_MS));
  const hz = clockTicksPerSecond();
  const pids = [...fleet.agents.values()].map((a) => a.pid);
  const brokerPid = world.broker.pid;
  const ticksBefore = agentsTicks(pids);
  const brokerBefore = brokerPid ? cpuTicks(brokerPid) : 0;
  const selfBefore = process.cpuUsage();
  const machineBefore = machineTicks();
  const from = watch.messages.length;
  const t0 = Date.now();
  await world.push(pointer);

  // The first settled status per device, found by scanning what arrived since the push.
  const doneIndex = new Map<string, number>();
  let scanned = from;
  const scan = (): boolean => {
    for (; scanned < watch.messages.length; scanned++) {
      const m = watch.messages[scanned] as (typeof watch.messages)[number];
      if (!doneIndex.has(m.deviceId) && settledOn(m.status, version)) doneIndex.set(m.deviceId, scanned);
    }
    assertAllRunning(fleet);
    return doneIndex.size === fleet.ids.length;
  };
  await watch.until(`all devices on ${version}`, scan, 120_000 + jitterSeconds * 1000, () =>
    pendingSummary(
      watch,
      fleet.ids.filter((id) => !doneIndex.has(id)),
    ),
  );
  const ticksAfter = agentsTicks(pids);
  const brokerAfter = brokerPid ? cpuTicks(brokerPid) : 0;
  const self = process.cpuUsage(selfBefore);
  const selfSeconds = (self.user + self.system) / 1e6;
  const machineAfter = machineTicks();
  const hostBusy = machineAfter.busy - machineBefore.busy;
  const lastIndex = Math.max(...doneIndex.values());
  const lastDoneAt = (watch.messages[lastIndex] as (typeof watch.messages)[number]).receivedAt;
  const untilDone = lastIndex - from + 1;
  // Paced statuses and late events may trail the last settled status: count those too, separately.
  await new Promise((r) => setTimeout(r, (STATUS_MIN_INTERVAL_S + 2) * 1000));
  const window = watch.messages.slice(from);
  const events = window.flatMap((m) =>
    m.event && m.event.version === version ? [{ ...m.event, receivedAt: m.receivedAt }] : [],
  );
  const starts = new Map<string, number>();
  for (const e of events)
    if (e.type === "update_started" && !starts.has(e.deviceId)) starts.set(e.deviceId, Date.parse(e.at) - t0);
  const startTimes = [...starts.values()];
  const succeeded = events.filter((e) => e.type === "succeeded").map((e) => e.receivedAt - t0);
  const figures: RunFigures = {
    lastDeviceDoneMs: lastDoneAt - t0,
    lastSucceededEventMs: succeeded.length ? Math.max(...succeeded) : Number.NaN,
    devicesStarted: starts.size,
    updateStartedMedianMs: startTimes.length ? Math.round(median(startTimes)) : Number.NaN,
    updateStartedSpreadMs: startTimes.length ? Math.max(...startTimes) - Math.min(...startTimes) : Number.NaN,
    messagesPerDevice: Number((untilDone / fleet.ids.length).toFixed(2)),
    messagesPerDeviceSettled: Number((window.length / fleet.ids.length).toFixed(2)),
    failedOrRolledBack: events.filter((e) => e.type === "failed" || e.type === "rolled_back").length,
    agentsCpuSeconds: Number(((ticksAfter - ticksBefore) / hz).toFixed(2)),
    brokerCpuSeconds: brokerPid ? Number(((brokerAfter - brokerBefore) / hz).toFixed(2)) : "in the bench process",
    benchProcessCpuSeconds: Number(selfSeconds.toFixed(2)),
    // Whole host, both cores: includes anything else running on it, so it shows whether CPU was the limit.
    hostBusyPercent: Number(((100 * hostBusy) / Math.max(1, machineAfter.total - machineBefore.total)).toFixed(1)),
    otherHostCpuSeconds: Number(
      ((hostBusy - (ticksAfter - ticksBefore) - (brokerAfter - brokerBefore)) / hz - selfSeconds).toFixed(2),
    ),
  };
  return figures;
}

/**
 * A fleet of real agent processes on one broker: two releases pushed over
 * MQTT, one with every device acting at once and one with a 10 s push jitter.
 */
export async function benchFleet(
  devices: number,
  progress: (text: string) => void = () => {},
  opts: { staggerMs?: number } = {},
): Promise<BenchResult> {
  const staggerMs = opts.staggerMs ?? 200;
  const world = await createMqttBenchWorld("edgepull-bench-fleet-");
  const fleet: Fleet = {
    ids: Array.from({ length: devices }, (_, i) => `dev-${String(i + 1).padStart(3, "0")}`),
    agents: new Map(),
  };
  let watch: DeviceWatch | undefined;
  const complaints = { count: 0, sample: [] as string[] };
  const stopAll = async (): Promise<void> => {
    for (const a of fleet.agents.values()) {
      complaints.count += a.complaintCount;
      if (complaints.sample.length < 3) complaints.sample.push(...a.complaints.slice(0, 3 - complaints.sample.length));
    }
    await Promise.all([...fleet.agents.values()].map((a) => a.stop()));
    fleet.agents.clear();
  };
  try {
    watch = await DeviceWatch.connect(world.broker.url);
    const memBefore = memAvailableMiB();
    await world.push(await world.release("1.0.0"));
    const startAt = Date.now();
    progress(`fleet: starting ${devices} agents, one every ${staggerMs} ms`);
    await startFleet(world, fleet, JITTERS[0], staggerMs);
    await waitSettled(watch, fleet, "1.0.0", startAt, 180_000);
    const startupMs = Date.now() - startAt;
    const startupCpuSeconds = agentsTicks([...fleet.agents.values()].map((a) => a.pid)) / clockTicksPerSecond();
    const rss = [...fleet.agents.values()].map((a) => rssKiB(a.pid));
    const memLoaded = memAvailableMiB();

    const figures: BenchResult["figures"] = {
      devices,
      broker: world.broker.kind,
      startStaggerMs: staggerMs,
      startupToAllOnV1Ms: startupMs,
      startupAgentCpuSecondsEach: Number((startupCpuSeconds / devices).toFixed(2)),
      agentRssMedianMiB: Number((median(rss) / 1024).toFixed(1)),
      agentsRssTotalMiB: Math.round(rss.reduce((a, b) => a + b, 0) / 1024),
      memAvailableDropMiB: Math.round(memBefore - memLoaded),
      statusMinIntervalSeconds: STATUS_MIN_INTERVAL_S,
    };
    const lines: string[] = [];
    let version = 2;
    for (const jitter of JITTERS) {
      if (jitter !== JITTERS[0]) {
        progress(`fleet: restarting the agents with pushJitterSeconds ${jitter}`);
        await stopAll();
        const restartAt = Date.now();
        await startFleet(world, fleet, jitter, staggerMs);
        await waitSettled(watch, fleet, `${version - 1}.0.0`, restartAt, 180_000);
      }
      progress(`fleet: pushing ${version}.0.0 with pushJitterSeconds ${jitter}`);
      const run = await measureUpdate(world, watch, fleet, `${version}.0.0`, jitter);
      for (const [k, v] of Object.entries(run)) figures[`jitter${jitter}_${k}`] = v;
      lines.push(
        `jitter ${jitter} s: last device done ${(run.lastDeviceDoneMs / 1000).toFixed(1)} s after the push ` +
          `(last succeeded event ${(run.lastSucceededEventMs / 1000).toFixed(1)} s), update_started median ${(run.updateStartedMedianMs / 1000).toFixed(1)} s ` +
          `spread ${(run.updateStartedSpreadMs / 1000).toFixed(1)} s, ${run.messagesPerDevice} messages per device; ` +
          `CPU: agents ${run.agentsCpuSeconds} s, broker ${run.brokerCpuSeconds} s, host ${run.hostBusyPercent} % busy (${run.otherHostCpuSeconds} CPU-s of it other work)`,
      );
      version++;
    }
    await stopAll();
    figures.agentWarningLines = complaints.count;
    if (complaints.sample.length)
      lines.push(`agents logged ${complaints.count} warn/error lines, e.g. ${complaints.sample.join(" | ")}`);
    return {
      name: `fleet of ${devices} agent processes on one ${world.broker.kind} broker, pushed updates`,
      summary: lines.join("\n"),
      figures,
    };
  } finally {
    await stopAll();
    await watch?.close();
    await world.close();
  }
}
