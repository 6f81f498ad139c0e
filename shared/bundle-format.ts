/**
 * The bundle: a gzip tar that GNU tar lists and extracts.
 *
 *   manifest.json     signed PayloadManifest (canonical JSON envelope)
 *   SHA256SUMS        `sha256sum -c SHA256SUMS` passes in the extracted tree
 *   payload/<path>    the model files
 *
 * Deterministic: entries sorted, mtime fixed, uid/gid 0, owner names empty,
 * modes 0644/0755, so the same input gives the same bytes.
 */
export const MANIFEST_ENTRY = "manifest.json";
export const SUMS_ENTRY = "SHA256SUMS";
export const PAYLOAD_PREFIX = "payload/";
/** 2000-01-01T00:00:00Z: a fixed mtime keeps bundles reproducible. */
export const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));
export const MANIFEST_MAX_BYTES = 16 * 1024 * 1024;
export const SUMS_MAX_BYTES = 16 * 1024 * 1024;

export function payloadEntryName(path: string): string {
  return `${PAYLOAD_PREFIX}${path}`;
}
