import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { MANIFEST_ENTRY, SUMS_ENTRY } from "../../shared/bundle-format.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { formatSha256Sums, sha256Hex } from "../../shared/digest.js";
import {
  CHANNEL_TYPE,
  type ChannelPointer,
  PAYLOAD_TYPE,
  type PayloadFile,
  RELEASE_TYPE,
  type ReleaseManifest,
} from "../../shared/manifest.js";
import { bundlePath, channelPointerPath, releaseManifestPath } from "../../shared/repo-layout.js";
import { type PrivateKeyInfo, parsePrivateKey, signEnvelope } from "../../shared/signature.js";
import { type TarEntry, tarGzOf } from "./tar-craft.js";

/** Crafts repository content by hand, including what our publisher would never write. */

export type CraftEntry = TarEntry;

export async function loadKey(path: string): Promise<PrivateKeyInfo> {
  return parsePrivateKey(await readFile(path), path);
}

export function fileOf(path: string, content: Buffer): PayloadFile {
  return { path, size: content.length, sha256: sha256Hex(content), mode: 0o644 };
}

/** A bundle in our format: a signed manifest for `files`, SHA256SUMS, then the given payload entries. */
export async function craftBundle(opts: {
  name: string;
  version: string;
  files: PayloadFile[];
  payloadEntries: CraftEntry[];
  key: PrivateKeyInfo;
}): Promise<Buffer> {
  const manifest = signEnvelope(
    { _type: PAYLOAD_TYPE, specVersion: 1, name: opts.name, version: opts.version, files: opts.files },
    [opts.key],
  );
  const sums = formatSha256Sums(opts.files.map((f) => ({ path: `payload/${f.path}`, sha256: f.sha256 })));
  return tarGzOf([
    { name: MANIFEST_ENTRY, content: Buffer.from(canonicalJson(manifest)) },
    { name: SUMS_ENTRY, content: Buffer.from(sums) },
    ...opts.payloadEntries,
  ]);
}

/** Writes bundle bytes and a signed release manifest describing them (or lying, via `bundleRef`). */
export async function writeRelease(
  repoDir: string,
  opts: {
    name: string;
    version: string;
    files: PayloadFile[];
    bundle: Buffer;
    key: PrivateKeyInfo;
    bundleRef?: Partial<ReleaseManifest["bundle"]>;
    deltas?: ReleaseManifest["deltas"];
  },
): Promise<string> {
  const rel = bundlePath(opts.name, opts.version);
  await mkdir(dirname(join(repoDir, rel)), { recursive: true });
  await writeFile(join(repoDir, rel), opts.bundle);
  const release: ReleaseManifest = {
    _type: RELEASE_TYPE,
    specVersion: 1,
    name: opts.name,
    version: opts.version,
    createdAt: new Date().toISOString(),
    files: opts.files,
    bundle: { url: rel, size: opts.bundle.length, sha256: sha256Hex(opts.bundle), ...opts.bundleRef },
  };
  if (opts.deltas) release.deltas = opts.deltas;
  const text = canonicalJson(signEnvelope(release, [opts.key]));
  await writeFile(join(repoDir, releaseManifestPath(opts.name, opts.version)), text);
  return text;
}

/** Writes a channel pointer for a release manifest's exact text; `raw` replaces the whole file. */
export async function writePointer(
  repoDir: string,
  opts: {
    name: string;
    channel: string;
    version: string;
    sequence: number;
    releaseText: string;
    keys: PrivateKeyInfo[];
    expiresAt?: string;
    raw?: string;
    rollout?: ChannelPointer["rollout"];
  },
): Promise<string> {
  const pointer: ChannelPointer = {
    _type: CHANNEL_TYPE,
    specVersion: 1,
    name: opts.name,
    channel: opts.channel,
    version: opts.version,
    sequence: opts.sequence,
    createdAt: new Date().toISOString(),
    expiresAt: opts.expiresAt ?? new Date(Date.now() + 86_400_000).toISOString(),
    release: {
      url: releaseManifestPath(opts.name, opts.version),
      size: Buffer.byteLength(opts.releaseText),
      sha256: sha256Hex(opts.releaseText),
    },
  };
  if (opts.rollout) pointer.rollout = opts.rollout;
  const text = opts.raw ?? canonicalJson(signEnvelope(pointer, opts.keys));
  const path = join(repoDir, channelPointerPath(opts.name, opts.channel));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return text;
}
