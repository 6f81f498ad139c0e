import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { verifyPointerText } from "../../agent/sources/intake.js";
import { verifyWithdrawalText } from "../../agent/sources/withdrawal-intake.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { listChannels } from "../../publisher/commands/channels.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { keysInit } from "../../publisher/commands/keys.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { refreshPointers } from "../../publisher/commands/refresh.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { readHistory } from "../../publisher/rollout/channel-history.js";
import { listWithdrawalLists } from "../../publisher/withdraw/withdrawal-expiry.js";
import { channelPointerPath, releaseManifestPath, withdrawalListPath } from "../../shared/repo-layout.js";
import { parsePublicKey } from "../../shared/signature.js";
import { withdrawalsTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker, takeRetained } from "../helpers/broker.js";

let root: string;
let repoDir: string;
let keyPath: string;
let publicKeyPath: string;
const name = "det";

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-refresh-"));
  repoDir = join(root, "repo");
  const k = await keygen({ outDir: join(root, "keys") });
  keyPath = k.privateKeyPath;
  publicKeyPath = k.publicKeyPath;
  const model = join(root, "model");
  await mkdir(model);
  for (const version of ["1.0.0", "1.1.0"]) {
    await writeFile(join(model, "weights.bin"), `weights ${version}`);
    await buildRelease({ modelDir: model, name, version, repoDir, keyPath });
  }
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const pointerFile = (channel: string) => join(repoDir, channelPointerPath(name, channel));
const pointerText = (channel: string) => readFile(pointerFile(channel), "utf8");

/** stable expires in 3 days, canary (10 %, paused) in 5, lts in 30. */
async function threeChannels(): Promise<void> {
  await publishChannel({ repoDir, name, version: "1.0.0", channel: "stable", keyPath, expiresInDays: 3 });
  await publishChannel({ repoDir, name, version: "1.1.0", channel: "canary", keyPath });
  await changeRollout({ repoDir, name, channel: "canary", keyPath, action: { kind: "percent", percent: 10 } });
  await changeRollout({ repoDir, name, channel: "canary", keyPath, action: { kind: "pause" }, expiresInDays: 5 });
  await publishChannel({ repoDir, name, version: "1.0.0", channel: "lts", keyPath });
}

/** What a device following `channel` that accepted `before` makes of `after`. */
async function deviceAccepts(channel: string, before: string, after: string) {
  const highestSequence = JSON.parse(before).signed.sequence as number;
  return verifyPointerText(after, {
    trustedKeys: [parsePublicKey(await readFile(publicKeyPath), "pub")],
    name,
    channel,
    now: new Date(),
    highestSequence,
    lastAcceptedText: before,
  });
}

describe("refresh", () => {
  it("re-signs only the pointers expiring within --before-days: same release and rollout, next sequence, accepted by a device", async () => {
    await threeChannels();
    const before = { stable: await pointerText("stable"), canary: await pointerText("canary"), lts: await pointerText("lts") };
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 7 });

    expect(r.refreshed.map((p) => [p.channel, p.version, p.fromSequence, p.sequence])).toEqual([
      ["canary", "1.1.0", 3, 4],
      ["stable", "1.0.0", 1, 2],
    ]);
    expect(r.kept.map((p) => p.channel)).toEqual(["lts"]);
    expect(await pointerText("lts")).toBe(before.lts);

    for (const channel of ["stable", "canary"] as const) {
      const old = JSON.parse(before[channel]).signed;
      const verified = await deviceAccepts(channel, before[channel], await pointerText(channel));
      expect(verified.alreadyAccepted).toBe(false);
      const { sequence, createdAt, expiresAt, ...rest } = verified.pointer;
      const { sequence: oldSequence, createdAt: _c, expiresAt: oldExpiresAt, ...oldRest } = old;
      expect(rest).toEqual(oldRest); // release digest, rollout share and pause, everything else
      expect(sequence).toBe(oldSequence + 1);
      const days = (Date.parse(expiresAt) - Date.parse(createdAt)) / 86_400_000;
      expect(days).toBeCloseTo(30, 5);
      expect(Date.parse(expiresAt)).toBeGreaterThan(Date.parse(oldExpiresAt));
    }
    expect(JSON.parse(await pointerText("canary")).signed.rollout).toEqual({ percent: 10, paused: true });
    // rollout --abort walks this history back: the refresh is in it, with the pointer it replaced.
    expect((await readHistory(repoDir, name, "stable")).map((e) => [e.sequence, e.version])).toEqual([
      [1, "1.0.0"],
      [2, "1.0.0"],
    ]);

    // Nothing is due any more: a second run (the next day's timer) changes nothing.
    const again = await refreshPointers({ repoDir, keyPath, beforeDays: 7 });
    expect(again.refreshed).toEqual([]);
    expect(again.kept).toHaveLength(3);
  });

  it("re-signs an expired pointer too, and --before-days 0 touches nothing else", async () => {
    await threeChannels();
    const inTenDays = new Date(Date.now() + 10 * 86_400_000);
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 0, expiresInDays: 40, now: inTenDays });
    expect(r.refreshed.map((p) => p.channel)).toEqual(["canary", "stable"]);
    expect(r.kept.map((p) => p.channel)).toEqual(["lts"]);
  });

  it("--dry-run says what it would re-sign and writes nothing", async () => {
    await threeChannels();
    const before = await pointerText("stable");
    // publish records its pointer in the history too: the dry run adds nothing to it.
    const historyBefore = await readHistory(repoDir, name, "stable");
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 7, dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.refreshed.map((p) => [p.channel, p.sequence])).toEqual([
      ["canary", 4],
      ["stable", 2],
    ]);
    expect(await pointerText("stable")).toBe(before);
    expect(await readHistory(repoDir, name, "stable")).toEqual(historyBefore);
  });

  it("refuses a key devices would not trust, before writing anything", async () => {
    await threeChannels();
    const stranger = await keygen({ outDir: join(root, "stranger") });
    const before = await pointerText("stable");
    await expect(refreshPointers({ repoDir, keyPath: stranger.privateKeyPath, beforeDays: 7 })).rejects.toMatchObject({
      code: "KEY_UNTRUSTED",
      message: expect.stringContaining("was not signed by --key"),
    });
    // With keys documents, the newest one decides.
    await keysInit({ repoDir, keyPath });
    await expect(refreshPointers({ repoDir, keyPath: stranger.privateKeyPath, beforeDays: 7 })).rejects.toMatchObject({
      code: "KEY_UNTRUSTED",
      message: expect.stringContaining("is not listed in"),
    });
    expect(await pointerText("stable")).toBe(before);
    expect((await refreshPointers({ repoDir, keyPath, beforeDays: 7 })).refreshed).toHaveLength(2);
  });

  it("refuses a pointer whose release manifest changed since, leaving every pointer as it was", async () => {
    await threeChannels();
    const manifest = join(repoDir, releaseManifestPath(name, "1.0.0"));
    await writeFile(manifest, `${await readFile(manifest, "utf8")}\n`);
    const before = { stable: await pointerText("stable"), canary: await pointerText("canary") };
    await expect(refreshPointers({ repoDir, keyPath, beforeDays: 7 })).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    expect({ stable: await pointerText("stable"), canary: await pointerText("canary") }).toEqual(before);
  });

  it("refuses an expiry no longer than the look-ahead (it would be due again at once)", async () => {
    await expect(refreshPointers({ repoDir, keyPath, beforeDays: 7, expiresInDays: 7 })).rejects.toMatchObject({
      code: "USAGE",
    });
  });
});

describe("channels expiry warnings", () => {
  it("flags pointers expiring within --warn-days and keeps marking expired ones", async () => {
    await threeChannels();
    const r = await listChannels({ repoDir, warnDays: 4 });
    expect(r.channels.map((c) => [c.channel, c.expired, c.expiresSoon])).toEqual([
      ["canary", false, false],
      ["lts", false, false],
      ["stable", false, true],
    ]);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /^warning: det stable \(1\.0\.0, sequence 1\) expires at \S+, in (2\.9|3) days: run edge-publish refresh/,
      ),
    ]);
    const later = await listChannels({ repoDir, now: new Date(Date.now() + 4 * 86_400_000) });
    expect(later.channels.map((c) => [c.channel, c.expired, c.expiresSoon])).toEqual([
      ["canary", false, true],
      ["lts", false, false],
      ["stable", true, false],
    ]);
    expect(later.warnings.map((w) => /^warning: det (\S+) .*?(EXPIRED|expires)/.exec(w)?.slice(1))).toEqual([
      ["canary", "expires"],
      ["stable", "EXPIRED"],
    ]);
  });
});

describe("refresh and withdrawal lists", () => {
  const listFile = () => join(repoDir, withdrawalListPath(name));
  const listText = () => readFile(listFile(), "utf8");
  const DAY = 86_400_000;

  /** Pointers good for 30 days; the list withdrawing 1.1.0 signed with `listKey`, expiring in `days`. */
  async function withdrawn(days: number, listKey = keyPath): Promise<void> {
    await publishChannel({ repoDir, name, version: "1.0.0", channel: "stable", keyPath });
    // Signed `30 - days` days ago with the default 30-day life: `days` left now.
    const now = new Date(Date.now() - (30 - days) * DAY);
    await withdraw({ repoDir, name, version: "1.1.0", reason: "NaN outputs", keyPath: listKey, now });
  }

  it("re-signs a list expiring within --before-days: same entries, next sequence, accepted by a device that holds the old one", async () => {
    await withdrawn(3);
    const before = await listText();
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 7 });
    expect(r.refreshed).toEqual([]);
    expect(r.withdrawalLists.refreshed).toMatchObject([{ name, entries: 1, fromSequence: 1, sequence: 2, path: listFile() }]);
    const after = await listText();
    const verified = verifyWithdrawalText(after, {
      trustedKeys: [parsePublicKey(await readFile(publicKeyPath), "pub")],
      name,
      now: new Date(),
      accepted: { sequence: 1, text: before },
    });
    expect(verified.alreadyAccepted).toBe(false);
    const old = JSON.parse(before).signed;
    const { sequence, createdAt, expiresAt, ...rest } = verified.list;
    const { sequence: _s, createdAt: _c, expiresAt: oldExpiresAt, ...oldRest } = old;
    expect(rest).toEqual(oldRest); // the same entries: reason, action, withdrawnAt, digest
    expect(sequence).toBe(2);
    expect((Date.parse(expiresAt) - Date.parse(createdAt)) / DAY).toBeCloseTo(30, 5);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.parse(oldExpiresAt));

    const again = await refreshPointers({ repoDir, keyPath, beforeDays: 7 });
    expect(again.withdrawalLists).toMatchObject({ refreshed: [], kept: [{ name, sequence: 2, entries: 1 }] });
    expect(await listText()).toBe(after);
  });

  it("re-signs an expired list; one not due is kept; --dry-run writes nothing; --name limits it", async () => {
    await withdrawn(-2);
    const before = await listText();
    const dry = await refreshPointers({ repoDir, keyPath, beforeDays: 7, dryRun: true });
    expect(dry.withdrawalLists.refreshed).toMatchObject([{ name, fromSequence: 1, sequence: 2 }]);
    expect(await listText()).toBe(before);
    const other = await refreshPointers({ repoDir, keyPath, beforeDays: 7, name: "another-model" });
    expect(other.withdrawalLists).toEqual({ refreshed: [], kept: [] });
    expect(await listText()).toBe(before);
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 7, name });
    expect(r.withdrawalLists.refreshed).toMatchObject([{ name, sequence: 2 }]);
    expect(JSON.parse(await listText()).signed.sequence).toBe(2);
  });

  it("refuses a list signed by another key (no keys documents), writing no pointer either", async () => {
    await publishChannel({ repoDir, name, version: "1.1.0", channel: "canary", keyPath, expiresInDays: 2 });
    const stranger = await keygen({ outDir: join(root, "stranger") });
    await withdrawn(3, stranger.privateKeyPath);
    const before = { list: await listText(), canary: await pointerText("canary") };
    await expect(refreshPointers({ repoDir, keyPath, beforeDays: 7 })).rejects.toMatchObject({
      code: "KEY_UNTRUSTED",
      message: expect.stringContaining(`${listFile()} was not signed by --key`),
    });
    expect({ list: await listText(), canary: await pointerText("canary") }).toEqual(before);
  });

  it("refuses a key the newest keys document does not list, with only a list due", async () => {
    await withdrawn(3);
    const stranger = await keygen({ outDir: join(root, "stranger") });
    const before = await listText();
    await expect(refreshPointers({ repoDir, keyPath: stranger.privateKeyPath, beforeDays: 7 })).rejects.toMatchObject({
      code: "KEY_UNTRUSTED",
    });
    await keysInit({ repoDir, keyPath });
    await expect(refreshPointers({ repoDir, keyPath: stranger.privateKeyPath, beforeDays: 7 })).rejects.toMatchObject({
      code: "KEY_UNTRUSTED",
      message: expect.stringContaining("is not listed in"),
    });
    expect(await listText()).toBe(before);
  });

  it("reports a list it cannot read as a problem and still re-signs the pointers", async () => {
    await publishChannel({ repoDir, name, version: "1.0.0", channel: "stable", keyPath, expiresInDays: 2 });
    await mkdir(join(repoDir, "withdrawals"), { recursive: true });
    await writeFile(listFile(), "{not json");
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 7 });
    expect(r.refreshed.map((p) => p.channel)).toEqual(["stable"]);
    expect(r.problems).toEqual([{ path: listFile(), error: expect.stringMatching(/^METADATA_MALFORMED: /) }]);
  });

  it("listWithdrawalLists (what channels warns about): expired and soon-expiring lists", async () => {
    await withdrawn(3);
    const r = await listWithdrawalLists({ repoDir, warnDays: 7 });
    expect(r.lists).toMatchObject([{ name, sequence: 1, entries: 1, expired: false, expiresSoon: true }]);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /^warning: withdrawal list of det \(sequence 1, 1 withdrawn\) expires at \S+, in (2\.9|3) days: run edge-publish refresh before then$/,
      ),
    ]);
    const later = await listWithdrawalLists({ repoDir, now: new Date(Date.now() + 4 * DAY) });
    expect(later.warnings).toEqual([
      expect.stringMatching(
        /^warning: withdrawal list of det \(sequence 1, 1 withdrawn\) EXPIRED at \S+: every device's channel check fails \(METADATA_EXPIRED\); run edge-publish refresh$/,
      ),
    ]);
    expect((await listWithdrawalLists({ repoDir, warnDays: 2 })).warnings).toEqual([]);
  });
});

describe("refresh --mqtt and withdrawal lists", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker.close();
  });

  it("publishes each re-signed list's exact bytes, retained, to the model's withdrawals topic", async () => {
    // Unique per run: on a shared broker (MQTT_URL) retained messages outlive the test.
    const model = `det-${randomBytes(3).toString("hex")}`;
    const model1 = join(root, "model1");
    await mkdir(model1);
    await writeFile(join(model1, "w.bin"), "w");
    await buildRelease({ modelDir: model1, name: model, version: "1.0.0", repoDir, keyPath });
    await withdraw({ repoDir, name: model, version: "1.0.0", reason: "bad", keyPath, expiresInDays: 1 });
    const r = await refreshPointers({ repoDir, keyPath, beforeDays: 7, name: model, mqtt: { url: broker.url } });
    const topic = withdrawalsTopic(model);
    expect(r.withdrawalLists.refreshed).toMatchObject([{ name: model, sequence: 2, mqtt: { topic } }]);
    expect((await takeRetained(broker.url, topic)).equals(await readFile(join(repoDir, withdrawalListPath(model))))).toBe(true);
  });
});
