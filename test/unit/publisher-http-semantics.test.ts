import { describe, expect, it } from "vitest";
import {
  cacheControlFor,
  contentTypeFor,
  ifNoneMatchHits,
  ifRangeAllows,
  makeEtag,
  parseRange,
  requestedPath,
} from "../../publisher/http-semantics.js";

describe("parseRange against a 1000-byte file", () => {
  it.each([
    [undefined, { kind: "none" }],
    ["bytes=0-99", { kind: "range", start: 0, end: 99 }],
    ["bytes=500-", { kind: "range", start: 500, end: 999 }],
    ["bytes=-100", { kind: "range", start: 900, end: 999 }],
    ["bytes=-5000", { kind: "range", start: 0, end: 999 }],
    ["bytes=990-5000", { kind: "range", start: 990, end: 999 }],
    ["bytes=999-999", { kind: "range", start: 999, end: 999 }],
    ["Bytes = 1 - 2", { kind: "range", start: 1, end: 2 }],
    ["bytes=1000-", { kind: "unsatisfiable" }],
    ["bytes=1000-2000", { kind: "unsatisfiable" }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=5-1", { kind: "none" }],
    ["bytes=-", { kind: "none" }],
    ["bytes=0-1,5-6", { kind: "none" }],
    ["items=0-1", { kind: "none" }],
    ["bytes=a-b", { kind: "none" }],
    ["bytes=99999999999999999999-", { kind: "none" }],
  ])("%s -> %j", (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });

  it("finds no satisfiable range in an empty file", () => {
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-1", 0)).toEqual({ kind: "unsatisfiable" });
  });
});

describe("validators", () => {
  const etag = makeEtag(10n, 1234567890n);

  it("makes a strong etag that changes with size and mtime", () => {
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(makeEtag(11n, 1234567890n)).not.toBe(etag);
    expect(makeEtag(10n, 1234567891n)).not.toBe(etag);
  });

  it.each([
    [undefined, false],
    [etag, true],
    [`W/${etag}`, true],
    [`"other", ${etag}`, true],
    ["*", true],
    ['"other"', false],
  ])("If-None-Match %s -> %s", (header, hit) => {
    expect(ifNoneMatchHits(header, etag)).toBe(hit);
  });

  const lastModified = new Date(Date.UTC(2024, 0, 2, 3, 4, 5)).toUTCString();
  it.each([
    [undefined, true],
    [etag, true],
    [`W/${etag}`, false],
    ['"stale"', false],
    [lastModified, true],
    [new Date(Date.UTC(2024, 0, 2, 3, 4, 6)).toUTCString(), false],
    ["not a date", false],
  ])("If-Range %s -> %s", (header, allowed) => {
    expect(ifRangeAllows(header, etag, lastModified)).toBe(allowed);
  });
});

describe("requestedPath", () => {
  it.each([
    ["/channels/m/stable.json", "channels/m/stable.json"],
    ["/releases/m/1.0.0/m-1.0.0.tar.gz?x=1", "releases/m/1.0.0/m-1.0.0.tar.gz"],
    ["/a%20b.txt", "a b.txt"],
    ["/", undefined],
    ["", undefined],
    [undefined, undefined],
    ["http://evil/x", undefined],
    ["/../secret", undefined],
    ["/a/../../secret", undefined],
    ["/%2e%2e/secret", undefined],
    ["/%2E%2E%2Fsecret", undefined],
    ["/a/%2e/b", undefined],
    ["/a//b", undefined],
    ["/a%5c..%5cb", undefined],
    ["/a%00b", undefined],
    ["/%zz", undefined],
    ["/releases/.demo-1.0.0.tar.gz.abc.tmp", undefined],
  ])("%s -> %s", (raw, expected) => {
    expect(requestedPath(raw)).toBe(expected);
  });
});

describe("content headers", () => {
  it("types files by extension and keeps channel pointers uncached", () => {
    expect(contentTypeFor("releases/m/1/m-1.tar.gz")).toBe("application/gzip");
    expect(contentTypeFor("channels/m/stable.json")).toBe("application/json");
    expect(contentTypeFor("keys/publisher.pub")).toBe("text/plain; charset=utf-8");
    expect(contentTypeFor("SHA256SUMS")).toBe("application/octet-stream");
    expect(cacheControlFor("channels/m/stable.json")).toBe("no-cache");
    expect(cacheControlFor("releases/m/1/release.json")).toBeUndefined();
  });
});
