import { realpath, statfs } from "node:fs/promises";
import type { DiskSpace } from "../ports.js";
import { systemInformation } from "./system-info.js";

/**
 * Free space on the filesystem holding `path`: systeminformation's view of the
 * mounts (what the fleet inventory reports), matched by longest mount prefix,
 * with statfs(2) when no mount matches (containers, unusual mounts).
 */
export async function diskSpaceFor(path: string): Promise<DiskSpace> {
  const real = await realpath(path);
  try {
    const mounts = await systemInformation().fsSize();
    let best: (typeof mounts)[number] | undefined;
    for (const m of mounts) {
      const mount = m.mount;
      if (!mount) continue;
      const inside = real === mount || real.startsWith(mount.endsWith("/") ? mount : `${mount}/`);
      if (inside && (!best || mount.length > best.mount.length)) best = m;
    }
    if (best && Number.isFinite(best.available)) {
      return { mount: best.mount, availableBytes: best.available, sizeBytes: best.size };
    }
  } catch {
    // fall through to statfs
  }
  const s = await statfs(real);
  return { mount: real, availableBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
}
