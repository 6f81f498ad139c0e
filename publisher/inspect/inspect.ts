import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { MANIFEST_MAX_BYTES } from "../../shared/bundle-format.js";
import { checkBundleManifest } from "../../shared/bundle-reader/bundle-manifest.js";
import { readManifestEntry } from "../../shared/bundle-reader/manifest-entry.js";
import { IO_CHUNK } from "../../shared/digest.js";
import { EdgeError, type ErrorCode, toEdgeError } from "../../shared/errors.js";
import {
  type Compatibility,
  type DeltaRef,
  type PayloadFile,
  parseEnvelopeText,
  parsePayloadManifest,
  parseReleaseManifest,
  type ReleaseManifest,
} from "../../shared/manifest.js";
import { bundleFileName, releaseManifestPath, resolveArtifactUrl } from "../../shared/repo-layout.js";
import { checkSignatures, type PublicKeyInfo, type SignatureCheck, type SignedEnvelope } from "../../shared/signature.js";
import { fetchText, isHttpUrl, openStream } from "./remote.js";

/** What `edge-publish inspect` shows (schemas/inspect.json is its JSON shape). */
export interface InspectReport {
  source: { kind: "bundle" | "release-dir" | "url"; location: string };
  name: string;
  version: string;
  compatibility: Compatibility;
  files: PayloadFile[];
  payloadBytes: number;
  /** Key ids of the --keys given, which the signatures below were checked against. */
  keys: string[];
  bundle: BundleView;
  /** What release.json offers; null when only a bundle was given (a bundle does not know its deltas). */
  deltas: DeltaRef[] | null;
  /** The signed release.json; null when only a bundle was given. */
  release: { createdAt: string; signatures: SignatureCheck[]; envelope: SignedEnvelope<ReleaseManifest> } | null;
}

export interface BundleView {
  location: string;
  present: boolean;
  /** The signed size from release.json, else the file's size; null when neither is known. */
  size: number | null;
  /** From release.json only: the bundle is not hashed (that would read the payload). */
  sha256: string | null;
  /** Of the bundle's manifest.json; null when it was not read. */
  signatures: SignatureCheck[] | null;
  /** manifest.json says what release.json says; null without a release or when it was not read. */
  matchesRelease: boolean | null;
  /** Why manifest.json could not be read or does not match. */
  problem: { code: string; message: string } | null;
}

/** Where a bundle's bytes come from: opened only when needed, undefined when there is no such bundle. */
interface ByteSource {
  open(): Promise<AsyncIterable<Buffer> | undefined>;
  /** The code for bytes that stop coming (a read error, a dropped connection). */
  readFailed: ErrorCode;
}

function fileSource(path: string): ByteSource {
  return {
    open: async () => {
      const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      if (!st) return undefined;
      if (!st.isFile()) throw new EdgeError("FILE_NOT_REGULAR", `${path} is not a regular file`);
      return createReadStream(path, { highWaterMark: IO_CHUNK });
    },
    readFailed: "USAGE",
  };
}

/**
 * Describes a bundle, a release folder or a release on an HTTP(S) repository
 * from its metadata alone: only a bundle's first entry (manifest.json) is read,
 * so a bundle with a damaged payload still inspects.
 */
export async function inspect(target: string, keys: PublicKeyInfo[]): Promise<InspectReport> {
  const keyids = keys.map((k) => k.keyid);
  if (isHttpUrl(target)) return inspectUrl(target, keys, keyids);
  const st = await stat(target).catch((cause) => {
    throw new EdgeError("USAGE", `${target} does not exist`, { cause });
  });
  if (st.isDirectory()) return inspectReleaseDir(target, keys, keyids);
  if (!st.isFile()) throw new EdgeError("FILE_NOT_REGULAR", `${target} is neither a bundle file nor a release folder`);
  const text = await readManifestEntry(createReadStream(target, { highWaterMark: IO_CHUNK }), target);
  const envelope = parseEnvelopeText(text, `${target} manifest.json`);
  const manifest = parsePayloadManifest(envelope.signed);
  return {
    source: { kind: "bundle", location: target },
    ...payloadFields(manifest),
    keys: keyids,
    bundle: {
      location: target,
      present: true,
      size: st.size,
      sha256: null,
      signatures: checkSignatures(envelope, keys, "bundle manifest"),
      matchesRelease: null,
      problem: null,
    },
    deltas: null,
    release: null,
  };
}

function payloadFields(m: { name: string; version: string; compatibility?: Compatibility; files: PayloadFile[] }) {
  return {
    name: m.name,
    version: m.version,
    compatibility: m.compatibility ?? {},
    files: m.files,
    payloadBytes: m.files.reduce((sum, f) => sum + f.size, 0),
  };
}

async function inspectReleaseDir(dir: string, keys: PublicKeyInfo[], keyids: string[]): Promise<InspectReport> {
  const path = join(dir, "release.json");
  const text = await readFile(path, "utf8").catch((cause) => {
    throw new EdgeError("USAGE", `${dir} holds no readable release.json: not a release folder`, { cause });
  });
  const signed = parseRelease(text, path);
  const bundlePath = join(dir, bundleFileName(signed.release.name, signed.release.version));
  return releaseReport({ kind: "release-dir", location: dir }, signed, path, bundlePath, fileSource(bundlePath), keys, keyids);
}

async function inspectUrl(url: string, keys: PublicKeyInfo[], keyids: string[]): Promise<InspectReport> {
  const releaseUrl = url.endsWith(".json") ? url : `${url.replace(/\/+$/, "")}/release.json`;
  const text = await fetchText(releaseUrl, MANIFEST_MAX_BYTES);
  const signed = parseRelease(text, releaseUrl);
  const { release } = signed;
  const bundleUrl = bundleUrlFor(releaseUrl, release);
  const source: ByteSource = { open: () => openStream(bundleUrl), readFailed: "HTTP_ERROR" };
  return releaseReport({ kind: "url", location: releaseUrl }, signed, releaseUrl, bundleUrl, source, keys, keyids);
}

/**
 * A relative bundle URL is relative to the repository root, which lies above
 * releases/<name>/<version>/release.json; a release.json found anywhere else is
 * taken to have its bundle beside it.
 */
function bundleUrlFor(releaseUrl: string, release: ReleaseManifest): string {
  const suffix = `/${releaseManifestPath(release.name, release.version)}`;
  if (releaseUrl.endsWith(suffix)) return resolveArtifactUrl(releaseUrl.slice(0, 1 - suffix.length), release.bundle.url);
  if (isHttpUrl(release.bundle.url)) return release.bundle.url;
  return new URL(bundleFileName(release.name, release.version), releaseUrl).toString();
}

interface SignedRelease {
  envelope: SignedEnvelope<ReleaseManifest>;
  release: ReleaseManifest;
}

function parseRelease(text: string, label: string): SignedRelease {
  const envelope = parseEnvelopeText(text, label);
  const release = parseReleaseManifest(envelope.signed);
  return { envelope: envelope as SignedEnvelope<ReleaseManifest>, release };
}

async function releaseReport(
  source: InspectReport["source"],
  { envelope, release }: SignedRelease,
  label: string,
  bundleLocation: string,
  bundle: ByteSource,
  keys: PublicKeyInfo[],
  keyids: string[],
): Promise<InspectReport> {
  return {
    source,
    ...payloadFields(release),
    keys: keyids,
    bundle: await bundleView(release, bundleLocation, bundle, keys),
    deltas: release.deltas ?? [],
    release: { createdAt: release.createdAt, signatures: checkSignatures(envelope, keys, label), envelope },
  };
}

/** The bundle beside a release: present or not, and whether its manifest.json agrees with release.json. */
async function bundleView(
  release: ReleaseManifest,
  location: string,
  source: ByteSource,
  keys: PublicKeyInfo[],
): Promise<BundleView> {
  const view: BundleView = {
    location,
    present: false,
    size: release.bundle.size,
    sha256: release.bundle.sha256,
    signatures: null,
    matchesRelease: null,
    problem: null,
  };
  try {
    const bytes = await source.open();
    if (!bytes) return view;
    view.present = true;
    const text = await readManifestEntry(bytes, location, source.readFailed);
    view.signatures = checkSignatures(parseEnvelopeText(text, `${location} manifest.json`), keys, "bundle manifest");
    view.matchesRelease = false;
    checkBundleManifest(text, release);
    view.matchesRelease = true;
  } catch (err) {
    const e = toEdgeError(err);
    view.problem = { code: e.code, message: e.message };
  }
  return view;
}
