import os from "node:os";
import type { Inventory } from "../../shared/topics.js";
import { diskSpaceFor } from "./disk.js";
import { systemInformation } from "./system-info.js";

type StaticPart = Pick<Inventory, "os" | "kernel" | "arch" | "cpu"> & { totalBytes: number };

const UNKNOWN = "unknown";

/**
 * osInfo and cpu each spawn helpers and cost 15-50 ms, yet cannot change while
 * the process runs, so they are read once. A read that came back incomplete is
 * not kept: the next call tries again.
 */
let staticPart: Promise<StaticPart> | undefined;

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function positive(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
}

async function readStatic(): Promise<StaticPart> {
  const si = systemInformation();
  const [osInfo, cpu] = await Promise.all([si.osInfo().catch(() => undefined), si.cpu().catch(() => undefined)]);
  const distro = [text(osInfo?.distro), text(osInfo?.release)].filter((s) => s !== undefined).join(" ");
  // Node's own view is a cheap, always-available second source for the basics.
  const part: StaticPart = {
    os: distro || UNKNOWN,
    kernel: text(osInfo?.kernel) ?? text(os.release()) ?? UNKNOWN,
    arch: text(osInfo?.arch) ?? text(os.arch()) ?? UNKNOWN,
    cpu: {
      model: [text(cpu?.manufacturer), text(cpu?.brand)].filter((s) => s !== undefined).join(" ") || UNKNOWN,
      cores: positive(cpu?.cores) ?? Math.max(1, os.availableParallelism()),
    },
    totalBytes: os.totalmem(),
  };
  if (osInfo === undefined || cpu === undefined) staticPart = undefined;
  return part;
}

/** Boards without a sensor report null, NaN or -1; none of those is a temperature, nor is anything outside what silicon survives. */
async function readTemperature(): Promise<number | null> {
  try {
    const t = await systemInformation().cpuTemperature();
    const main = t.main;
    return typeof main === "number" && Number.isFinite(main) && main !== -1 && main > -60 && main < 150 ? main : null;
  } catch {
    return null;
  }
}

async function readMemory(fallbackTotal: number): Promise<Inventory["memory"]> {
  try {
    const m = await systemInformation().mem();
    const total = positive(m.total) ?? fallbackTotal;
    // `available` counts reclaimable cache; `free` alone would make every box look full.
    const available = typeof m.available === "number" && Number.isFinite(m.available) ? m.available : os.freemem();
    return { totalBytes: total, availableBytes: Math.max(0, available) };
  } catch {
    return { totalBytes: fallbackTotal, availableBytes: os.freemem() };
  }
}

async function readDisk(dataDir: string): Promise<Inventory["disk"]> {
  try {
    const d = await diskSpaceFor(dataDir);
    if (!Number.isFinite(d.availableBytes) || !Number.isFinite(d.sizeBytes)) return null;
    return { mount: d.mount, availableBytes: d.availableBytes, sizeBytes: d.sizeBytes };
  } catch {
    return null;
  }
}

/**
 * What the fleet view shows about the hardware. Never throws: a piece that
 * cannot be read becomes "unknown" or null. After the first call this costs
 * about 20 ms on a 2-core x86 VM (mem, temperature and disk, read in parallel).
 */
export async function readInventory(dataDir: string): Promise<Inventory> {
  try {
    staticPart ??= readStatic();
    const fixed = await staticPart;
    const [memory, disk, temperatureC] = await Promise.all([readMemory(fixed.totalBytes), readDisk(dataDir), readTemperature()]);
    return { os: fixed.os, kernel: fixed.kernel, arch: fixed.arch, cpu: { ...fixed.cpu }, memory, disk, temperatureC };
  } catch {
    // Only reachable if systeminformation breaks in a way not seen yet.
    staticPart = undefined;
    return {
      os: UNKNOWN,
      kernel: os.release() || UNKNOWN,
      arch: os.arch() || UNKNOWN,
      cpu: { model: UNKNOWN, cores: Math.max(1, os.availableParallelism()) },
      memory: { totalBytes: os.totalmem(), availableBytes: os.freemem() },
      disk: null,
      temperatureC: null,
    };
  }
}
