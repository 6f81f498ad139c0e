import { sleep } from "../../shared/backoff.js";
import type { Clock, DiskProbe, MemoryProbe } from "../ports.js";
import { diskSpaceFor } from "../telemetry/disk.js";
import { availableMemory } from "../telemetry/memory.js";

/** The real clock, disk and memory behind the ports (agent/ports.ts). */
export const systemClock: Clock = { now: () => new Date(), sleep };
export const systemDisk: DiskProbe = { spaceFor: diskSpaceFor };
export const systemMemory: MemoryProbe = { availableBytes: availableMemory };
