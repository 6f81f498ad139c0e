/**
 * Where things live in a static update repository. Every path is relative to the
 * repository root, so any HTTP server, bucket or CDN can serve the same tree.
 *
 *   channels/<name>/<channel>.json              signed ChannelPointer
 *   releases/<name>/<version>/release.json      signed ReleaseManifest
 *   releases/<name>/<version>/<name>-<version>.tar.gz   the bundle
 *   releases/<name>/<version>/deltas/<from>.epdelta      delta from release <from> (delta-format.ts)
 *   withdrawals/<name>.json                     signed WithdrawalList (withdrawals.ts)
 */
export function channelPointerPath(name: string, channel: string): string {
  return `channels/${name}/${channel}.json`;
}

export function withdrawalListPath(name: string): string {
  return `withdrawals/${name}.json`;
}

export function releaseDir(name: string, version: string): string {
  return `releases/${name}/${version}`;
}

export function releaseManifestPath(name: string, version: string): string {
  return `${releaseDir(name, version)}/release.json`;
}

export function bundleFileName(name: string, version: string): string {
  return `${name}-${version}.tar.gz`;
}

export function bundlePath(name: string, version: string): string {
  return `${releaseDir(name, version)}/${bundleFileName(name, version)}`;
}

export function deltaPath(name: string, fromVersion: string, version: string): string {
  return `${releaseDir(name, version)}/deltas/${fromVersion}.epdelta`;
}

/** Resolves an artifact URL from a manifest against the repository base URL. */
export function resolveArtifactUrl(repositoryUrl: string, url: string): string {
  if (url.startsWith("http://") || url.startsWith("https://")) return url;
  const base = repositoryUrl.endsWith("/") ? repositoryUrl : `${repositoryUrl}/`;
  return new URL(url, base).toString();
}
