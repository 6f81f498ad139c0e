import { createRequire } from "node:module";

type SystemInformation = typeof import("systeminformation");

const require = createRequire(import.meta.url);

/**
 * systeminformation, loaded on first use. Its index loads every probe it has
 * (about 2 MiB resident), which a polling device that has nothing to install
 * never calls. `require` rather than `import`: an ESM import of a CommonJS
 * package has Node scan its source for export names, for nothing here.
 */
export function systemInformation(): SystemInformation {
  return require("systeminformation") as SystemInformation;
}
