import { createReadStream } from "node:fs";
import { IO_CHUNK } from "../digest.js";
import { type EdgeError, toEdgeError } from "../errors.js";
import type { PayloadManifest } from "../manifest.js";
import type { PublicKeyInfo } from "../signature.js";
import { verifyPayloadText } from "./bundle-manifest.js";
import { readBundle } from "./extract.js";
import { readManifestEntry } from "./manifest-entry.js";
import { CheckOnlySink } from "./payload-sink.js";

export type BundleVerdict =
  | { ok: true; manifest: PayloadManifest; signedBy: string; files: number; bytes: number }
  /** `manifest` is set once its signature verified: the failure is then in the payload. */
  | { ok: false; error: EdgeError; manifest?: PayloadManifest; signedBy?: string };

/**
 * The device's whole check of a bundle offered on its own (a sideload), run
 * offline and writing nothing: manifest.json signed by one of `keys`, then the
 * full read the agent stages with (every entry judged by its header, the same
 * path and type rules, SHA256SUMS against the manifest, each file's size and
 * SHA-256, the decompression bound), with the payload hashed and dropped.
 */
export async function verifyBundle(
  bundlePath: string,
  keys: PublicKeyInfo[],
  /** Payload bytes checked so far, of the signed total. */
  onProgress?: (done: number, total: number) => void,
): Promise<BundleVerdict> {
  let known: { manifest: PayloadManifest; signedBy: string } | undefined;
  try {
    const text = await readManifestEntry(createReadStream(bundlePath, { highWaterMark: IO_CHUNK }), bundlePath);
    known = verifyPayloadText(text, keys);
    const { manifest } = known;
    const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
    const expected = { name: manifest.name, version: manifest.version, files: manifest.files };
    const onBytes = onProgress ? (bytes: number) => onProgress(bytes, total) : undefined;
    const read = await readBundle({ bundlePath, expected, trustedKeys: keys, onProgress: onBytes }, new CheckOnlySink());
    return { ok: true, manifest, signedBy: known.signedBy, files: read.files, bytes: read.bytes };
  } catch (err) {
    const error = toEdgeError(err);
    return known ? { ok: false, error, ...known } : { ok: false, error };
  }
}
