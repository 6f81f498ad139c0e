import { createRequire } from "node:module";
import { EdgeError } from "../../shared/errors.js";

interface BsdiffNode {
  patch(oldFile: string, newFile: string, patchFile: string): Promise<void>;
}

// The only bsdiff-node importer on the device. Its promise form runs on the libuv pool, off the event loop.
const bsdiff = createRequire(import.meta.url)("bsdiff-node") as BsdiffNode;

const BSDIFF_MAGIC = Buffer.from("BSDIFF40", "ascii");

/** bsdiff's offtin: 64-bit little-endian sign-magnitude. */
function offtin(buf: Buffer, at: number): bigint {
  const magnitude = buf.readBigUInt64LE(at) & 0x7fff_ffff_ffff_ffffn;
  return (buf[at + 7] as number) & 0x80 ? -magnitude : magnitude;
}

/**
 * Checks a BSDIFF40 patch's header before bspatch sees it: bspatch allocates
 * the new size it announces, so a size lie is refused here.
 */
export function checkBsdiffHeader(patch: Buffer, expectedSize: number, where: string): void {
  if (patch.length < 32 || !patch.subarray(0, 8).equals(BSDIFF_MAGIC)) {
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} is not a BSDIFF40 patch`);
  }
  const ctrl = offtin(patch, 8);
  const diff = offtin(patch, 16);
  const size = offtin(patch, 24);
  if (ctrl < 0n || diff < 0n || 32n + ctrl + diff > BigInt(patch.length)) {
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} has block lengths ${ctrl}+${diff} past its ${patch.length} bytes`);
  }
  if (size !== BigInt(expectedSize)) {
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} announces ${size} bytes, the window holds ${expectedSize}`);
  }
}

export async function bspatchFiles(oldFile: string, newFile: string, patchFile: string, where: string): Promise<void> {
  try {
    await bsdiff.patch(oldFile, newFile, patchFile);
  } catch (err) {
    throw new EdgeError("BUNDLE_CORRUPT", `delta: ${where} does not apply: ${String(err)}`, { cause: err });
  }
}
