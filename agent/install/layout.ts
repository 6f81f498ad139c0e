import { join } from "node:path";

/**
 * Paths on the device, all under the data folder:
 *
 *   versions/<version>/        a complete, verified version (read-only once staged)
 *   staging/<version>.<id>/    a version being extracted; discarded if interrupted
 *   downloads/<file>.part      a download in progress (bundle or delta), resumed after a restart
 *   current -> versions/<v>    the active version (relative link)
 *   state.db                   the journal (SQLite)
 *   agent.lock, agent.sock     who is changing the device, and how to ask it
 *   instances/                 hand-over mode: each running version's port and pid, and which one serves
 */
export interface Layout {
  dataDir: string;
  versionsDir: string;
  stagingDir: string;
  downloadsDir: string;
  currentLink: string;
  dbPath: string;
  servicePidFile: string;
  /** Hand-over mode: one record per version's process, and which one serves (service/instance-records.ts). */
  instancesDir: string;
  controlSocket: string;
  lockFile: string;
}

export function layoutFor(dataDir: string): Layout {
  return {
    dataDir,
    versionsDir: join(dataDir, "versions"),
    stagingDir: join(dataDir, "staging"),
    downloadsDir: join(dataDir, "downloads"),
    currentLink: join(dataDir, "current"),
    dbPath: join(dataDir, "state.db"),
    servicePidFile: join(dataDir, "service.pid"),
    instancesDir: join(dataDir, "instances"),
    controlSocket: join(dataDir, "agent.sock"),
    lockFile: join(dataDir, "agent.lock"),
  };
}

export function versionDir(layout: Layout, version: string): string {
  return join(layout.versionsDir, version);
}

/** The link target is relative so the data folder can be moved or mounted elsewhere. */
export function currentLinkTarget(version: string): string {
  return join("versions", version);
}

export function downloadPartPath(layout: Layout, name: string, version: string): string {
  return join(layout.downloadsDir, `${name}-${version}.tar.gz.part`);
}

/** The version a `current` link target names, or undefined if it is not ours. */
export function versionFromLinkTarget(target: string): string | undefined {
  const match = /^versions\/([^/]+)\/?$/.exec(target);
  return match?.[1];
}

/** A delta from `fromVersion`, downloaded and resumed like a bundle. */
export function deltaPartPath(layout: Layout, name: string, fromVersion: string, version: string): string {
  return join(layout.downloadsDir, `${name}-${version}.from-${fromVersion}.epdelta.part`);
}

/** The finished download a `.part` file becomes once it verifies. */
export function finishedDownloadPath(partPath: string): string {
  return partPath.replace(/\.part$/, "");
}

/** A release's bundle once downloaded and verified, waiting to be extracted. */
export function bundleFilePath(layout: Layout, name: string, version: string): string {
  return finishedDownloadPath(downloadPartPath(layout, name, version));
}

/** A delta from `fromVersion` once downloaded and verified, waiting to be applied. */
export function deltaFilePath(layout: Layout, name: string, fromVersion: string, version: string): string {
  return finishedDownloadPath(deltaPartPath(layout, name, fromVersion, version));
}

/** Where attempt `attemptId` builds `version` before it is renamed into versions/. */
export function stagingDirFor(layout: Layout, version: string, attemptId: number): string {
  return join(layout.stagingDir, `${version}.${attemptId}`);
}

/**
 * Whether a file in downloads/ has a name the agent gives (a bundle or a delta,
 * partial or finished): `<name>-<version>.tar.gz[.part]` or
 * `<name>-<version>.from-<version>.epdelta[.part]`. Anything else there is not ours.
 */
export function isDownloadFileName(file: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*-\d[0-9A-Za-z.+-]*(\.tar\.gz|\.from-\d[0-9A-Za-z.+-]*\.epdelta)(\.part)?$/.test(file);
}
