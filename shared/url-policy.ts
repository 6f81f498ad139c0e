import { EdgeError } from "./errors.js";
import type { ArtifactRef, ReleaseManifest } from "./manifest.js";
import { resolveArtifactUrl } from "./repo-layout.js";

/**
 * Which URLs a release that arrived over the network (HTTP poll, pinned
 * version, MQTT push) may send the device to. A signed manifest is trusted for
 * what it names, not for where it says to read it from: a compromised build
 * pipeline or a publisher's slip must not turn `file:///dev/...` or another
 * host into something the agent reads. Local files are a sideload
 * (`edge-agent install`, the inbox), never something a repository names.
 */
export interface DownloadPolicy {
  /** The repository base URL; relative URLs resolve against it and its origin is always allowed. */
  repository: string;
  /** Further origins (`scheme://host[:port]`, as `URL.origin` spells them), e.g. a CDN. */
  allowedOrigins: readonly string[];
}

const NETWORK_SCHEMES = new Set(["http:", "https:"]);

/**
 * Why `value` is not an origin a config may allow, or undefined when it is one.
 * An origin is exactly `http(s)://host[:port]`: no path, query, fragment or login.
 */
export function originProblem(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length === 0) return "must be a non-empty string";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not a URL`;
  }
  if (!NETWORK_SCHEMES.has(url.protocol)) return `${JSON.stringify(value)} must be an http:// or https:// origin`;
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash || /[?#]$/.test(value)) {
    return `${JSON.stringify(value)} must be an origin only (scheme://host[:port], no path, query or login)`;
  }
  return undefined;
}

/** `URL.origin` of a config origin: lower-case host, default port left out. */
export function normalizeOrigin(value: string): string {
  return new URL(value).origin;
}

/**
 * The absolute URL to download `url` (as a manifest names it) from, or
 * URL_FORBIDDEN naming the problem: only http/https, and only on the
 * repository's origin or one the config allows.
 */
export function checkDownloadUrl(url: string, policy: DownloadPolicy, what: string): string {
  let resolved: URL;
  let repositoryOrigin: string;
  try {
    repositoryOrigin = new URL(policy.repository).origin;
    resolved = new URL(resolveArtifactUrl(policy.repository, url));
  } catch (cause) {
    throw new EdgeError("URL_FORBIDDEN", `${what} URL ${JSON.stringify(url)} is not a valid URL`, { cause });
  }
  if (!NETWORK_SCHEMES.has(resolved.protocol)) {
    throw new EdgeError(
      "URL_FORBIDDEN",
      `${what} URL ${JSON.stringify(url)} uses ${resolved.protocol}; a release from the repository may only name http:// or https:// URLs (local files are installed with edge-agent install or the inbox)`,
    );
  }
  if (resolved.origin !== repositoryOrigin && !policy.allowedOrigins.includes(resolved.origin)) {
    throw new EdgeError(
      "URL_FORBIDDEN",
      `${what} URL ${JSON.stringify(url)} is on ${resolved.origin}, not the repository's origin ${repositoryOrigin}; add it to download.allowedOrigins if it is your CDN`,
    );
  }
  return resolved.toString();
}

/** Every artifact a release names (its bundle, each delta), with how a message should call it. */
function artifactsOf(release: ReleaseManifest): { what: string; ref: ArtifactRef }[] {
  const label = `${release.name} ${release.version}`;
  return [
    { what: `${label} bundle`, ref: release.bundle },
    ...(release.deltas ?? []).map((d) => ({ what: `${label} delta from ${d.from}`, ref: d })),
  ];
}

/** Refuses (URL_FORBIDDEN) a network release naming any bundle or delta URL the policy does not allow. */
export function checkReleaseUrls(release: ReleaseManifest, policy: DownloadPolicy): void {
  for (const { what, ref } of artifactsOf(release)) checkDownloadUrl(ref.url, policy, what);
}
