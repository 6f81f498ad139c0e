import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { extractBundle } from "../../shared/bundle-reader/extract.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import { type Logger, silentLogger } from "../../shared/logging.js";
import type { ChannelPointer, DeltaRef, ReleaseManifest } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { deltaPath, releaseManifestPath } from "../../shared/repo-layout.js";
import { type PrivateKeyInfo, signEnvelope } from "../../shared/signature.js";
import { buildDelta } from "../delta/build-delta.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { readChannelPointer, readRelease } from "../repo-files.js";
import { writeChannelPointer } from "../rollout/pointer-writer.js";
import { validateNameAndVersion } from "./build.js";
import { listChannels } from "./channels.js";

export interface DeltaOptions {
  repoDir: string;
  name: string;
  /** Base versions: one delta from each to `to`. */
  from: string[];
  to: string;
  keyPath: string;
  /** The target's model folder when the caller has it (build --delta-from): saves unpacking its bundle. */
  targetModelDir?: string;
  /** Where bundles are unpacked and windows diffed (default os.tmpdir()). */
  workDir?: string;
  /** Channels re-pointed at the re-signed release are pushed here too. */
  mqtt?: MqttSettings;
  logger?: Logger;
  /** Target bytes encoded so far, across every delta. */
  onProgress?: (done: number, total: number) => void;
  /** Whole-piece sizes, for tests of the bounded-memory paths. */
  windowBytes?: number;
  chunkBytes?: number;
}

export interface DeltaReport {
  from: string;
  /** False when the delta came out no smaller than the bundle: it is not offered then. */
  offered: boolean;
  size: number;
  sha256: string;
  url: string;
  bundleSize: number;
  ms: number;
}

export interface DeltaResult {
  release: ReleaseManifest;
  deltas: DeltaReport[];
  /** Channels carrying this release, re-pointed at its re-signed manifest. */
  channels: ChannelPointer[];
}

/**
 * Makes a delta from each base release to the target, records the ones smaller
 * than the bundle in the target's signed release manifest, and re-points every
 * channel that carries the target: a pointer names its release manifest by
 * digest, so the re-signed manifest needs new pointers (same rollout, next sequence).
 */
export async function makeDeltas(opts: DeltaOptions): Promise<DeltaResult> {
  validateNameAndVersion(opts.name, opts.to);
  if (opts.from.length === 0) throw new EdgeError("USAGE", "name at least one version to make a delta from");
  for (const from of opts.from) {
    validateNameAndVersion(opts.name, from);
    if (from === opts.to) throw new EdgeError("USAGE", `a delta from ${from} to itself makes no sense`);
  }
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  const key = await loadPrivateKey(opts.keyPath);
  const log = opts.logger ?? silentLogger();
  const target = await requireRelease(opts.repoDir, opts.name, opts.to);
  const bases = await Promise.all(opts.from.map((v) => requireRelease(opts.repoDir, opts.name, v)));

  const work = await mkdtemp(join(opts.workDir ?? tmpdir(), "edgepull-delta-"));
  try {
    const targetDir = opts.targetModelDir ?? (await unpack(opts.repoDir, target, join(work, "target"), log));
    const targetBytes = target.files.reduce((sum, f) => sum + f.size, 0);
    const total = targetBytes * bases.length;
    let done = 0;
    const reports: DeltaReport[] = [];
    for (const base of bases) {
      const started = Date.now();
      const baseDir = await unpack(opts.repoDir, base, join(work, `base-${base.version}`), log);
      const url = deltaPath(opts.name, base.version, opts.to);
      const outPath = join(opts.repoDir, url);
      await mkdir(dirname(outPath), { recursive: true });
      const partPath = `${outPath}.part`;
      const built = await buildDelta({
        baseDir,
        targetDir,
        baseFiles: base.files,
        targetFiles: target.files,
        outPath: partPath,
        baseVersion: base.version,
        targetVersion: opts.to,
        tempDir: work,
        windowBytes: opts.windowBytes,
        chunkBytes: opts.chunkBytes,
        onBytes: (n) => {
          done += n;
          opts.onProgress?.(Math.min(done, total), total);
        },
      });
      await rm(baseDir, { recursive: true, force: true });
      const offered = built.size < target.bundle.size;
      if (offered) await rename(partPath, outPath);
      else await rm(partPath, { force: true });
      const report = { from: base.version, offered, size: built.size, sha256: built.sha256, url, bundleSize: target.bundle.size };
      reports.push({ ...report, ms: Date.now() - started });
      log.info({ ...report, perFile: built.perFile }, offered ? "delta built" : "delta not smaller than the bundle; not offered");
    }
    const offered = reports.filter((r) => r.offered).map((r) => ({ from: r.from, url: r.url, size: r.size, sha256: r.sha256 }));
    const release = withDeltas(target, offered);
    // Same deltas as before (a rerun): the manifest's bytes, and every pointer naming them, stay valid.
    if (canonicalJson(release) === canonicalJson(target)) return { release, deltas: reports, channels: [] };
    await writeFileAtomic(
      join(opts.repoDir, releaseManifestPath(release.name, release.version)),
      canonicalJson(signEnvelope(release, [key])),
    );
    const channels = await repointChannels(opts, key, log);
    return { release, deltas: reports, channels };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function requireRelease(repoDir: string, name: string, version: string): Promise<ReleaseManifest> {
  const doc = await readRelease(repoDir, name, version);
  if (!doc) {
    throw new EdgeError(
      "RELEASE_NOT_FOUND",
      `${name} ${version} is not built in this repository (looked for ${join(repoDir, releaseManifestPath(name, version))})`,
    );
  }
  return doc.value;
}

/**
 * The release's payload as files, through the agent's own verifying extractor:
 * a bundle changed in the repository since it was built is refused here rather
 * than turned into a delta that no device could apply.
 */
async function unpack(repoDir: string, release: ReleaseManifest, destDir: string, log: Logger): Promise<string> {
  await extractBundle({
    bundlePath: join(repoDir, release.bundle.url),
    destDir,
    expected: { name: release.name, version: release.version, files: release.files },
    logger: log,
  });
  return destDir;
}

/** The same release with these deltas merged in (a new delta from a base replaces the old one). */
function withDeltas(release: ReleaseManifest, added: DeltaRef[]): ReleaseManifest {
  const byBase = new Map((release.deltas ?? []).map((d) => [d.from, d]));
  for (const d of added) byBase.set(d.from, d);
  const deltas = [...byBase.values()].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const next: ReleaseManifest = { ...release };
  if (deltas.length > 0) next.deltas = deltas;
  else delete next.deltas;
  return next;
}

async function repointChannels(opts: DeltaOptions, key: PrivateKeyInfo, log: Logger): Promise<ChannelPointer[]> {
  const { channels } = await listChannels({ repoDir: opts.repoDir, name: opts.name });
  const out: ChannelPointer[] = [];
  for (const row of channels.filter((c) => c.version === opts.to)) {
    const previous = (await readChannelPointer(opts.repoDir, opts.name, row.channel))?.value;
    if (!previous) continue;
    const written = await writeChannelPointer({
      repoDir: opts.repoDir,
      name: opts.name,
      channel: row.channel,
      version: opts.to,
      key,
      previous,
      rollout: previous.rollout,
      mqtt: opts.mqtt,
    });
    log.info({ channel: row.channel, sequence: written.pointer.sequence }, "channel re-pointed at the release with its deltas");
    out.push(written.pointer);
  }
  return out;
}
