import { createHash } from "node:crypto";

/**
 * Staged rollouts without a server that tracks devices: each device's place in
 * a release's rollout is a stable number in [0, 100) from a hash of its id and
 * the release. A device takes the release when that number is below the share,
 * so the devices in at 10 % are still in at 50 %, and the publisher needs no
 * list of devices. The same function runs on publisher and device.
 */
export function rolloutBucket(deviceId: string, name: string, version: string): number {
  const digest = createHash("sha256").update(`edgepull-rollout\n${deviceId}\n${name}@${version}`).digest();
  // 48 bits are plenty for percent resolution and stay exact in a double.
  return (digest.readUIntBE(0, 6) / 2 ** 48) * 100;
}

export function inRollout(deviceId: string, name: string, version: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return rolloutBucket(deviceId, name, version) < percent;
}
