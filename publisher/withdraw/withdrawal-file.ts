import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../shared/canonical-json.js";
import { EdgeError, isEdgeError } from "../../shared/errors.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import { parseEnvelopeText, SPEC_VERSION } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { withdrawalListPath } from "../../shared/repo-layout.js";
import { type PrivateKeyInfo, signEnvelope } from "../../shared/signature.js";
import { WITHDRAWALS_MAX_BYTES, withdrawalsTopic } from "../../shared/topics.js";
import {
  parseWithdrawalList,
  WITHDRAWALS_TYPE,
  type WithdrawalEntry,
  type WithdrawalList,
  withdrawalOf,
  withdrawnError,
} from "../../shared/withdrawals.js";
import { publishRetained, pushWrittenFile } from "../mqtt-publish.js";
import { DAY_MS } from "../rollout/pointer-writer.js";

/** The repository's withdrawal list of `name`, as written (the publisher does not check its own signature). */
export async function readWithdrawals(
  repoDir: string,
  name: string,
): Promise<{ list: WithdrawalList; bytes: Buffer; path: string } | undefined> {
  const path = join(repoDir, withdrawalListPath(name));
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EdgeError("INTERNAL", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let list: WithdrawalList;
  try {
    list = parseWithdrawalList(parseEnvelopeText(bytes.toString("utf8"), path).signed);
  } catch (err) {
    if (isEdgeError(err) && !err.message.includes(path)) throw new EdgeError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
  if (list.name !== name) throw new EdgeError("NAME_MISMATCH", `${path} withdraws releases of ${list.name}, expected ${name}`);
  return { list, bytes, path };
}

/** The versions of `name` the repository withdrew. */
export async function withdrawnVersions(repoDir: string, name: string): Promise<Set<string>> {
  const found = await readWithdrawals(repoDir, name);
  return new Set(found?.list.entries.map((e) => e.version) ?? []);
}

/**
 * The guard of every command that points devices at a version (publish,
 * promote, rollout): a withdrawn one is refused unless forced. Forced or not,
 * devices never install it.
 */
export async function refuseWithdrawn(repoDir: string, name: string, version: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  const entry = withdrawalOf((await readWithdrawals(repoDir, name))?.list, version);
  if (entry) {
    throw withdrawnError(entry, "pass --force to point a channel at it anyway (devices still refuse to install it)");
  }
}

/**
 * The next version of a withdrawal list: `entries` (the same ones for a
 * refresh), the sequence after `previousSequence` (0 for the first list), a
 * new expiry `days` ahead.
 */
export function nextWithdrawalList(
  name: string,
  previousSequence: number,
  entries: WithdrawalEntry[],
  now: Date,
  days: number,
): WithdrawalList {
  return {
    _type: WITHDRAWALS_TYPE,
    specVersion: SPEC_VERSION,
    name,
    sequence: previousSequence + 1,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + days * DAY_MS).toISOString(),
    entries,
  };
}

/** Signs a list, refused if larger than devices accept; nothing is written. */
export function signWithdrawalList(list: WithdrawalList, key: PrivateKeyInfo): Buffer {
  const bytes = Buffer.from(canonicalJson(signEnvelope(list, [key])), "utf8");
  if (bytes.length > WITHDRAWALS_MAX_BYTES) {
    throw new EdgeError(
      "METADATA_MALFORMED",
      `the withdrawal list would be ${bytes.length} bytes, more than the ${WITHDRAWALS_MAX_BYTES} devices accept`,
    );
  }
  return bytes;
}

/** Writes signed list bytes to `withdrawals/<name>.json` atomically; returns the path. */
export async function writeWithdrawalBytes(repoDir: string, name: string, bytes: Buffer): Promise<string> {
  const path = join(repoDir, withdrawalListPath(name));
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes);
  return path;
}

/** Publishes the list file's exact bytes retained on its topic; a broker failure says the file was written. */
export async function pushWithdrawalList(
  path: string,
  name: string,
  bytes: Buffer,
  settings: MqttSettings,
): Promise<{ topic: string }> {
  const topic = withdrawalsTopic(name);
  await pushWrittenFile(path, () =>
    publishRetained({ settings, topic, payload: bytes, what: `withdrawal list of ${name}`, maxBytes: WITHDRAWALS_MAX_BYTES }),
  );
  return { topic };
}
