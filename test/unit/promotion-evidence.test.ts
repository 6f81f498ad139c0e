import { describe, expect, it } from "vitest";
import {
  type DeviceReport,
  judgePromotion,
  type PromotionPolicy,
  parseMaxFailureRate,
} from "../../publisher/rollout/promotion-evidence.js";
import type { VersionHealth } from "../../shared/topics.js";

const target = { name: "det", channel: "canary", version: "2.0.0" };
const H = 3600;

function device(
  id: string,
  activeVersion: string | null,
  list: Partial<VersionHealth>[],
  over: Partial<DeviceReport> = {},
): DeviceReport {
  return {
    deviceId: id,
    name: "det",
    channel: "canary",
    activeVersion,
    versionHealth: list.map((v) => ({
      version: "2.0.0",
      healthySeconds: 0,
      unhealthySeconds: 0,
      rollbacks: 0,
      denied: false,
      ...v,
    })),
    ...over,
  };
}

const policy = (p: Partial<PromotionPolicy> = {}): PromotionPolicy => ({
  healthyHours: 24,
  minDevices: 2,
  maxFailureRate: 0.25,
  ...p,
});

describe("judgePromotion", () => {
  const cases: {
    title: string;
    devices: DeviceReport[];
    policy?: Partial<PromotionPolicy>;
    expected: Record<string, unknown>;
    shortfalls?: RegExp[];
  }[] = [
    {
      title: "no device reports the version: nothing qualifies, the rate is 0",
      devices: [device("a", "1.0.0", [{ version: "1.0.0", healthySeconds: 100 * H }])],
      expected: { running: 0, qualifying: 0, tried: 0, failureRate: 0, healthyHoursMin: 0, allowed: false },
      shortfalls: [/^0 device\(s\) have 24 healthy hours on it, 2 needed$/],
    },
    {
      title: "hours are per device, compared in seconds: 23.999 h does not qualify though shown as 24",
      devices: [
        device("a", "2.0.0", [{ healthySeconds: 24 * H }]),
        device("b", "2.0.0", [{ healthySeconds: 24 * H - 3 }]),
        device("c", "2.0.0", [{ healthySeconds: 100 * H }]),
      ],
      policy: { minDevices: 3 },
      expected: { running: 3, qualifying: 2, healthyHoursTotal: 148, healthyHoursMin: 24, allowed: false },
    },
    {
      title: "other models and channels never count; a device running it without figures yet tried it",
      devices: [
        device("a", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("b", "2.0.0", []),
        device("c", "2.0.0", [{ healthySeconds: 30 * H }], { channel: "stable" }),
        device("d", "2.0.0", [{ healthySeconds: 30 * H, rollbacks: 2 }], { name: "other" }),
      ],
      policy: { minDevices: 1 },
      expected: { running: 2, qualifying: 1, tried: 2, failed: 0, healthyHoursMin: 0, allowed: true },
    },
    {
      title: "a rollback or a deny-list entry fails the device, running it again or not; the limit is inclusive",
      devices: [
        device("a", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("b", "2.0.0", [{ healthySeconds: 30 * H, rollbacks: 1 }]),
        device("c", "1.0.0", [{ denied: true }]),
        device("d", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("e", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("f", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("g", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("h", "2.0.0", [{ healthySeconds: 30 * H }]),
      ],
      expected: { running: 7, qualifying: 7, tried: 8, failed: 2, failureRate: 0.25, allowed: true },
    },
    {
      title: "above the limit: refused on the rate alone",
      devices: [
        device("a", "2.0.0", [{ healthySeconds: 30 * H }]),
        device("b", "2.0.0", [{ healthySeconds: 30 * H, rollbacks: 1 }]),
      ],
      expected: { qualifying: 2, failed: 1, failureRate: 0.5, allowed: false },
      shortfalls: [/^failure rate 50% is above 25%$/],
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const e = judgePromotion(c.devices, target, policy(c.policy));
      expect(e).toMatchObject(c.expected);
      if (c.shortfalls) {
        expect(e.shortfalls).toHaveLength(c.shortfalls.length);
        for (const [i, re] of c.shortfalls.entries()) expect(e.shortfalls[i]).toMatch(re);
      }
      expect(e.allowed).toBe(e.shortfalls.length === 0);
    });
  }
});

describe("parseMaxFailureRate", () => {
  it.each([
    ["0", 0],
    ["0.05", 0.05],
    ["5%", 0.05],
    ["100%", 1],
    ["1", 1],
  ])("%s is %d", (text, rate) => expect(parseMaxFailureRate(text)).toBe(rate));
  it.each(["", "%", "-0.1", "1.5", "120%", "five"])("refuses %j as USAGE", (text) => {
    expect(() => parseMaxFailureRate(text)).toThrow(expect.objectContaining({ code: "USAGE" }));
  });
});
