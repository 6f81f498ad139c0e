import { unsafePathReason } from "../shared/safe-path.js";

/** The pure parts of serving static files over HTTP (RFC 9110), kept apart for table-driven tests. */

export type RangeRequest = { kind: "none" } | { kind: "range"; start: number; end: number } | { kind: "unsatisfiable" };

function parseIntStrict(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * One byte range against a file of `size` bytes. Anything we do not serve as a
 * range (absent, malformed, other units, several ranges) is "none": the whole file
 * with 200, which RFC 9110 allows a server to answer to any Range request.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: "none" };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: "none" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "none" };
  if (first === "") {
    const suffix = parseIntStrict(last);
    if (suffix === undefined) return { kind: "none" };
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = parseIntStrict(first);
  if (start === undefined) return { kind: "none" };
  const end = last === "" ? size - 1 : parseIntStrict(last);
  if (end === undefined) return { kind: "none" };
  if (last !== "" && end < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end: Math.min(end, size - 1) };
}

/** A strong validator: any change of size or modification time (nanoseconds) changes it. */
export function makeEtag(size: bigint | number, mtimeNs: bigint): string {
  return `"${BigInt(size).toString(16)}-${mtimeNs.toString(16)}"`;
}

function opaque(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}

/** If-None-Match uses the weak comparison: W/"x" matches "x". */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => opaque(t.trim()) === etag);
}

/**
 * If-Range: apply the Range only while the client's copy is still this file.
 * An entity tag must match strongly; a date must equal Last-Modified.
 */
export function ifRangeAllows(header: string | undefined, etag: string, lastModified: string): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith("W/")) return value === etag;
  const when = Date.parse(value);
  return !Number.isNaN(when) && when === Date.parse(lastModified);
}

/**
 * The repository-relative path a request names, or undefined when it is not a
 * plain file path inside the repository: `..` and `.` segments (raw or
 * percent-encoded), empty segments, bad encodings, control characters, and names
 * starting with "." (our temporary files while a write is in flight) are refused.
 */
export function requestedPath(rawUrl: string | undefined): string | undefined {
  if (!rawUrl?.startsWith("/")) return undefined;
  const end = rawUrl.search(/[?#]/);
  const rawPath = (end === -1 ? rawUrl : rawUrl.slice(0, end)).slice(1);
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (unsafePathReason(path)) return undefined;
  if (path.split("/").some((part) => part.startsWith("."))) return undefined;
  return path;
}

const TYPES: [string, string][] = [
  [".tar.gz", "application/gzip"],
  [".tgz", "application/gzip"],
  [".gz", "application/gzip"],
  [".json", "application/json"],
  [".pub", "text/plain; charset=utf-8"],
  [".txt", "text/plain; charset=utf-8"],
];

export function contentTypeFor(path: string): string {
  const lower = path.toLowerCase();
  return TYPES.find(([ext]) => lower.endsWith(ext))?.[1] ?? "application/octet-stream";
}

/** Channel pointers change in place and must be revalidated; everything else is immutable once written. */
export function cacheControlFor(path: string): string | undefined {
  return path.startsWith("channels/") ? "no-cache" : undefined;
}
