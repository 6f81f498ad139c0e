import { freemem } from "node:os";
import { systemInformation } from "./system-info.js";

/**
 * Memory a new allocation can get without swapping: the kernel's MemAvailable
 * (free plus reclaimable cache) through systeminformation, where plain free
 * memory would count the page cache as used and refuse deltas on a busy device.
 */
export async function availableMemory(): Promise<number> {
  try {
    const mem = await systemInformation().mem();
    if (Number.isFinite(mem.available) && mem.available > 0) return mem.available;
  } catch {
    // fall through to os.freemem
  }
  return freemem();
}
