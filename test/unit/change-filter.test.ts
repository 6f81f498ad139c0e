import { describe, expect, it } from "vitest";
import { quantizeInventory, statusKey } from "../../agent/telemetry/change-filter.js";
import type { DeviceStatusMessage, Inventory } from "../../shared/topics.js";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

function inventory(over: Partial<Inventory> = {}): Inventory {
  return {
    os: "Debian GNU/Linux 12",
    kernel: "6.1.0-rpi7",
    arch: "arm64",
    cpu: { model: "ARM Cortex-A72", cores: 4 },
    // Mid-bucket values, so a small wobble stays inside its step.
    memory: { totalBytes: 4 * GIB, availableBytes: 2 * GIB + 30 * MIB },
    disk: { mount: "/", availableBytes: 10 * GIB + 100 * MIB, sizeBytes: 32 * GIB },
    temperatureC: 41.0,
    ...over,
  };
}

function status(inv: Inventory | undefined, over: Partial<DeviceStatusMessage> = {}): DeviceStatusMessage {
  return {
    schema: 1,
    deviceId: "dev-1",
    online: true,
    at: "2025-01-01T00:00:00.000Z",
    name: "detector",
    channel: "stable",
    activeVersion: "1.2.0",
    phase: "idle",
    health: { ok: true, status: 200 },
    ...(inv ? { inventory: inv } : {}),
    ...over,
  };
}

const base = inventory();
const memory = (delta: number): Inventory =>
  inventory({ memory: { ...base.memory, availableBytes: base.memory.availableBytes + delta } });
const disk = (delta: number, sizeBytes = 32 * GIB, availableBytes = 10 * GIB + 100 * MIB): Inventory =>
  inventory({ disk: { mount: "/", sizeBytes, availableBytes: availableBytes + delta } });
const small = (delta: number): Inventory => disk(delta, 8 * GIB, 3 * GIB + 100 * MIB);

describe("statusKey", () => {
  it.each<[string, boolean, Inventory, Inventory]>([
    ["memory wobble of 10 MiB", true, base, memory(10 * MIB)],
    ["memory wobble of -10 MiB", true, base, memory(-10 * MIB)],
    ["memory drop of 200 MiB", false, base, memory(-200 * MIB)],
    ["memory rise of 200 MiB", false, base, memory(200 * MIB)],
    ["disk moves 100 MiB on 32 GiB (step 327 MiB)", true, base, disk(100 * MIB)],
    ["disk moves 400 MiB on 32 GiB", false, base, disk(-400 * MIB)],
    // 1 % of 8 GiB would be 82 MiB steps; the 256 MiB floor keeps a 90 MiB move quiet.
    ["disk moves 90 MiB on 8 GiB", true, small(0), small(-90 * MIB)],
    ["disk moves 300 MiB on 8 GiB", false, small(0), small(-300 * MIB)],
    ["disk goes missing", false, base, inventory({ disk: null })],
    ["temperature 41.0 -> 41.9", true, base, inventory({ temperatureC: 41.9 })],
    ["temperature 41.0 -> 44", false, base, inventory({ temperatureC: 44 })],
    ["temperature stays unreported", true, inventory({ temperatureC: null }), inventory({ temperatureC: null })],
    ["temperature appears", false, inventory({ temperatureC: null }), base],
    ["temperature disappears", false, base, inventory({ temperatureC: null })],
    ["kernel changes", false, base, inventory({ kernel: "6.1.0-rpi8" })],
    ["cores change", false, base, inventory({ cpu: { model: "ARM Cortex-A72", cores: 2 } })],
    ["memory total changes by 1 byte", false, base, inventory({ memory: { ...base.memory, totalBytes: 4 * GIB - 1 } })],
  ])("%s: same key = %s", (_what, same, a, b) => {
    expect(statusKey(status(a)) === statusKey(status(b))).toBe(same);
  });

  it.each<[string, boolean, Partial<DeviceStatusMessage>]>([
    ["only `at` differs", true, { at: "2025-06-01T12:00:00.000Z" }],
    ["`at` is null", true, { at: null }],
    ["phase differs", false, { phase: "downloading" }],
    ["active version differs", false, { activeVersion: "1.3.0" }],
    ["health differs", false, { health: { ok: false, error: "ECONNREFUSED" } }],
    ["online differs", false, { online: false }],
    ["channel is dropped", false, { channel: undefined }],
    ["an optional field is null instead of absent", false, { previousVersion: null }],
  ])("%s: same key = %s", (_what, same, over) => {
    expect(statusKey(status(base)) === statusKey(status(base, over))).toBe(same);
  });

  it("treats an undefined field as absent", () => {
    const { previousVersion: _p, ...without } = status(base);
    expect(statusKey({ ...without, previousVersion: undefined })).toBe(statusKey(without));
  });

  it("does not depend on key order", () => {
    const a = status(base);
    const reversed = Object.fromEntries(Object.entries(a).reverse()) as unknown as DeviceStatusMessage;
    expect(statusKey(reversed)).toBe(statusKey(a));
  });

  it("handles a status with no inventory and leaves `at` out", () => {
    const key = statusKey(status(undefined, { at: "2025-01-01T00:00:00.000Z" }));
    expect(key).not.toContain("2025-01-01");
    expect(JSON.parse(key)).toMatchObject({ deviceId: "dev-1", phase: "idle" });
  });
});

describe("quantizeInventory", () => {
  it("rounds the jittering numbers and leaves static fields alone", () => {
    const q = quantizeInventory(inventory({ temperatureC: 41.3 }));
    expect(q.memory).toEqual({ totalBytes: 4 * GIB, availableBytes: 2 * GIB });
    expect(q.memory.availableBytes % (64 * MIB)).toBe(0);
    expect(q.disk?.availableBytes).toBeLessThanOrEqual(10 * GIB + 100 * MIB);
    expect(q.disk?.sizeBytes).toBe(32 * GIB);
    expect(q.temperatureC).toBe(42);
    expect({ os: q.os, kernel: q.kernel, arch: q.arch, cpu: q.cpu }).toEqual({
      os: base.os,
      kernel: base.kernel,
      arch: base.arch,
      cpu: base.cpu,
    });
  });

  it("never reports more free space than there is", () => {
    for (const avail of [0, 1, 63 * MIB, 64 * MIB, 64 * MIB + 1, 5 * GIB - 1]) {
      const q = quantizeInventory(inventory({ memory: { totalBytes: 8 * GIB, availableBytes: avail } }));
      expect(q.memory.availableBytes).toBeLessThanOrEqual(avail);
      expect(avail - q.memory.availableBytes).toBeLessThan(64 * MIB);
    }
  });

  it("keeps null temperature and null disk", () => {
    const q = quantizeInventory(inventory({ temperatureC: null, disk: null }));
    expect(q.temperatureC).toBeNull();
    expect(q.disk).toBeNull();
  });

  it("does not modify its input", () => {
    const inv = inventory({ temperatureC: 41.3 });
    const copy = structuredClone(inv);
    quantizeInventory(inv);
    expect(inv).toEqual(copy);
  });
});
