import { createRequire } from "node:module";

type SystemInformation = typeof import("systeminformation");

/** The five probes the agent calls; each is the very function systeminformation's index exports. */
export type SystemProbes = Pick<SystemInformation, "osInfo" | "cpu" | "cpuTemperature" | "mem" | "fsSize">;

const require = createRequire(import.meta.url);

/**
 * systeminformation's probes, each module loaded on its first use. Its index
 * loads every probe it has (23 modules: network, wifi, docker, graphics...),
 * which the agent never calls; a polling device that has nothing to install
 * loads none of them. `require` rather than `import`: an ESM import of a
 * CommonJS package has Node scan its source for export names, for nothing here.
 */
export function systemInformation(): SystemProbes {
  return PROBES;
}

// Getters: the module behind each probe is required when the probe is first looked up (require caches it).
const PROBES: SystemProbes = {
  get osInfo() {
    return (require("systeminformation/lib/osinfo.js") as SystemInformation).osInfo;
  },
  get cpu() {
    return (require("systeminformation/lib/cpu.js") as SystemInformation).cpu;
  },
  get cpuTemperature() {
    return (require("systeminformation/lib/cpu.js") as SystemInformation).cpuTemperature;
  },
  get mem() {
    return (require("systeminformation/lib/memory.js") as SystemInformation).mem;
  },
  get fsSize() {
    return (require("systeminformation/lib/filesystem.js") as SystemInformation).fsSize;
  },
};
