import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { type BenchResult, clockTicksPerSecond, cpuTicks, rssKiB } from "./common.js";
import { DeviceWatch, settledOn } from "./device-watch.js";
import {
  createScaleWorld,
  hasNginx,
  PUBLISH_BIN,
  SCALE_CHANNEL,
  SCALE_MODEL,
  type ScaleServer,
  type ScaleWorld,
  type ServerKind,
} from "./fleet-scale-world.js";
import { type SimFleet, startSimFleet } from "./fleet-sim/sim-fleet.js";
import { runMeasured } from "./measured-process.js";

const STATUS_MIN_INTERVAL_S = 5;
const ROLLBACK_PERCENT = 5;
const CONNECTS_PER_100MS = 50;

export interface FleetScaleOptions {
  sizes: number[];
  jitterSeconds: number;
  modelKiB: number;
  progress: (text: string) => void;
}

/** A process and the children it forked (nginx's worker), summed: the server's whole CPU. */
function treeTicks(pid: number): number {
  let total = cpuTicks(pid);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) total += cpuTicks(Number(entry));
    } catch {
      // It exited while we looked.
    }
  }
  return total;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface UpdateRun {
  devices: number;
  server: ServerKind;
  jitterSeconds: number;
  version: string;
  pushedBy: string;
  connectAllOnlineMs: number;
  doneP50Ms: number;
  doneP95Ms: number;
  doneMaxMs: number;
  /** The last succeeded or rolled_back event: when the work ended, before the status pacing. */
  lastResultEventMs: number;
  loadAverage1m: number;
  succeeded: number;
  rolledBack: number;
  bundleDownloads: number;
  deltaDownloads: number;
  repoMiB: number;
  peakConcurrentDownloads: number;
  deviceMessagesPerDevice: number;
  brokerCpuMsPerDevice: number | string;
  serverCpuSeconds: number;
  simCpuSeconds: number;
  simRssMiB: number;
  haltWatcher?: { ms: number; maxRssMiB: number | string; end: string; reported: number; failed: number };
}

/** The status a device sends once `version` is over for it: installed, or rolled back and idle again. */
function doneWith(fleet: SimFleet, id: string, status: Parameters<typeof settledOn>[0], version: string): boolean {
  if (fleet.failsOn(id, version)) {
    return status?.online === true && status.phase === "idle" && status.lastResult?.version === version;
  }
  return settledOn(status, version);
}

async function waitAllOnline(watch: DeviceWatch, fleet: SimFleet, version: string, since: number): Promise<void> {
  await watch.until(
    `all ${fleet.ids.length} simulated devices online on ${version}`,
    () =>
      fleet.ids.every((id) => {
        const seen = watch.latest.get(id);
        return seen !== undefined && seen.receivedAt >= since && seen.status.online && seen.status.activeVersion === version;
      }),
    120_000,
  );
}

/** Pushes `version` (plain, or through `edge-publish rollout --halt-on-failures`) and waits for every device. */
async function measureUpdate(
  world: ScaleWorld,
  watch: DeviceWatch,
  fleet: SimFleet,
  server: ScaleServer,
  version: string,
  from: string,
  run: Pick<UpdateRun, "devices" | "server" | "jitterSeconds" | "connectAllOnlineMs">,
): Promise<UpdateRun> {
  const released = await world.release(version, from);
  await new Promise((r) => setTimeout(r, (STATUS_MIN_INTERVAL_S + 1) * 1000));
  fleet.counters.reset();
  const hz = clockTicksPerSecond();
  const brokerPid = world.broker.pid;
  const brokerBefore = brokerPid ? cpuTicks(brokerPid) : 0;
  const serverBefore = treeTicks(server.pid);
  const selfBefore = process.cpuUsage();
  const from0 = watch.messages.length;
  const t0 = Date.now();
  const viaRollout = run.jitterSeconds > 0;
  const halt = viaRollout
    ? runMeasured(
        process.execPath,
        [
          PUBLISH_BIN,
          "rollout",
          "--repo",
          world.repoDir,
          "--name",
          SCALE_MODEL,
          "--channel",
          SCALE_CHANNEL,
          "--key",
          world.keyPath,
          "--percent",
          "100",
          "--halt-on-failures",
          "0.5",
          "--min-devices",
          String(Math.ceil(run.devices / 2)),
          "--mqtt",
          world.broker.url,
          "--watch-seconds",
          String(run.jitterSeconds + 30),
          "--json",
        ],
        { rssFile: join(world.root, `halt-${version}.rss`), timeoutMs: (run.jitterSeconds + 30 + 180) * 1000 },
      )
    : undefined;
  if (!viaRollout) await world.push(released.pointer);

  const doneAt = new Map<string, number>();
  let scanned = from0;
  await watch.until(
    `all ${run.devices} devices done with ${version}`,
    () => {
      for (; scanned < watch.messages.length; scanned++) {
        const m = watch.messages[scanned] as (typeof watch.messages)[number];
        if (!doneAt.has(m.deviceId) && m.status && doneWith(fleet, m.deviceId, m.status, version)) {
          doneAt.set(m.deviceId, m.receivedAt - t0);
        }
      }
      return doneAt.size >= run.devices;
    },
    (run.jitterSeconds + 180) * 1000,
    () => `${run.devices - doneAt.size} pending`,
  );
  const untilDone = watch.messages.length - from0;
  const brokerAfter = brokerPid ? cpuTicks(brokerPid) : 0;
  const serverAfter = treeTicks(server.pid);
  const self = process.cpuUsage(selfBefore);
  const times = [...doneAt.values()];
  const resultEvents = watch.messages
    .slice(from0)
    .filter((m) => m.event?.version === version && (m.event.type === "succeeded" || m.event.type === "rolled_back"))
    .map((m) => m.receivedAt - t0);
  const c = fleet.counters;
  const result: UpdateRun = {
    ...run,
    version,
    pushedBy: viaRollout ? "edge-publish rollout --halt-on-failures (watching)" : "retained pointer on the broker",
    doneP50Ms: percentile(times, 50),
    doneP95Ms: percentile(times, 95),
    doneMaxMs: Math.max(...times),
    lastResultEventMs: resultEvents.length ? Math.max(...resultEvents) : Number.NaN,
    loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(1)),
    succeeded: c.succeeded,
    rolledBack: c.rolledBack,
    bundleDownloads: c.bundleDownloads,
    deltaDownloads: c.deltaDownloads,
    repoMiB: Number((c.bytes / 2 ** 20).toFixed(1)),
    peakConcurrentDownloads: c.peakConcurrentDownloads,
    deviceMessagesPerDevice: Number((untilDone / run.devices).toFixed(2)),
    brokerCpuMsPerDevice: brokerPid
      ? Number(((((brokerAfter - brokerBefore) / hz) * 1000) / run.devices).toFixed(2))
      : "in process",
    serverCpuSeconds: Number(((serverAfter - serverBefore) / hz).toFixed(2)),
    simCpuSeconds: Number(((self.user + self.system) / 1e6).toFixed(2)),
    simRssMiB: Math.round(rssKiB(process.pid) / 1024),
  };
  if (halt !== undefined) {
    const h = await halt;
    let parsed: { end?: string; reported?: number; failed?: number } = {};
    try {
      parsed = JSON.parse(h.stdout);
    } catch {
      parsed = { end: `exit ${h.code}: ${h.stderr.trim().slice(0, 200)}` };
    }
    result.haltWatcher = {
      ms: Math.round(h.ms),
      maxRssMiB: h.maxRssKiB ? Number((h.maxRssKiB / 1024).toFixed(1)) : "no GNU time",
      end: parsed.end ?? "?",
      reported: parsed.reported ?? Number.NaN,
      failed: parsed.failed ?? Number.NaN,
    };
  }
  return result;
}

/** `edge-publish fleet --json` in a fresh process, with every device's status retained on the broker. */
async function measureFleetView(world: ScaleWorld, devices: number) {
  const m = await runMeasured(process.execPath, [PUBLISH_BIN, "fleet", "--mqtt", world.broker.url, "--json"], {
    rssFile: join(world.root, "fleet.rss"),
    timeoutMs: 120_000,
  });
  let seen = Number.NaN;
  try {
    seen = (JSON.parse(m.stdout) as { devices?: unknown[] }).devices?.length ?? Number.NaN;
  } catch {}
  return {
    devices,
    devicesListed: seen,
    ms: Math.round(m.ms),
    maxRssMiB: m.maxRssKiB ? Number((m.maxRssKiB / 1024).toFixed(1)) : "no GNU time",
  };
}

/**
 * Simulated fleets of 100 to 1,000 devices (bench/fleet-sim: the agent's own MQTT, intake and
 * download modules in one process) on one Mosquitto, against `edge-publish serve` and nginx.
 */
export async function benchFleetScale(opts: FleetScaleOptions): Promise<BenchResult> {
  const world = await createScaleWorld(opts.modelKiB * 1024);
  const watch = await DeviceWatch.connect(world.broker.url);
  const servers: ServerKind[] = (await hasNginx()) ? ["edge-publish serve", "nginx"] : ["edge-publish serve"];
  const rows: UpdateRun[] = [];
  const views: Awaited<ReturnType<typeof measureFleetView>>[] = [];
  let major = 1;
  let current = `${major}.0.0`;
  try {
    await world.release(current, undefined);
    await world.push((await world.release(`${++major}.0.0`, current)).pointer);
    current = `${major}.0.0`;
    for (const devices of opts.sizes) {
      for (const kind of servers) {
        for (const jitterSeconds of [0, opts.jitterSeconds]) {
          const server = await world.startServer(kind);
          opts.progress(`fleet-scale: ${devices} simulated devices, ${kind}, jitter ${jitterSeconds} s`);
          const startedAt = Date.now();
          const fleet = await startSimFleet({
            devices,
            root: join(world.root, "sim"),
            name: SCALE_MODEL,
            channel: SCALE_CHANNEL,
            repositoryUrl: server.url,
            brokerUrl: world.broker.url,
            trustedKeys: world.trustedKeys,
            mqttExtra: { pushJitterSeconds: jitterSeconds, statusMinIntervalSeconds: STATUS_MIN_INTERVAL_S },
            activeVersion: current,
            rollbackPercent: ROLLBACK_PERCENT,
            connectsPer100Ms: CONNECTS_PER_100MS,
          });
          try {
            await waitAllOnline(watch, fleet, current, startedAt);
            const connectAllOnlineMs = Date.now() - startedAt;
            if (kind === servers[0] && jitterSeconds === 0) views.push(await measureFleetView(world, devices));
            const next = `${++major}.0.0`;
            const run = await measureUpdate(world, watch, fleet, server, next, current, {
              devices,
              server: kind,
              jitterSeconds,
              connectAllOnlineMs,
            });
            rows.push(run);
            opts.progress(
              `  done: p50 ${(run.doneP50Ms / 1000).toFixed(1)} s, max ${(run.doneMaxMs / 1000).toFixed(1)} s, ${run.repoMiB} MiB served`,
            );
            current = next;
          } finally {
            await fleet.stop();
            await server.close();
          }
        }
      }
    }
  } finally {
    await watch.close();
    await world.close();
  }
  const figures: BenchResult["figures"] = { broker: world.broker.kind, rollbackPercent: ROLLBACK_PERCENT };
  for (const r of rows) {
    const key = `${r.devices}_${r.server === "nginx" ? "nginx" : "serve"}_jitter${r.jitterSeconds}`;
    figures[`${key}_doneMaxS`] = Number((r.doneMaxMs / 1000).toFixed(1));
    figures[`${key}_brokerCpuMsPerDevice`] = r.brokerCpuMsPerDevice;
    figures[`${key}_serverCpuS`] = r.serverCpuSeconds;
  }
  for (const v of views) {
    figures[`fleetView_${v.devices}_ms`] = v.ms;
    figures[`fleetView_${v.devices}_maxRssMiB`] = v.maxRssMiB;
  }
  const lines = rows.map(
    (r) =>
      `${r.devices} devices, ${r.server}, jitter ${r.jitterSeconds} s: all online in ${(r.connectAllOnlineMs / 1000).toFixed(1)} s; ` +
      `done p50 ${(r.doneP50Ms / 1000).toFixed(1)} s / p95 ${(r.doneP95Ms / 1000).toFixed(1)} s / max ${(r.doneMaxMs / 1000).toFixed(1)} s ` +
      `(last result event ${(r.lastResultEventMs / 1000).toFixed(1)} s; load ${r.loadAverage1m}); ` +
      `${r.succeeded} updated, ${r.rolledBack} rolled back; ${r.deltaDownloads} deltas + ${r.bundleDownloads} bundles = ${r.repoMiB} MiB, ` +
      `${r.peakConcurrentDownloads} downloads at once; ${r.deviceMessagesPerDevice} device messages each; ` +
      `broker ${r.brokerCpuMsPerDevice} CPU-ms per device, server ${r.serverCpuSeconds} CPU-s, simulator ${r.simCpuSeconds} CPU-s, ${r.simRssMiB} MiB` +
      (r.haltWatcher
        ? `; halt watcher ${r.haltWatcher.maxRssMiB} MiB peak, ended "${r.haltWatcher.end}" with ${r.haltWatcher.reported} reported / ${r.haltWatcher.failed} failed`
        : ""),
  );
  lines.push(
    ...views.map(
      (v) =>
        `edge-publish fleet --json with ${v.devices} retained statuses: ${v.ms} ms, ${v.maxRssMiB} MiB peak, listed ${v.devicesListed}`,
    ),
  );
  return {
    name: `simulated fleets of ${opts.sizes.join(", ")} devices on one ${world.broker.kind} broker, ${servers.join(" and ")}`,
    summary: lines.join("\n"),
    figures,
    rows: [...rows, ...views],
  };
}
