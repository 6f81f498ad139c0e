import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { verifyPayloadText } from "../../shared/bundle-reader/bundle-manifest.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex, sha256Stream } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import { type ArtifactRef, type PayloadManifest, RELEASE_TYPE, type ReleaseManifest } from "../../shared/manifest.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import { openRegularFile, readChunks } from "../bundle/regular-file.js";
import { verifyReleaseEnvelope } from "./intake.js";

/**
 * Offline installs (a USB stick, a laptop, the inbox folder). A bundle carries
 * its own signed payload manifest; that signature, by a trusted key, is what
 * makes it installable. The journal records it as a "sideload" document, so a
 * resumed attempt and `edge-agent verify` re-check the same signature.
 */
export const SIDELOAD_TYPE = "edgepull/sideload";

export interface SideloadRecord {
  _type: typeof SIDELOAD_TYPE;
  /** The bundle's manifest.json, exactly as signed. */
  payload: string;
  bundle: ArtifactRef;
  receivedAt: string;
}

export interface VerifiedSideload {
  release: ReleaseManifest;
  text: string;
  digest: string;
}

/**
 * A bundle file, or a folder holding exactly one. Only a folder is told apart
 * here (stat never blocks); whether the bundle is a regular file is checked on
 * the handle it is read from (verifySideload), not on the path.
 */
export async function findBundle(path: string): Promise<string> {
  const full = resolve(path);
  const st = await stat(full).catch((cause) => {
    throw new EdgeError("USAGE", `${full} does not exist`, { cause });
  });
  if (!st.isDirectory()) return full;
  const bundles = (await readdir(full)).filter((n) => n.endsWith(".tar.gz") && !n.startsWith("."));
  if (bundles.length !== 1) {
    throw new EdgeError("USAGE", `${full} must hold exactly one .tar.gz bundle (found ${bundles.length})`);
  }
  return join(full, bundles[0] as string);
}

function releaseFrom(payload: PayloadManifest, bundle: ArtifactRef, receivedAt: string): ReleaseManifest {
  const release: ReleaseManifest = {
    _type: RELEASE_TYPE,
    specVersion: payload.specVersion,
    name: payload.name,
    version: payload.version,
    createdAt: receivedAt,
    files: payload.files,
    bundle,
  };
  if (payload.compatibility) release.compatibility = payload.compatibility;
  return release;
}

/**
 * Verifies a local bundle's signed manifest and hashes the file, for an install
 * request; both read the one handle opened (without blocking) and checked to be
 * a regular file.
 */
export async function verifySideload(
  bundlePath: string,
  trustedKeys: PublicKeyInfo[],
  expectedName: string,
  now: Date,
): Promise<VerifiedSideload> {
  const file = await openRegularFile(bundlePath, "USAGE");
  try {
    // Loaded here, not at start: tar-stream stays out of the daemon until a bundle is sideloaded.
    const { readManifestEntry } = await import("../../shared/bundle-reader/manifest-entry.js");
    const payloadText = await readManifestEntry(readChunks(file), bundlePath);
    const payload = verifyPayloadText(payloadText, trustedKeys).manifest;
    if (payload.name !== expectedName) {
      throw new EdgeError(
        "NAME_MISMATCH",
        `${bundlePath} holds ${payload.name} ${payload.version}; this device runs ${expectedName}`,
      );
    }
    const digest = await sha256Stream(readChunks(file));
    const record: SideloadRecord = {
      _type: SIDELOAD_TYPE,
      payload: payloadText,
      bundle: { url: pathToFileURL(bundlePath).toString(), size: digest.size, sha256: digest.sha256 },
      receivedAt: now.toISOString(),
    };
    const text = canonicalJson(record);
    return { release: releaseFrom(payload, record.bundle, record.receivedAt), text, digest: sha256Hex(text) };
  } finally {
    await file.close();
  }
}

/**
 * Where an attempt's release came from, which decides how its bundle is
 * fetched: a repository release (HTTP poll, pinned version, MQTT push) only
 * over the network under the URL policy, a sideload only from its local file.
 */
export type ReleaseOrigin = "repository" | "sideload";

export interface StoredRelease {
  release: ReleaseManifest;
  origin: ReleaseOrigin;
}

/**
 * Whether a parsed journal record is a sideload or a repository release, by
 * shape alone (signatures are checked by readStoredRelease). A repository
 * release is a signed envelope, and stays one even if it also carries
 * sideload-looking members: those members are not signed, and a resumed
 * attempt must not take its bundle URL from them.
 */
function originOfRecord(value: unknown): ReleaseOrigin {
  const record = value as Partial<SideloadRecord> & { signed?: unknown };
  if (typeof value !== "object" || value === null || record._type !== SIDELOAD_TYPE || "signed" in record) return "repository";
  return "sideload";
}

/** Where the release of a journaled attempt came from (its `releaseJson`), without checking signatures. */
export function recordedOrigin(text: string): ReleaseOrigin {
  try {
    return originOfRecord(JSON.parse(text));
  } catch {
    return "repository"; // not JSON: readStoredRelease refuses it as a release envelope
  }
}

/** The release a journal entry describes, its signature checked again, and whether it is a repository release or a sideload. */
export function readStoredRelease(text: string, trustedKeys: PublicKeyInfo[]): StoredRelease {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new EdgeError("METADATA_MALFORMED", "the journal's release record is not JSON", { cause });
  }
  if (originOfRecord(value) === "repository") {
    return { release: verifyReleaseEnvelope(text, trustedKeys), origin: "repository" };
  }
  const record = value as Partial<SideloadRecord>;
  if (typeof record.payload !== "string" || !record.bundle || typeof record.receivedAt !== "string") {
    throw new EdgeError("METADATA_MALFORMED", "the journal's sideload record is incomplete");
  }
  const release = releaseFrom(verifyPayloadText(record.payload, trustedKeys).manifest, record.bundle, record.receivedAt);
  return { release, origin: "sideload" };
}

/** The release a journal entry describes, its signature checked again: a repository release or a sideload. */
export function parseStoredRelease(text: string, trustedKeys: PublicKeyInfo[]): ReleaseManifest {
  return readStoredRelease(text, trustedKeys).release;
}
