import { createRequire } from "node:module";

interface BsdiffNode {
  diff(oldFile: string, newFile: string, patchFile: string): Promise<void>;
}

// bsdiff-node is CommonJS without types; its promise form runs on the libuv pool, off the event loop.
const bsdiff = createRequire(import.meta.url)("bsdiff-node") as BsdiffNode;

/** Writes a standard BSDIFF40 patch turning `oldFile` into `newFile` (about 17x the larger input in memory). */
export function bsdiffFiles(oldFile: string, newFile: string, patchFile: string): Promise<void> {
  return bsdiff.diff(oldFile, newFile, patchFile);
}
