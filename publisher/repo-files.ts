import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError, isEdgeError } from "../shared/errors.js";
import {
  type ChannelPointer,
  parseChannelPointer,
  parseEnvelopeText,
  parseReleaseManifest,
  type ReleaseManifest,
} from "../shared/manifest.js";
import { channelPointerPath, releaseManifestPath } from "../shared/repo-layout.js";

/** A signed document read back from the repository, with the exact bytes it was read from. */
export interface RepoDocument<T> {
  value: T;
  bytes: Buffer;
  path: string;
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EdgeError("INTERNAL", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Parses and checks the schema (not the signature: the publisher wrote it), naming the file on error. */
function parseDocument<T>(bytes: Buffer, path: string, parse: (value: unknown) => T): T {
  try {
    return parse(parseEnvelopeText(bytes.toString("utf8"), path).signed);
  } catch (err) {
    if (isEdgeError(err) && !err.message.includes(path)) throw new EdgeError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

function checkNames(path: string, found: { name: string; version: string }, name: string, version?: string): void {
  if (found.name !== name || (version !== undefined && found.version !== version)) {
    const expected = version === undefined ? name : `${name} ${version}`;
    const actual = version === undefined ? found.name : `${found.name} ${found.version}`;
    throw new EdgeError("NAME_MISMATCH", `${path} describes ${actual}, expected ${expected}`);
  }
}

export async function readRelease(
  repoDir: string,
  name: string,
  version: string,
): Promise<RepoDocument<ReleaseManifest> | undefined> {
  const path = join(repoDir, releaseManifestPath(name, version));
  const bytes = await readIfPresent(path);
  if (!bytes) return undefined;
  const value = parseDocument(bytes, path, parseReleaseManifest);
  checkNames(path, value, name, version);
  return { value, bytes, path };
}

export async function readChannelPointer(
  repoDir: string,
  name: string,
  channel: string,
): Promise<RepoDocument<ChannelPointer> | undefined> {
  const path = join(repoDir, channelPointerPath(name, channel));
  const bytes = await readIfPresent(path);
  if (!bytes) return undefined;
  const value = parseDocument(bytes, path, parseChannelPointer);
  checkNames(path, value, name);
  if (value.channel !== channel)
    throw new EdgeError("NAME_MISMATCH", `${path} is for channel ${value.channel}, expected ${channel}`);
  return { value, bytes, path };
}
