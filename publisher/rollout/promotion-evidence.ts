import { EdgeError } from "../../shared/errors.js";
import type { VersionHealth } from "../../shared/topics.js";

/**
 * Whether a release has earned promotion, judged from the devices' retained
 * statuses (README "Healthy device-hours"). No I/O here.
 *
 * - The devices that count are those whose (online) status names the model and
 *   the --from channel.
 * - Running: such a device reports the version as its active version. It
 *   qualifies once its status reports at least `healthyHours` healthy hours on
 *   the version: time the agent watched it serving with every readiness probe
 *   answering ready.
 * - Tried: running it, or its status lists the version (it served it before,
 *   or rolled back from it). Failed: a device that tried it and rolled back
 *   from it at least once (automatically or by an operator) or deny-listed it.
 *   The failure rate is failed / tried (0 when none tried it).
 * - Allowed when at least `minDevices` devices qualify and the failure rate is
 *   at most `maxFailureRate`.
 */
export interface PromotionPolicy {
  /** Healthy hours each device needs on the version before it counts. */
  healthyHours: number;
  /** Devices that must qualify. */
  minDevices: number;
  /** Highest failure share (0-1) still allowed. */
  maxFailureRate: number;
}

/** What a device's retained status says, as far as promotion cares. */
export interface DeviceReport {
  deviceId: string;
  name: string | null;
  channel: string | null;
  activeVersion: string | null;
  versionHealth: readonly VersionHealth[];
}

export interface DeviceEvidence {
  deviceId: string;
  running: boolean;
  healthyHours: number;
  unhealthyHours: number;
  rollbacks: number;
  denied: boolean;
  failed: boolean;
  qualifies: boolean;
}

export interface PromotionFigures {
  /** Devices on the channel running the version. */
  running: number;
  /** Running devices with at least the required healthy hours. */
  qualifying: number;
  /** Healthy hours of the running devices, added up, and the least of them (0 when none runs it). */
  healthyHoursTotal: number;
  healthyHoursMin: number;
  tried: number;
  failed: number;
  failureRate: number;
}

export interface PromotionEvidence extends PromotionFigures {
  name: string;
  channel: string;
  version: string;
  policy: PromotionPolicy;
  allowed: boolean;
  /** Each threshold not met, in words; empty when allowed. */
  shortfalls: string[];
  /** Devices that tried the version, by id. */
  devices: DeviceEvidence[];
}

const hours = (seconds: number): number => Math.round((seconds / 3600) * 100) / 100;

export function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

function deviceEvidence(d: DeviceReport, version: string, policy: PromotionPolicy): DeviceEvidence | undefined {
  const entry = d.versionHealth.find((v) => v.version === version);
  const running = d.activeVersion === version;
  if (!running && !entry) return undefined;
  const healthySeconds = entry?.healthySeconds ?? 0;
  const failed = (entry?.rollbacks ?? 0) > 0 || entry?.denied === true;
  return {
    deviceId: d.deviceId,
    running,
    healthyHours: hours(healthySeconds),
    unhealthyHours: hours(entry?.unhealthySeconds ?? 0),
    rollbacks: entry?.rollbacks ?? 0,
    denied: entry?.denied ?? false,
    failed,
    // Compared in seconds: the rounded hours shown must not let a device in early.
    qualifies: running && healthySeconds >= policy.healthyHours * 3600,
  };
}

export function judgePromotion(
  reports: Iterable<DeviceReport>,
  target: { name: string; channel: string; version: string },
  policy: PromotionPolicy,
): PromotionEvidence {
  const devices: DeviceEvidence[] = [];
  for (const r of reports) {
    if (r.name !== target.name || r.channel !== target.channel) continue;
    const e = deviceEvidence(r, target.version, policy);
    if (e) devices.push(e);
  }
  devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const running = devices.filter((d) => d.running);
  const failed = devices.filter((d) => d.failed).length;
  const figures: PromotionFigures = {
    running: running.length,
    qualifying: running.filter((d) => d.qualifies).length,
    healthyHoursTotal: Math.round(running.reduce((sum, d) => sum + d.healthyHours, 0) * 100) / 100,
    healthyHoursMin: running.length === 0 ? 0 : Math.min(...running.map((d) => d.healthyHours)),
    tried: devices.length,
    failed,
    failureRate: devices.length === 0 ? 0 : failed / devices.length,
  };
  const shortfalls: string[] = [];
  if (figures.qualifying < policy.minDevices) {
    shortfalls.push(
      `${figures.qualifying} device(s) have ${policy.healthyHours} healthy hours on it, ${policy.minDevices} needed`,
    );
  }
  if (figures.failureRate > policy.maxFailureRate) {
    shortfalls.push(`failure rate ${percent(figures.failureRate)} is above ${percent(policy.maxFailureRate)}`);
  }
  return { ...target, policy, ...figures, allowed: shortfalls.length === 0, shortfalls, devices };
}

/** The figures alone (what the channel history keeps), without the per-device list. */
export function figuresOf(e: PromotionFigures): PromotionFigures {
  return {
    running: e.running,
    qualifying: e.qualifying,
    healthyHoursTotal: e.healthyHoursTotal,
    healthyHoursMin: e.healthyHoursMin,
    tried: e.tried,
    failed: e.failed,
    failureRate: e.failureRate,
  };
}

/** One line with every figure: what a refusal says, and what a promotion records. */
export function describeEvidence(e: PromotionEvidence): string {
  return (
    `${e.running} device(s) on ${e.channel} run ${e.name} ${e.version}, ${e.qualifying} of them with at least ` +
    `${e.policy.healthyHours} healthy hours (need ${e.policy.minDevices}); healthy hours ${e.healthyHoursTotal} in sum, ` +
    `${e.healthyHoursMin} the least; failure rate ${percent(e.failureRate)} (${e.failed} of ${e.tried} device(s) that tried it ` +
    `rolled back from it or deny-listed it; at most ${percent(e.policy.maxFailureRate)} allowed)`
  );
}

/** The refusal: PROMOTION_REFUSED with every figure in the message, and the evidence for --json. */
export class PromotionRefused extends EdgeError {
  constructor(readonly evidence: PromotionEvidence) {
    super(
      "PROMOTION_REFUSED",
      `not promoting ${evidence.name} ${evidence.version} from ${evidence.channel}: ${evidence.shortfalls.join("; ")}. ${describeEvidence(evidence)}`,
    );
  }
}

/** --max-failure-rate: "0.1" or "10%", from 0 (no device may have failed) to 1. */
export function parseMaxFailureRate(text: string): number {
  const trimmed = text.trim();
  const isPercent = trimmed.endsWith("%");
  const n = Number(isPercent ? trimmed.slice(0, -1) : trimmed);
  const rate = isPercent ? n / 100 : n;
  if (trimmed === "" || trimmed === "%" || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new EdgeError(
      "USAGE",
      `--max-failure-rate must be a share from 0 to 1, or a percentage up to 100% (found ${JSON.stringify(text)})`,
    );
  }
  return rate;
}
