import { access, stat } from "node:fs/promises";
import { EdgeError } from "../../shared/errors.js";
import type { ArtifactRef, DeltaRef, ReleaseManifest } from "../../shared/manifest.js";
import { checkDownloadUrl } from "../../shared/url-policy.js";
import { removePartIfDiskFull } from "../bundle/disk-full.js";
import { downloadArtifact } from "../bundle/download.js";
import { copyLocalBundle } from "../bundle/local-copy.js";
import { downloadPolicy } from "../config.js";
import { checkFolderCap, sweepDownloads } from "../install/downloads-janitor.js";
import { deltaFilePath, deltaPartPath, downloadPartPath, versionDir } from "../install/layout.js";
import { componentLogger } from "../logging.js";
import type { WholeDelivery } from "./delivery.js";
import { mib, payloadBytes, type StepContext } from "./steps/step.js";

/**
 * Bringing an attempt's artifact into downloads/: the bundle (over HTTP, or a
 * sideload's own file) or the delta. Used by the download step, and by staging
 * when what it needs is not there (a delta given up at staging needs the bundle).
 */

/** The bundle, from the repository or (a sideload) from its own file; the journal records the delivery first. */
export async function fetchBundle(ctx: StepContext, release: ReleaseManifest, delivery: WholeDelivery): Promise<void> {
  const { layout, ports, logger } = ctx.deps;
  ports.store.setDelivery(ctx.attempt.id, "bundle", null);
  const partPath = downloadPartPath(layout, release.name, release.version);
  await makeRoom(ctx, release, release.bundle.size, partPath, null);
  if (delivery.kind === "sideload") {
    await removePartIfDiskFull(partPath, logger, () =>
      copyLocalBundle({
        url: delivery.bundle.url,
        partPath,
        expectedSize: delivery.bundle.size,
        expectedSha256: delivery.bundle.sha256,
        signal: ctx.signal,
        onProgress: ctx.deps.onDownloadProgress,
      }),
    );
    return;
  }
  await fetchArtifact(ctx, "bundle", release.bundle, partPath);
}

/** Downloads the delta (resumable, like the bundle), checked against the signed size and SHA-256. */
export async function fetchDelta(ctx: StepContext, release: ReleaseManifest, offer: DeltaRef): Promise<void> {
  const { layout, ports, logger } = ctx.deps;
  ports.store.setDelivery(ctx.attempt.id, "delta", offer.from);
  if (await exists(deltaFilePath(layout, release.name, offer.from, release.version))) return;
  const partPath = deltaPartPath(layout, release.name, offer.from, release.version);
  await makeRoom(ctx, release, offer.size, partPath, offer.from);
  logger.info(
    { attempt: ctx.attempt.id, from: offer.from, to: release.version, deltaBytes: offer.size, bundleBytes: release.bundle.size },
    "downloading a delta instead of the bundle",
  );
  await fetchArtifact(ctx, `delta from ${offer.from}`, offer, partPath);
}

/**
 * Resumable HTTP download checked against the signed size and SHA-256; the bytes count in the journal.
 * The URL policy was applied at intake; it is applied again here because a journaled attempt may predate it.
 */
async function fetchArtifact(ctx: StepContext, what: string, artifact: ArtifactRef, partPath: string): Promise<void> {
  const { config, ports, logger } = ctx.deps;
  const result = await removePartIfDiskFull(partPath, logger, () =>
    downloadArtifact({
      url: checkDownloadUrl(artifact.url, downloadPolicy(config), `${ctx.attempt.toVersion} ${what}`),
      partPath,
      expectedSize: artifact.size,
      expectedSha256: artifact.sha256,
      logger: componentLogger(logger, "download"),
      signal: ctx.signal,
      retry: { attempts: config.download.retries, baseMs: 500, capMs: 30_000 },
      idleTimeoutMs: config.download.idleTimeoutSeconds * 1000,
      onProgress: (received, total) => {
        if (received * 2 >= total) ports.fault("mid:downloading");
        ctx.deps.onDownloadProgress?.(received, total);
      },
    }),
  );
  ctx.tally.bytesDownloaded += result.bytesTransferred;
  ports.store.setBytesDownloaded(ctx.attempt.id, ctx.tally.bytesDownloaded);
}

/**
 * Before any byte of a download: downloads/ keeps only this release's bundle
 * (and its delta from `deltaFrom`), the artifact fits under download.maxFolderMiB,
 * and the disk has room.
 */
async function makeRoom(
  ctx: StepContext,
  release: ReleaseManifest,
  artifactSize: number,
  partPath: string,
  deltaFrom: string | null,
): Promise<void> {
  const { layout, config, logger } = ctx.deps;
  const sweep = sweepDownloads(layout, { name: release.name, version: release.version, deltaFrom }, logger);
  const have = await stat(partPath).then(
    (s) => s.size,
    () => 0,
  );
  const what = `${release.version}'s ${deltaFrom ? `delta from ${deltaFrom}` : "bundle"}`;
  checkFolderCap({ sweep, partBytes: have, artifactSize, capMiB: config.download.maxFolderMiB, what });
  await checkDiskSpace(ctx, release, artifactSize, have);
}

/** Room for the artifact still to come (`have` bytes of it are here), the unpacked files and the reserve. */
async function checkDiskSpace(ctx: StepContext, release: ReleaseManifest, artifactSize: number, have: number): Promise<void> {
  const { config, layout, ports } = ctx.deps;
  const reserve = config.diskReserveMiB * 1024 * 1024;
  const needed = artifactSize - have + payloadBytes(release) + reserve;
  const disk = await ports.disk.spaceFor(layout.dataDir);
  if (disk.availableBytes < needed) {
    throw new EdgeError(
      "DISK_SPACE_LOW",
      `${release.version} needs ${mib(needed)} MiB free on ${disk.mount} (download, unpacked files and ${config.diskReserveMiB} MiB reserve); ${mib(disk.availableBytes)} MiB available`,
    );
  }
}

/** The version is recorded in the journal and its folder is in versions/. */
export async function isStaged(deps: StepContext["deps"], version: string): Promise<boolean> {
  if (!deps.ports.store.getVersion(version)) return false;
  return exists(versionDir(deps.layout, version));
}

export function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
