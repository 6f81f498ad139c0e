import { join } from "node:path";
import { sha256Hex } from "../../shared/digest.js";
import { EdgeError } from "../../shared/errors.js";
import type { KeysDocument } from "../../shared/key-chain.js";
import { type ChannelPointer, parseEnvelopeText } from "../../shared/manifest.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import type { PrivateKeyInfo } from "../../shared/signature.js";
import { loadPrivateKey } from "../key-file.js";
import { checkMqttSettings } from "../mqtt-connect.js";
import { type RepoDocument, readChannelPointer, readRelease } from "../repo-files.js";
import { DEFAULT_WARN_DAYS, type Resigned } from "../rollout/pointer-expiry.js";
import { DAY_MS, DEFAULT_EXPIRES_DAYS, writeChannelPointer } from "../rollout/pointer-writer.js";
import { listWithdrawalLists, type WithdrawalListRow } from "../withdraw/withdrawal-expiry.js";
import { planWithdrawalRefresh, type RefreshedWithdrawals, refreshWithdrawalList } from "../withdraw/withdrawal-refresh.js";
import { listChannels } from "./channels.js";
import { readLatestKeys } from "./keys.js";

export interface RefreshOptions {
  repoDir: string;
  keyPath: string;
  /** Re-sign pointers and withdrawal lists that expire within this many days (or already have). Default 7. */
  beforeDays?: number;
  /** Lifetime of each re-signed pointer and list. Default 30 days, as publish and withdraw. */
  expiresInDays?: number;
  /** Only this model's channels and withdrawal list. */
  name?: string;
  /** Also push each re-signed pointer and list, retained, to this broker. */
  mqtt?: MqttSettings;
  /** Say what would be re-signed; write nothing. */
  dryRun?: boolean;
  now?: Date;
}

export interface RefreshedPointer extends Resigned {
  name: string;
  channel: string;
  version: string;
}

export interface RefreshResult {
  dryRun: boolean;
  beforeDays: number;
  /** Re-signed (with --dry-run: would be), in name and channel order. */
  refreshed: RefreshedPointer[];
  /** Pointers that do not expire within beforeDays: left as they are. */
  kept: { name: string; channel: string; version: string; sequence: number; expiresAt: string }[];
  /** Withdrawal lists: they expire too, and an expired one fails every device's channel check. */
  withdrawalLists: {
    /** Re-signed (with --dry-run: would be): same entries, next sequence, in name order. */
    refreshed: RefreshedWithdrawals[];
    /** Lists that do not expire within beforeDays. */
    kept: Pick<WithdrawalListRow, "name" | "sequence" | "entries" | "expiresAt">[];
  };
  /** Pointers and lists that could not be read, each with its one-line reason. */
  problems: { path: string; error: string }[];
}

/**
 * Re-signs every channel pointer that expires within `beforeDays`: the same
 * release (by the digest it already names), the same rollout, the next
 * sequence, a new expiry. Run daily by a timer, it keeps a fleet whose
 * publisher published nothing for a month from going dark. Each pointer goes
 * through the one pointer writer (history and --mqtt push included). Every
 * withdrawal list due as well is re-signed the same way (same entries, next
 * sequence), under the same key checks.
 */
export async function refreshPointers(opts: RefreshOptions): Promise<RefreshResult> {
  const beforeDays = opts.beforeDays ?? DEFAULT_WARN_DAYS;
  const expiresInDays = opts.expiresInDays ?? DEFAULT_EXPIRES_DAYS;
  if (!Number.isFinite(beforeDays) || beforeDays < 0)
    throw new EdgeError("USAGE", `--before-days must be 0 or more (found ${beforeDays})`);
  // A refreshed pointer must outlive the look-ahead, or the next run re-signs it again at once.
  if (!(expiresInDays > beforeDays)) {
    throw new EdgeError(
      "USAGE",
      `--expires-days (${expiresInDays}) must be more than --before-days (${beforeDays}): a re-signed pointer would be due again at once`,
    );
  }
  // A bad URL or unreadable TLS file must stop us before the repository changes.
  if (opts.mqtt) checkMqttSettings(opts.mqtt);
  const key = await loadPrivateKey(opts.keyPath);
  const keysDocument = await readLatestKeys(opts.repoDir);
  if (keysDocument) checkKeyIsCurrent(keysDocument, key);
  const now = opts.now ?? new Date();

  const listed = await listChannels({ repoDir: opts.repoDir, name: opts.name, now, warnDays: beforeDays });
  const lists = await listWithdrawalLists({ repoDir: opts.repoDir, name: opts.name, now, warnDays: beforeDays });
  const result: RefreshResult = {
    dryRun: opts.dryRun === true,
    beforeDays,
    refreshed: [],
    kept: [],
    withdrawalLists: { refreshed: [], kept: [] },
    problems: [...listed.problems, ...lists.problems],
  };
  const listsDue = lists.lists.filter((l) => l.expired || l.expiresSoon);
  for (const l of lists.lists.filter((row) => !listsDue.includes(row))) {
    result.withdrawalLists.kept.push({ name: l.name, sequence: l.sequence, entries: l.entries, expiresAt: l.expiresAt });
  }
  const due = listed.channels.filter((c) => c.expired || c.expiresSoon);
  for (const row of listed.channels.filter((c) => !due.includes(c))) {
    result.kept.push({
      name: row.name,
      channel: row.channel,
      version: row.version,
      sequence: row.sequence,
      expiresAt: row.expiresAt,
    });
  }
  // Everything is checked before the first pointer is written: a refusal leaves the repository as it was.
  const plans: RepoDocument<ChannelPointer>[] = [];
  for (const row of due) {
    const doc = await readChannelPointer(opts.repoDir, row.name, row.channel);
    if (!doc) continue; // removed since it was listed
    await checkSameRelease(opts.repoDir, doc);
    if (!keysDocument) checkSignedBy(doc, key);
    plans.push(doc);
  }
  const listPlans = await planWithdrawalRefresh(opts.repoDir, listsDue);
  if (!keysDocument) for (const plan of listPlans) checkSignedBy(plan, key);
  for (const doc of plans) {
    const p = doc.value;
    const entry = {
      name: p.name,
      channel: p.channel,
      version: p.version,
      fromSequence: p.sequence,
      previousExpiresAt: p.expiresAt,
    };
    if (opts.dryRun) {
      const expiresAt = new Date(now.getTime() + expiresInDays * DAY_MS).toISOString();
      result.refreshed.push({ ...entry, sequence: p.sequence + 1, expiresAt, path: doc.path });
      continue;
    }
    const written = await writeChannelPointer({
      repoDir: opts.repoDir,
      name: p.name,
      channel: p.channel,
      version: p.version,
      key,
      previous: p,
      rollout: p.rollout,
      expiresInDays,
      now,
      mqtt: opts.mqtt,
    });
    result.refreshed.push({
      ...entry,
      sequence: written.pointer.sequence,
      expiresAt: written.pointer.expiresAt,
      path: written.path,
      ...(written.mqtt ? { mqtt: written.mqtt } : {}),
    });
  }
  for (const plan of listPlans) {
    result.withdrawalLists.refreshed.push(
      await refreshWithdrawalList({
        repoDir: opts.repoDir,
        plan,
        key,
        expiresInDays,
        now,
        dryRun: opts.dryRun === true,
        mqtt: opts.mqtt,
      }),
    );
  }
  return result;
}

/**
 * The pointer names its release manifest by digest. If release.json changed
 * since (edited by hand, or a delta run that failed half-way), re-signing would
 * quietly hand devices a different document: that needs a deliberate publish.
 */
async function checkSameRelease(repoDir: string, doc: RepoDocument<ChannelPointer>): Promise<void> {
  const p = doc.value;
  const release = await readRelease(repoDir, p.name, p.version);
  const path = join(repoDir, releaseManifestPath(p.name, p.version));
  if (!release) {
    throw new EdgeError("RELEASE_NOT_FOUND", `${doc.path} names ${p.name} ${p.version}, but ${path} is missing`);
  }
  const digest = sha256Hex(release.bytes);
  if (digest !== p.release.sha256) {
    throw new EdgeError(
      "DIGEST_MISMATCH",
      `${doc.path} names ${path} with sha256 ${p.release.sha256}, but that file now hashes to ${digest}; point the channel at it again with edge-publish publish`,
    );
  }
}

/** With keys documents, devices trust only the newest one's keys: a key it does not list would sign pointers every device refuses. */
function checkKeyIsCurrent(latest: { doc: KeysDocument; path: string }, key: PrivateKeyInfo): void {
  if (latest.doc.keys.some((k) => k.keyid === key.keyid)) return;
  throw new EdgeError(
    "KEY_UNTRUSTED",
    `--key ${key.keyid.slice(0, 16)} is not listed in ${latest.path} (keys document ${latest.doc.version}), the newest keys devices trust; nothing was re-signed`,
  );
}

/** Without keys documents, the key that signed the pointer (or list) is the only evidence of what devices trust. */
function checkSignedBy(doc: { bytes: Buffer; path: string }, key: PrivateKeyInfo): void {
  const envelope = parseEnvelopeText(doc.bytes.toString("utf8"), doc.path);
  if (envelope.signatures.some((s) => s.keyid === key.keyid)) return;
  throw new EdgeError(
    "KEY_UNTRUSTED",
    `${doc.path} was not signed by --key ${key.keyid.slice(0, 16)} and the repository has no keys documents to show that devices trust it; sign it with this key once (edge-publish publish, or withdraw ... --expires-days N for a withdrawal list) or write keys documents (edge-publish keys init), then refresh; nothing was re-signed`,
  );
}
