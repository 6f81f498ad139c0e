import { EdgeError } from "./errors.js";
import { strictJsonProblem } from "./json-strict.js";
import { unsafePathReason } from "./safe-path.js";
import { isExactSemanticVersion } from "./semantic-version.js";
import type { SignedEnvelope } from "./signature.js";

/**
 * The signed metadata both sides agree on.
 *
 * - PayloadManifest: inside every bundle as `manifest.json`; names every payload
 *   file with size and SHA-256. Signed, so a bundle sideloaded from a USB stick
 *   verifies on its own.
 * - ReleaseManifest: in the repository beside the bundle; the payload fields plus
 *   the bundle's URL, size and SHA-256 (and later the deltas).
 * - ChannelPointer: the small, frequently polled document naming a channel's
 *   current release by version and by the digest of its release manifest, with a
 *   monotonic sequence number and an expiry.
 */
export const PAYLOAD_TYPE = "edgepull/payload";
export const RELEASE_TYPE = "edgepull/release";
export const CHANNEL_TYPE = "edgepull/channel";
export const SPEC_VERSION = 1;

export interface PayloadFile {
  path: string;
  size: number;
  sha256: string;
  /** 0o644 or 0o755: only the executable bit is carried. */
  mode: number;
}

export interface Compatibility {
  arch?: string[];
  labels?: string[];
}

export interface PayloadManifest {
  _type: typeof PAYLOAD_TYPE;
  specVersion: number;
  name: string;
  version: string;
  files: PayloadFile[];
  compatibility?: Compatibility;
}

export interface ArtifactRef {
  /** Relative to the repository root, or an absolute URL (the agent follows only what shared/url-policy.ts allows). */
  url: string;
  size: number;
  sha256: string;
}

/**
 * A delta file that rebuilds this release's payload from the payload of release
 * `from` (format: delta-format.ts). A device whose active version is `from`
 * may download it instead of the bundle.
 */
export interface DeltaRef extends ArtifactRef {
  from: string;
}

/** No creation time in the payload: the bundle's bytes depend only on its content. */
export interface ReleaseManifest extends Omit<PayloadManifest, "_type"> {
  _type: typeof RELEASE_TYPE;
  createdAt: string;
  bundle: ArtifactRef;
  /** Sorted by `from`, at most one per base version. */
  deltas?: DeltaRef[];
}

export interface ChannelPointer {
  _type: typeof CHANNEL_TYPE;
  specVersion: number;
  name: string;
  channel: string;
  version: string;
  sequence: number;
  createdAt: string;
  expiresAt: string;
  release: ArtifactRef;
  /** Staged rollout: absent means every device. */
  rollout?: RolloutPolicy;
}

export interface RolloutPolicy {
  /** Share of devices (0-100) that take this release, chosen by a stable hash of device id and release. */
  percent: number;
  /** When paused, no device takes the release that does not already run it. */
  paused: boolean;
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

export function nameProblem(name: unknown, what = "name"): string | undefined {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    return `${what} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`;
  }
  return undefined;
}

export function versionProblem(version: unknown): string | undefined {
  if (typeof version !== "string" || !isExactSemanticVersion(version)) {
    return `version ${JSON.stringify(version)} is not a semantic version (for example 1.4.0 or 2.0.0-rc.1)`;
  }
  if (version.length > 64) return "version is longer than 64 characters";
  return undefined;
}

/** Collects every problem in one pass so a caller sees all of them at once. */
export class Problems {
  readonly list: string[] = [];
  constructor(private readonly what: string) {}
  add(problem: string | undefined): void {
    if (problem) this.list.push(problem);
  }
  throwIfAny(): void {
    if (this.list.length > 0) {
      throw new EdgeError("METADATA_MALFORMED", `${this.what}: ${this.list.join("; ")}`);
    }
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function checkTime(p: Problems, obj: Record<string, unknown>, key: string): void {
  const value = obj[key];
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) p.add(`${key} must be an ISO 8601 time`);
}

function checkSize(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** `scheme:` at the start (RFC 3986): the value is a URL, whatever the scheme. */
const URL_SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:/;

function checkArtifact(p: Problems, value: unknown, what: string): void {
  if (!isRecord(value)) {
    p.add(`${what} must be an object with url, size and sha256`);
    return;
  }
  if (typeof value.url !== "string" || value.url.length === 0) p.add(`${what}.url must be a non-empty string`);
  else if (URL_SCHEME_RE.test(value.url)) {
    // A URL, not a path: which schemes and hosts may be followed is the agent's URL policy (shared/url-policy.ts).
    if (!URL.canParse(value.url)) p.add(`${what}.url is not a valid URL`);
  } else {
    const reason = unsafePathReason(value.url);
    if (reason) p.add(`${what}.url ${reason}`);
  }
  if (!checkSize(value.size)) p.add(`${what}.size must be a non-negative integer`);
  if (typeof value.sha256 !== "string" || !SHA256_RE.test(value.sha256)) p.add(`${what}.sha256 must be 64 lowercase hex digits`);
}

function checkCommon(p: Problems, m: Record<string, unknown>, type: string): void {
  if (m._type !== type) p.add(`_type must be "${type}" (found ${JSON.stringify(m._type)})`);
  if (m.specVersion !== SPEC_VERSION) p.add(`specVersion must be ${SPEC_VERSION}`);
  p.add(nameProblem(m.name));
  p.add(versionProblem(m.version));
}

function checkFiles(p: Problems, m: Record<string, unknown>): void {
  if (!Array.isArray(m.files) || m.files.length === 0) {
    p.add("files must be a non-empty list");
    return;
  }
  const seen = new Set<string>();
  let previous = "";
  for (const [i, f] of m.files.entries()) {
    if (!isRecord(f)) {
      p.add(`files[${i}] must be an object`);
      continue;
    }
    const path = f.path;
    if (typeof path !== "string") p.add(`files[${i}].path must be a string`);
    else {
      const reason = unsafePathReason(path);
      if (reason) p.add(`files[${i}].path ${JSON.stringify(path)} ${reason}`);
      // A file and a folder of the same name cannot both exist.
      if (seen.has(path)) p.add(`files[${i}].path ${JSON.stringify(path)} is listed twice`);
      for (const other of seen) {
        if (path.startsWith(`${other}/`) || other.startsWith(`${path}/`)) {
          p.add(`files[${i}].path ${JSON.stringify(path)} conflicts with ${JSON.stringify(other)}`);
        }
      }
      if (path <= previous) p.add(`files must be sorted by path (${JSON.stringify(path)} after ${JSON.stringify(previous)})`);
      previous = path;
      seen.add(path);
    }
    if (!checkSize(f.size)) p.add(`files[${i}].size must be a non-negative integer`);
    if (typeof f.sha256 !== "string" || !SHA256_RE.test(f.sha256)) p.add(`files[${i}].sha256 must be 64 lowercase hex digits`);
    if (f.mode !== 0o644 && f.mode !== 0o755) p.add(`files[${i}].mode must be 420 (0644) or 493 (0755)`);
  }
}

function checkCompatibility(p: Problems, value: unknown): void {
  if (value === undefined) return;
  if (!isRecord(value)) {
    p.add("compatibility must be an object");
    return;
  }
  for (const key of ["arch", "labels"] as const) {
    const list = value[key];
    if (list !== undefined && (!Array.isArray(list) || !list.every((x) => typeof x === "string"))) {
      p.add(`compatibility.${key} must be a list of strings`);
    }
  }
}

export function parsePayloadManifest(value: unknown): PayloadManifest {
  const p = new Problems("payload manifest");
  if (!isRecord(value)) throw new EdgeError("METADATA_MALFORMED", "payload manifest must be a JSON object");
  checkCommon(p, value, PAYLOAD_TYPE);
  checkFiles(p, value);
  checkCompatibility(p, value.compatibility);
  p.throwIfAny();
  return value as unknown as PayloadManifest;
}

function checkDeltas(p: Problems, value: unknown, version: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    p.add("deltas must be a list");
    return;
  }
  const seen = new Set<string>();
  for (const [i, d] of value.entries()) {
    checkArtifact(p, d, `deltas[${i}]`);
    if (!isRecord(d)) continue;
    const problem = versionProblem(d.from);
    if (problem) p.add(`deltas[${i}].from: ${problem}`);
    else if (d.from === version) p.add(`deltas[${i}].from must be another version than the release's own`);
    else if (seen.has(d.from as string)) p.add(`deltas[${i}].from ${d.from} is listed twice`);
    seen.add(d.from as string);
  }
}

export function parseReleaseManifest(value: unknown): ReleaseManifest {
  const p = new Problems("release manifest");
  if (!isRecord(value)) throw new EdgeError("METADATA_MALFORMED", "release manifest must be a JSON object");
  checkCommon(p, value, RELEASE_TYPE);
  checkTime(p, value, "createdAt");
  checkFiles(p, value);
  checkCompatibility(p, value.compatibility);
  checkArtifact(p, value.bundle, "bundle");
  checkDeltas(p, value.deltas, value.version);
  p.throwIfAny();
  return value as unknown as ReleaseManifest;
}

export function parseChannelPointer(value: unknown): ChannelPointer {
  const p = new Problems("channel pointer");
  if (!isRecord(value)) throw new EdgeError("METADATA_MALFORMED", "channel pointer must be a JSON object");
  if (value._type !== CHANNEL_TYPE) p.add(`_type must be "${CHANNEL_TYPE}" (found ${JSON.stringify(value._type)})`);
  if (value.specVersion !== SPEC_VERSION) p.add(`specVersion must be ${SPEC_VERSION}`);
  p.add(nameProblem(value.name));
  p.add(nameProblem(value.channel, "channel"));
  p.add(versionProblem(value.version));
  if (!Number.isSafeInteger(value.sequence) || (value.sequence as number) < 1) p.add("sequence must be a positive integer");
  checkTime(p, value, "createdAt");
  checkTime(p, value, "expiresAt");
  checkArtifact(p, value.release, "release");
  if (value.rollout !== undefined) {
    const r = value.rollout as Record<string, unknown> | null;
    if (!isRecord(r)) p.add("rollout must be an object with percent and paused");
    else {
      if (typeof r.percent !== "number" || !(r.percent >= 0 && r.percent <= 100))
        p.add("rollout.percent must be a number from 0 to 100");
      if (typeof r.paused !== "boolean") p.add("rollout.paused must be true or false");
    }
  }
  p.throwIfAny();
  return value as unknown as ChannelPointer;
}

/**
 * Parses text as a signed envelope without checking signatures (see signature.ts).
 * Repeated keys, out-of-range numbers and deep nesting are refused here, before
 * anything encodes the content again to check its signature (json-strict.ts).
 */
export function parseEnvelopeText(text: string, what: string): SignedEnvelope<unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new EdgeError("METADATA_MALFORMED", `${what} is not valid JSON`, { cause });
  }
  const problem = strictJsonProblem(text);
  if (problem) throw new EdgeError("METADATA_MALFORMED", `${what} is not accepted JSON: ${problem}`);
  if (!isRecord(value) || !("signed" in value)) {
    throw new EdgeError("METADATA_MALFORMED", `${what} is not a signed envelope (no "signed" member)`);
  }
  if (!Array.isArray(value.signatures)) {
    throw new EdgeError("SIGNATURE_MISSING", `${what} carries no signatures`);
  }
  return value as unknown as SignedEnvelope<unknown>;
}

/** The payload fields of a release, as they appear in the bundle's manifest.json. */
export function payloadOf(release: ReleaseManifest): PayloadManifest {
  const payload: PayloadManifest = {
    _type: PAYLOAD_TYPE,
    specVersion: release.specVersion,
    name: release.name,
    version: release.version,
    files: release.files,
  };
  if (release.compatibility) payload.compatibility = release.compatibility;
  return payload;
}

export function isExpired(expiresAt: string, now: Date): boolean {
  return Date.parse(expiresAt) <= now.getTime();
}
