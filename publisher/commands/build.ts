import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "../../shared/canonical-json.js";
import { EdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import {
  type Compatibility,
  nameProblem,
  PAYLOAD_TYPE,
  type PayloadManifest,
  RELEASE_TYPE,
  type ReleaseManifest,
  SPEC_VERSION,
  versionProblem,
} from "../../shared/manifest.js";
import { bundlePath, releaseDir, releaseManifestPath } from "../../shared/repo-layout.js";
import { signEnvelope } from "../../shared/signature.js";
import { writeBundle } from "../bundle-writer.js";
import { loadPrivateKey } from "../key-file.js";
import { hashModelFiles, walkModelDir } from "../model-dir.js";
import { payloadDifferences } from "../release-compare.js";
import { readRelease } from "../repo-files.js";

export interface BuildOptions {
  modelDir: string;
  name: string;
  version: string;
  repoDir: string;
  keyPath: string;
  compatibility?: Compatibility;
  gzipLevel?: number;
  /** Relative paths in modelDir that are not part of the model (a completion marker). */
  exclude?: ReadonlySet<string>;
  now?: Date;
  /** Bytes read so far out of `total`: every model byte is read twice (hash, then pack). */
  onProgress?: (done: number, total: number) => void;
}

export interface BuildResult {
  release: ReleaseManifest;
  releasePath: string;
  bundlePath: string;
  alreadyBuilt: boolean;
}

/** Drops empty lists so `--arch ""` and no flag sign the same manifest. */
function normalizeCompatibility(c: Compatibility | undefined): Compatibility | undefined {
  if (!c) return undefined;
  const out: Compatibility = {};
  if (c.arch && c.arch.length > 0) out.arch = [...c.arch];
  if (c.labels && c.labels.length > 0) out.labels = [...c.labels];
  return out.arch || out.labels ? out : undefined;
}

export function validateNameAndVersion(name: string, version: string): void {
  const problem = nameProblem(name) ?? versionProblem(version);
  if (problem) throw new EdgeError("VERSION_INVALID", problem);
}

/**
 * Turns a model folder into a signed bundle and release manifest in the
 * repository. Rebuilding a version with the same content is a no-op; with other
 * content it is refused, because devices may already run what that version names.
 */
export async function buildRelease(opts: BuildOptions): Promise<BuildResult> {
  validateNameAndVersion(opts.name, opts.version);
  const key = await loadPrivateKey(opts.keyPath);
  const files = await walkModelDir(opts.modelDir, opts.exclude);
  const total = 2 * files.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  const onBytes = opts.onProgress
    ? (n: number) => {
        done += n;
        opts.onProgress?.(done, total);
      }
    : undefined;

  const payload: PayloadManifest = {
    _type: PAYLOAD_TYPE,
    specVersion: SPEC_VERSION,
    name: opts.name,
    version: opts.version,
    files: await hashModelFiles(files, onBytes),
  };
  const compatibility = normalizeCompatibility(opts.compatibility);
  if (compatibility) payload.compatibility = compatibility;

  const releasePath = join(opts.repoDir, releaseManifestPath(opts.name, opts.version));
  const bundleRel = bundlePath(opts.name, opts.version);
  const bundleAbs = join(opts.repoDir, bundleRel);
  const existing = await readRelease(opts.repoDir, opts.name, opts.version);
  if (existing) {
    const differences = payloadDifferences(existing.value, payload);
    if (differences.length > 0) {
      throw new EdgeError(
        "VERSION_EXISTS",
        `${opts.name} ${opts.version} is already built in ${releasePath} with other content (${differences.join("; ")}); publish a new version`,
      );
    }
    await checkBundlePresent(opts.repoDir, existing.value);
    return {
      release: existing.value,
      releasePath,
      bundlePath: join(opts.repoDir, existing.value.bundle.url),
      alreadyBuilt: true,
    };
  }

  await mkdir(join(opts.repoDir, releaseDir(opts.name, opts.version)), { recursive: true });
  const bundle = await writeBundle({
    destPath: bundleAbs,
    manifest: signEnvelope(payload, [key]),
    files,
    gzipLevel: opts.gzipLevel,
    onBytes,
  });
  const { _type, ...fields } = payload;
  const release: ReleaseManifest = {
    ...fields,
    _type: RELEASE_TYPE,
    createdAt: (opts.now ?? new Date()).toISOString(),
    bundle: { url: bundleRel, size: bundle.size, sha256: bundle.sha256 },
  };
  await writeFileAtomic(releasePath, canonicalJson(signEnvelope(release, [key])));
  return { release, releasePath, bundlePath: bundleAbs, alreadyBuilt: false };
}

async function checkBundlePresent(repoDir: string, release: ReleaseManifest): Promise<void> {
  const path = join(repoDir, release.bundle.url);
  const size = await stat(path).then(
    (st) => st.size,
    () => undefined,
  );
  if (size !== release.bundle.size) {
    const found = size === undefined ? "it is missing" : `it has ${size} bytes`;
    throw new EdgeError(
      "BUNDLE_CORRUPT",
      `${path}: release.json names a ${release.bundle.size}-byte bundle but ${found}; remove ${join(repoDir, releaseDir(release.name, release.version))} and build again`,
    );
  }
}
