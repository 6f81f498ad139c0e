import type { MqttSettings } from "../../shared/mqtt-options.js";
import type { VersionHealth } from "../../shared/topics.js";
import { openFleetWatch } from "../fleet/fleet-watch.js";
import { type DeviceReport, judgePromotion, type PromotionEvidence, type PromotionPolicy } from "./promotion-evidence.js";

export interface GatherOptions {
  settings: MqttSettings;
  name: string;
  channel: string;
  version: string;
  policy: PromotionPolicy;
  /** Upper bound on the wait for the retained statuses (as fleet --wait-ms). */
  waitMs: number;
  onWarning: (text: string) => void;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

function isVersionHealth(v: unknown): v is VersionHealth {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.version === "string" &&
    isCount(e.healthySeconds) &&
    isCount(e.unhealthySeconds) &&
    isCount(e.rollbacks) &&
    typeof e.denied === "boolean"
  );
}

/**
 * The versionHealth of a status the fleet view accepted; [] for an agent that
 * reports none (it counts nothing yet), undefined when the field is malformed.
 */
export function versionHealthOfStatus(payload: Buffer): VersionHealth[] | undefined {
  const body = JSON.parse(payload.toString("utf8")) as { versionHealth?: unknown };
  if (body.versionHealth === undefined) return [];
  if (!Array.isArray(body.versionHealth) || !body.versionHealth.every(isVersionHealth)) return undefined;
  return body.versionHealth;
}

/**
 * Reads every device's retained status from the broker, as `edge-publish
 * fleet` does (the same watch, settled the same way), and judges the release.
 * Only online statuses carry figures: a device's last-will says nothing about
 * what it served, so a device that vanished does not count.
 */
export async function gatherPromotionEvidence(opts: GatherOptions): Promise<PromotionEvidence> {
  const health = new Map<string, VersionHealth[]>();
  const watch = await openFleetWatch({
    settings: opts.settings,
    maxWaitMs: opts.waitMs,
    onWarning: opts.onWarning,
    onChange: (outcome, topic, payload) => {
      if (outcome.kind === "cleared") health.delete(outcome.deviceId);
      if (outcome.kind !== "status") return;
      const list = versionHealthOfStatus(payload);
      if (list === undefined) {
        opts.onWarning(`the status on ${JSON.stringify(topic)} has a malformed versionHealth: counted as reporting none`);
      }
      health.set(outcome.deviceId, list ?? []);
    },
  });
  try {
    await watch.settled;
  } finally {
    await watch.close();
  }
  const reports: DeviceReport[] = [];
  for (const d of watch.fleet.values()) {
    if (!d.online) continue;
    reports.push({
      deviceId: d.deviceId,
      name: d.name,
      channel: d.channel,
      activeVersion: d.activeVersion,
      versionHealth: health.get(d.deviceId) ?? [],
    });
  }
  return judgePromotion(reports, { name: opts.name, channel: opts.channel, version: opts.version }, opts.policy);
}
