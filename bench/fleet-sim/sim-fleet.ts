import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseConfig } from "../../agent/config.js";
import { inRollout } from "../../shared/rollout.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import { SimCounters } from "./sim-counters.js";
import { SimDevice } from "./sim-device.js";

export interface SimFleetOptions {
  devices: number;
  /** Device ids are `<idPrefix><n>`, n zero-padded to four digits. */
  idPrefix?: string;
  root: string;
  name: string;
  channel: string;
  repositoryUrl: string;
  brokerUrl: string;
  trustedKeys: PublicKeyInfo[];
  /** The config's mqtt section besides the url: pushJitterSeconds, statusMinIntervalSeconds, ... */
  mqttExtra: Record<string, unknown>;
  activeVersion: string;
  /** Share (0-100) of devices whose every update fails its health probation and rolls back. */
  rollbackPercent: number;
  /** Chooses the failing devices instead of `rollbackPercent` (tests). */
  failsOn?: (deviceId: string, version: string) => boolean;
  /** Devices started per 100 ms: a fleet reconnecting after a broker restart arrives about this fast. */
  connectsPer100Ms: number;
}

export interface SimFleet {
  ids: string[];
  counters: SimCounters;
  /** Whether the bench chose this device to roll `version` back. */
  failsOn(deviceId: string, version: string): boolean;
  stop(): Promise<void>;
}

/** Every device's config goes through the agent's own schema: the simulator runs with the agent's defaults. */
function deviceConfig(opts: SimFleetOptions, deviceId: string, dataDir: string) {
  return parseConfig(
    {
      deviceId,
      dataDir,
      name: opts.name,
      channel: opts.channel,
      repository: opts.repositoryUrl,
      trustedKeys: [join(opts.root, "unused.pub")],
      service: { mode: "command", command: ["true"] },
      health: { url: "http://127.0.0.1:9/ready" },
      mqtt: { url: opts.brokerUrl, ...opts.mqttExtra },
    },
    join(dataDir, "agent.json"),
  );
}

export async function startSimFleet(opts: SimFleetOptions): Promise<SimFleet> {
  const ids = Array.from({ length: opts.devices }, (_, i) => `${opts.idPrefix ?? "sim-"}${String(i + 1).padStart(4, "0")}`);
  const counters = new SimCounters();
  // A hash of its own, so the failing devices are not the first ones a rollout share takes.
  const failsOn =
    opts.failsOn ??
    ((deviceId: string, version: string): boolean => inRollout(deviceId, `${opts.name}-rollback`, version, opts.rollbackPercent));
  const devices: SimDevice[] = [];
  let stopped: Promise<void> | undefined;
  for (const [i, deviceId] of ids.entries()) {
    const scratchDir = join(opts.root, "devices", deviceId);
    await mkdir(scratchDir, { recursive: true });
    const device = new SimDevice({
      config: deviceConfig(opts, deviceId, scratchDir),
      trustedKeys: opts.trustedKeys,
      scratchDir,
      activeVersion: opts.activeVersion,
      failsOn,
      counters,
    });
    devices.push(device);
    device.start();
    if ((i + 1) % opts.connectsPer100Ms === 0) await new Promise((r) => setTimeout(r, 100));
  }
  return {
    ids,
    counters,
    failsOn,
    stop: () => {
      stopped ??= Promise.all(devices.map((d) => d.stop())).then(() => {});
      return stopped;
    },
  };
}
