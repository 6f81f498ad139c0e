import { MANIFEST_ENTRY, PAYLOAD_PREFIX, SUMS_ENTRY } from "../bundle-format.js";
import { parseSha256Sums, type Sha256SumsEntry } from "../digest.js";
import { EdgeError } from "../errors.js";
import { type PayloadFile, type PayloadManifest, parseEnvelopeText, parsePayloadManifest } from "../manifest.js";
import { type PublicKeyInfo, verifyEnvelope } from "../signature.js";

/**
 * The bundle's own metadata must say exactly what the verified release manifest
 * says: the bundle is only a carrier, and the release manifest is the authority.
 */
export interface ExpectedPayload {
  name: string;
  version: string;
  files: PayloadFile[];
}

const WHAT = `bundle ${MANIFEST_ENTRY}`;

/**
 * A bundle's manifest.json on its own, as a sideload is judged: signed by one
 * of `trustedKeys` (which one is returned), then checked as a payload manifest.
 */
export function verifyPayloadText(text: string, trustedKeys: PublicKeyInfo[]): { manifest: PayloadManifest; signedBy: string } {
  const envelope = parseEnvelopeText(text, "bundle manifest");
  const signedBy = verifyEnvelope(envelope, trustedKeys, "bundle manifest");
  return { manifest: parsePayloadManifest(envelope.signed), signedBy };
}

export function checkBundleManifest(text: string, expected: ExpectedPayload, trustedKeys?: PublicKeyInfo[]): PayloadManifest {
  const envelope = parseEnvelopeText(text, WHAT);
  if (trustedKeys) verifyEnvelope(envelope, trustedKeys, WHAT);
  const manifest = parsePayloadManifest(envelope.signed);
  if (manifest.name !== expected.name) {
    throw new EdgeError(
      "NAME_MISMATCH",
      `${WHAT} names model ${JSON.stringify(manifest.name)}, expected ${JSON.stringify(expected.name)}`,
    );
  }
  if (manifest.version !== expected.version) {
    throw new EdgeError("NAME_MISMATCH", `${WHAT} names version ${manifest.version}, expected ${expected.version}`);
  }
  const difference = filesDifference(manifest.files, expected.files);
  if (difference) throw new EdgeError("METADATA_MALFORMED", `${WHAT} differs from the release manifest: ${difference}`);
  return manifest;
}

function filesDifference(found: PayloadFile[], expected: PayloadFile[]): string | undefined {
  const count = Math.max(found.length, expected.length);
  for (let i = 0; i < count; i++) {
    const f = found[i];
    const e = expected[i];
    if (!f) return `file ${JSON.stringify(e?.path)} is missing`;
    if (!e) return `file ${JSON.stringify(f.path)} is extra`;
    if (f.path !== e.path) return `file ${i + 1} is ${JSON.stringify(f.path)}, expected ${JSON.stringify(e.path)}`;
    for (const key of ["size", "sha256", "mode"] as const) {
      if (f[key] !== e[key]) return `${JSON.stringify(f.path)} has ${key} ${show(key, f[key])}, expected ${show(key, e[key])}`;
    }
  }
  return undefined;
}

function show(key: string, value: unknown): string {
  return key === "mode" && typeof value === "number" ? `0${value.toString(8)}` : String(value);
}

/** SHA256SUMS lists exactly the payload files, with the manifest's digests. */
export function checkSums(text: string, files: PayloadFile[]): void {
  let entries: Sha256SumsEntry[];
  try {
    entries = parseSha256Sums(text);
  } catch (cause) {
    throw new EdgeError("BUNDLE_CORRUPT", `bundle ${SUMS_ENTRY}: ${(cause as Error).message}`, { cause });
  }
  const wanted = new Map(files.map((f) => [`${PAYLOAD_PREFIX}${f.path}`, f.sha256]));
  const listed = new Set<string>();
  for (const { path, sha256 } of entries) {
    const expected = wanted.get(path);
    if (expected === undefined)
      throw new EdgeError("BUNDLE_CORRUPT", `bundle ${SUMS_ENTRY} lists ${JSON.stringify(path)}, which the manifest does not`);
    if (listed.has(path)) throw new EdgeError("BUNDLE_CORRUPT", `bundle ${SUMS_ENTRY} lists ${JSON.stringify(path)} twice`);
    if (sha256 !== expected) {
      throw new EdgeError(
        "BUNDLE_CORRUPT",
        `bundle ${SUMS_ENTRY} gives ${JSON.stringify(path)} SHA-256 ${sha256}, the manifest ${expected}`,
      );
    }
    listed.add(path);
  }
  const absent = [...wanted.keys()].find((p) => !listed.has(p));
  if (absent) throw new EdgeError("BUNDLE_CORRUPT", `bundle ${SUMS_ENTRY} does not list ${JSON.stringify(absent)}`);
}
