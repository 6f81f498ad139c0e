import { describe, expect, it } from "vitest";
import { EdgeError } from "../../shared/errors.js";
import { RELEASE_TYPE, type ReleaseManifest } from "../../shared/manifest.js";
import { checkDownloadUrl, checkReleaseUrls, type DownloadPolicy, originProblem } from "../../shared/url-policy.js";

const repoOnly: DownloadPolicy = { repository: "http://repo.example:8080/updates", allowedOrigins: [] };
const withCdn: DownloadPolicy = { ...repoOnly, allowedOrigins: ["https://cdn.example.com"] };

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "accepted";
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeError);
    return (err as EdgeError).code;
  }
}

describe("download URL policy", () => {
  it.each([
    [
      "a relative path, resolved against the repository base",
      "releases/m/1.0.0/m-1.0.0.tar.gz",
      repoOnly,
      "http://repo.example:8080/updates/releases/m/1.0.0/m-1.0.0.tar.gz",
    ],
    [
      "an absolute URL on the repository's origin",
      "http://repo.example:8080/other/b.tar.gz",
      repoOnly,
      "http://repo.example:8080/other/b.tar.gz",
    ],
    ["a root-relative path (same origin)", "/mirror/b.tar.gz", repoOnly, "http://repo.example:8080/mirror/b.tar.gz"],
    ["an allowed CDN origin", "https://cdn.example.com/m/b.tar.gz", withCdn, "https://cdn.example.com/m/b.tar.gz"],
    [
      "an allowed origin with the default port spelled out",
      "https://cdn.example.com:443/b",
      withCdn,
      "https://cdn.example.com/b",
    ],
  ])("accepts %s", (_what, url, policy, resolved) => {
    expect(checkDownloadUrl(url, policy, "bundle")).toBe(resolved);
  });

  it.each([
    ["file:///", "file:///var/lib/edgepull/versions/1.0.0/model.bin", withCdn],
    ["file:/ (one slash)", "file:/tmp/bundle.tar.gz", withCdn],
    ["file: without slashes", "file:tmp/bundle.tar.gz", withCdn],
    ["FILE: in capitals", "FILE:///etc/passwd", withCdn],
    ["data:", "data:application/gzip;base64,H4sI", withCdn],
    ["ftp:", "ftp://repo.example/b.tar.gz", withCdn],
    ["javascript:", "javascript:alert(1)", withCdn],
    ["another origin", "https://evil.example/b.tar.gz", withCdn],
    ["another origin, protocol-relative", "//evil.example/b.tar.gz", repoOnly],
    ["the CDN when the config does not allow it", "https://cdn.example.com/b.tar.gz", repoOnly],
    ["the repository host on another port", "http://repo.example:9090/b.tar.gz", repoOnly],
    ["the repository host over another scheme", "https://repo.example:8080/b.tar.gz", repoOnly],
    ["the allowed CDN over plain http", "http://cdn.example.com/b.tar.gz", withCdn],
    ["not a URL at all", "http://[::1", repoOnly],
  ])("refuses %s with URL_FORBIDDEN", (_what, url, policy) => {
    expect(codeOf(() => checkDownloadUrl(url, policy, "bundle"))).toBe("URL_FORBIDDEN");
  });

  it("names the artifact, the URL and the way out in its message", () => {
    expect(() => checkDownloadUrl("file:/tmp/x", repoOnly, "m 2.0.0 bundle")).toThrow(
      /m 2\.0\.0 bundle URL "file:\/tmp\/x" uses file:.*edge-agent install/,
    );
    expect(() => checkDownloadUrl("https://evil.example/x", repoOnly, "m 2.0.0 delta from 1.0.0")).toThrow(
      /delta from 1\.0\.0 URL .* is on https:\/\/evil\.example, not the repository's origin http:\/\/repo\.example:8080; add it to download\.allowedOrigins/,
    );
  });

  it("checks a release's bundle and every delta", () => {
    const release: ReleaseManifest = {
      _type: RELEASE_TYPE,
      specVersion: 1,
      name: "m",
      version: "2.0.0",
      createdAt: "2025-01-01T00:00:00Z",
      files: [{ path: "model.bin", size: 1, sha256: "0".repeat(64), mode: 0o644 }],
      bundle: { url: "releases/m/2.0.0/m-2.0.0.tar.gz", size: 10, sha256: "1".repeat(64) },
      deltas: [
        { from: "1.0.0", url: "releases/m/2.0.0/deltas/1.0.0.epdelta", size: 5, sha256: "2".repeat(64) },
        { from: "1.1.0", url: "file:/tmp/1.1.0.epdelta", size: 5, sha256: "3".repeat(64) },
      ],
    };
    expect(() => checkReleaseUrls(release, repoOnly)).toThrow(/m 2\.0\.0 delta from 1\.1\.0 URL/);
    const [first] = release.deltas ?? [];
    expect(codeOf(() => checkReleaseUrls({ ...release, deltas: first ? [first] : [] }, repoOnly))).toBe("accepted");
    expect(
      codeOf(() => checkReleaseUrls({ ...release, bundle: { ...release.bundle, url: "https://cdn.example.com/b" } }, repoOnly)),
    ).toBe("URL_FORBIDDEN");
  });

  it.each([
    ["https://cdn.example.com", undefined],
    ["http://10.0.0.5:8080", undefined],
    ["https://cdn.example.com/", undefined],
    ["https://cdn.example.com/path", "origin only"],
    ["https://cdn.example.com?x=1", "origin only"],
    ["https://cdn.example.com#top", "origin only"],
    ["https://user:pw@cdn.example.com", "origin only"],
    ["file:///", "http:// or https://"],
    ["cdn.example.com", "not a URL"],
    ["", "non-empty"],
  ])("originProblem(%j)", (value, problem) => {
    const found = originProblem(value);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
