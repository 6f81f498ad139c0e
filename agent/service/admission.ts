import { readFile } from "node:fs/promises";

/**
 * Whether a second version may start beside the serving one (hand-over), or
 * the update must restart in place because memory is short. Triton and TF
 * Serving make the same choice (load before unload, or the reverse); here it
 * is made per update from measurements, never assumed.
 */
export interface AdmissionPolicy {
  /** The serving version's peak times this is what the candidate is expected to need. */
  factor: number;
  reserveBytes: number;
  /** PSI `some avg10`, percent. */
  maxPressure: number;
}

export interface AdmissionFacts {
  /** The serving version's measured peak (cgroup memory.peak or VmHWM); undefined when it could not be read. */
  servingPeakBytes: number | undefined;
  availableBytes: number;
  /** undefined where the kernel has no PSI. */
  pressureAvg10: number | undefined;
}

export type Admission =
  | { admitted: true; detail: string }
  | { admitted: false; reason: "MEMORY_LOW" | "MEMORY_PRESSURE"; detail: string };

const MIB = 1024 * 1024;
const mib = (bytes: number): string => `${Math.round(bytes / MIB)} MiB`;

export function admit(facts: AdmissionFacts, policy: AdmissionPolicy): Admission {
  const { servingPeakBytes, availableBytes, pressureAvg10 } = facts;
  if (pressureAvg10 !== undefined && pressureAvg10 > policy.maxPressure) {
    return {
      admitted: false,
      reason: "MEMORY_PRESSURE",
      detail: `memory pressure some avg10=${pressureAvg10} is above the limit ${policy.maxPressure}`,
    };
  }
  // With no figure for the serving version, the candidate is assumed to need nothing beyond the reserve:
  // said in the detail, so a technician sees the check was weaker.
  const peak = servingPeakBytes ?? 0;
  const needed = peak * policy.factor + policy.reserveBytes;
  const measured = servingPeakBytes === undefined ? "serving peak unknown" : `serving peak ${mib(peak)} × ${policy.factor}`;
  const sum = `${measured} + reserve ${mib(policy.reserveBytes)} = ${mib(needed)}`;
  if (needed > availableBytes) {
    return { admitted: false, reason: "MEMORY_LOW", detail: `${sum} does not fit in MemAvailable ${mib(availableBytes)}` };
  }
  return { admitted: true, detail: `${sum} fits in MemAvailable ${mib(availableBytes)}` };
}

/**
 * A process's peak memory: its own cgroup's memory.peak when it runs in one
 * apart from ours (a unit per version), else its VmHWM (peak resident set).
 */
export async function peakMemoryOf(pid: number): Promise<number | undefined> {
  const cgroup = await ownCgroupOf(pid);
  if (cgroup) {
    const peak = await readNumber(`/sys/fs/cgroup${cgroup}/memory.peak`);
    if (peak !== undefined) return peak;
  }
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** PSI `some avg10` of the whole system, or undefined without /proc/pressure. */
export async function memoryPressureAvg10(): Promise<number | undefined> {
  try {
    const text = await readFile("/proc/pressure/memory", "utf8");
    const value = /^some .*avg10=([\d.]+)/m.exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

/** The cgroup v2 path of `pid` when it differs from this process's (so its memory.peak is its own). */
async function ownCgroupOf(pid: number): Promise<string | undefined> {
  const [theirs, ours] = await Promise.all([cgroupPath(String(pid)), cgroupPath("self")]);
  return theirs && theirs !== ours ? theirs : undefined;
}

async function cgroupPath(pid: string): Promise<string | undefined> {
  try {
    return /^0::(\/.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const value = Number((await readFile(path, "utf8")).trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
