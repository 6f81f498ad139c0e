import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { promote } from "../../publisher/commands/promote.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { readChannelPointer } from "../../publisher/repo-files.js";
import { sha256Hex } from "../../shared/digest.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { channelPointerPath, releaseManifestPath, withdrawalListPath } from "../../shared/repo-layout.js";
import { parsePublicKey, verifyEnvelope } from "../../shared/signature.js";
import { withdrawalsTopic } from "../../shared/topics.js";
import { parseWithdrawalList } from "../../shared/withdrawals.js";
import { startTestBroker, type TestBroker, takeRetained } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { PUBLISH_BIN, runNode } from "../helpers/processes.js";
import { tempPublisher } from "../helpers/temp-publisher.js";

let root: string;
let repoDir: string;
let keyPath: string;
let publicKeyPath: string;
let name: string;

beforeEach(async () => {
  // Unique per test: on a shared broker (MQTT_URL) retained messages outlive the test.
  name = `wd-${randomBytes(3).toString("hex")}`;
  ({ root, repoDir, keyPath, publicKeyPath } = await tempPublisher("edgepull-withdraw-", name, ["1.0.0", "1.1.0", "1.2.0"]));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const listPath = () => join(repoDir, withdrawalListPath(name));

/** The list as a device reads it: verified against the publisher's public key, then parsed. */
async function listOnDisk() {
  const text = await readFile(listPath(), "utf8");
  const envelope = parseEnvelopeText(text, "withdrawals");
  verifyEnvelope(envelope, [parsePublicKey(await readFile(publicKeyPath), "pub")], "withdrawals");
  return parseWithdrawalList(envelope.signed);
}

describe("withdraw", () => {
  it("writes a signed list with the next sequence; a rerun changes nothing; a change or --expires-days re-signs", async () => {
    const at = new Date("2026-03-01T10:00:00.000Z");
    const first = await withdraw({ repoDir, name, version: "1.1.0", reason: "NaN outputs", keyPath, now: at });
    expect(first).toMatchObject({ changed: true, sequence: 1, channelsStillPointing: [] });
    const list = await listOnDisk();
    const releaseBytes = await readFile(join(repoDir, releaseManifestPath(name, "1.1.0")));
    expect(list).toMatchObject({
      _type: "edgepull/withdrawals",
      name,
      sequence: 1,
      createdAt: at.toISOString(),
      expiresAt: "2026-03-31T10:00:00.000Z",
      entries: [
        {
          version: "1.1.0",
          releaseDigest: sha256Hex(releaseBytes),
          reason: "NaN outputs",
          withdrawnAt: at.toISOString(),
          action: "move",
        },
      ],
    });

    const bytes = await readFile(listPath());
    const again = await withdraw({ repoDir, name, version: "1.1.0", reason: "NaN outputs", keyPath });
    expect(again).toMatchObject({ changed: false, sequence: 1 });
    expect(await readFile(listPath())).toEqual(bytes);

    const stay = await withdraw({ repoDir, name, version: "1.1.0", reason: "NaN outputs", keyPath, keepRunning: true });
    expect(stay).toMatchObject({ changed: true, sequence: 2, entry: { action: "stay", withdrawnAt: at.toISOString() } });
    await withdraw({ repoDir, name, version: "1.2.0", reason: "slow", keyPath });
    const renewed = await withdraw({
      repoDir,
      name,
      version: "1.2.0",
      reason: "slow",
      keyPath,
      expiresInDays: 90,
      now: new Date("2026-04-01T00:00:00.000Z"),
    });
    expect(renewed).toMatchObject({ changed: true, sequence: 4, expiresAt: "2026-06-30T00:00:00.000Z" });
    expect((await listOnDisk()).entries.map((e) => [e.version, e.action])).toEqual([
      ["1.1.0", "stay"],
      ["1.2.0", "move"],
    ]);
  });

  it("names the channels still pointing at the version and leaves their pointers alone", async () => {
    await publishChannel({ repoDir, name, version: "1.1.0", channel: "stable", keyPath });
    await publishChannel({ repoDir, name, version: "1.0.0", channel: "lts", keyPath });
    const before = await readFile(join(repoDir, channelPointerPath(name, "stable")));
    const r = await withdraw({ repoDir, name, version: "1.1.0", reason: "bad", keyPath });
    expect(r.channelsStillPointing).toEqual(["stable"]);
    expect(await readFile(join(repoDir, channelPointerPath(name, "stable")))).toEqual(before);
  });

  it("refuses bad input and writes nothing", async () => {
    const bad: [Partial<Parameters<typeof withdraw>[0]>, string][] = [
      [{ version: "9.9.9" }, "RELEASE_NOT_FOUND"],
      [{ version: "1.1" }, "VERSION_INVALID"],
      [{ reason: "  " }, "USAGE"],
      [{ reason: "two\nlines" }, "USAGE"],
      [{ reason: "x".repeat(501) }, "USAGE"],
      [{ keyPath: join(root, "missing.key") }, "KEY_INVALID"],
      [{ expiresInDays: 0 }, "USAGE"],
    ];
    for (const [change, code] of bad) {
      await expect(withdraw({ repoDir, name, version: "1.1.0", reason: "r", keyPath, ...change })).rejects.toMatchObject({
        code,
      });
    }
    expect(existsSync(listPath())).toBe(false);
  });

  it("refuses to overwrite a list it cannot read (restarting at sequence 1 would look like a replay)", async () => {
    await mkdir(join(repoDir, "withdrawals"), { recursive: true });
    await writeFile(listPath(), "{not json");
    await expect(withdraw({ repoDir, name, version: "1.1.0", reason: "r", keyPath })).rejects.toMatchObject({
      code: "METADATA_MALFORMED",
    });
    expect(await readFile(listPath(), "utf8")).toBe("{not json");
  });
});

describe("commands that point devices at a version refuse a withdrawn one unless forced", () => {
  beforeEach(async () => {
    await publishChannel({ repoDir, name, version: "1.0.0", channel: "stable", keyPath });
    await publishChannel({ repoDir, name, version: "1.1.0", channel: "canary", keyPath });
    await withdraw({ repoDir, name, version: "1.1.0", reason: "NaN outputs", keyPath });
  });

  const sequence = async (channel: string) => (await readChannelPointer(repoDir, name, channel))?.value.sequence;

  it("publish, promote and rollout --percent/--version: VERSION_WITHDRAWN, nothing written", async () => {
    const refused = { code: "VERSION_WITHDRAWN", message: expect.stringContaining("1.1.0 was withdrawn by the publisher") };
    await expect(publishChannel({ repoDir, name, version: "1.1.0", channel: "stable", keyPath })).rejects.toMatchObject(refused);
    await expect(promote({ repoDir, name, version: "1.1.0", from: "canary", to: "stable", keyPath })).rejects.toMatchObject(
      refused,
    );
    const roll = (action: Parameters<typeof changeRollout>[0]["action"], channel = "stable") =>
      changeRollout({ repoDir, name, channel, keyPath, action });
    await expect(roll({ kind: "percent", percent: 10, version: "1.1.0" })).rejects.toMatchObject(refused);
    await expect(roll({ kind: "percent", percent: 50 }, "canary")).rejects.toMatchObject(refused);
    expect([await sequence("stable"), await sequence("canary")]).toEqual([1, 1]);
    // Pausing a withdrawn release's rollout is still allowed: it only holds devices back.
    expect((await roll({ kind: "pause" }, "canary")).pointer.sequence).toBe(2);
  });

  it("--force writes the pointer all the same", async () => {
    const r = await publishChannel({ repoDir, name, version: "1.1.0", channel: "stable", keyPath, force: true });
    expect(r.pointer).toMatchObject({ version: "1.1.0", sequence: 2 });
    const p = await promote({ repoDir, name, version: "1.1.0", from: "canary", to: "beta", keyPath, force: true });
    expect(p.pointer.version).toBe("1.1.0");
  });

  it("the CLI: withdraw says what still points at it; publish's refusal is one line, exit 1", async () => {
    await ensurePublisherBuilt();
    const w = await runNode(PUBLISH_BIN, [
      "withdraw",
      "--repo",
      repoDir,
      "--name",
      name,
      "--version",
      "1.1.0",
      "--reason",
      "NaN outputs",
      "--key",
      keyPath,
    ]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toContain(`already withdrawn (nothing written): ${name} 1.1.0 (NaN outputs)`);
    expect(w.stdout).toContain(
      `channel canary still points at 1.1.0 (devices refuse it); move it with: edge-publish rollout --repo ${repoDir} --name ${name} --channel canary --key KEY --abort`,
    );
    const json = await runNode(PUBLISH_BIN, [
      "withdraw",
      "--repo",
      repoDir,
      "--name",
      name,
      "--version",
      "1.2.0",
      "--reason",
      "slow",
      "--keep-running",
      "--key",
      keyPath,
      "--json",
    ]);
    expect(JSON.parse(json.stdout)).toMatchObject({ changed: true, sequence: 2, entry: { version: "1.2.0", action: "stay" } });
    const p = await runNode(PUBLISH_BIN, [
      "publish",
      "--repo",
      repoDir,
      "--name",
      name,
      "--version",
      "1.1.0",
      "--channel",
      "stable",
      "--key",
      keyPath,
    ]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(
      /^edge-publish: VERSION_WITHDRAWN: 1\.1\.0 was withdrawn by the publisher at \S+: NaN outputs; pass --force/,
    );
    const usage = await runNode(PUBLISH_BIN, [
      "withdraw",
      "--repo",
      repoDir,
      "--name",
      name,
      "--version",
      "1.1.0",
      "--key",
      keyPath,
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe("edge-publish: USAGE: withdraw needs --reason (see edge-publish withdraw --help)\n");
  });
});

describe("withdraw --mqtt", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker.close();
  });

  it("publishes the list file's exact bytes, retained, to the model's withdrawals topic", async () => {
    const topic = withdrawalsTopic(name);
    const r = await withdraw({ repoDir, name, version: "1.1.0", reason: "bad", keyPath, mqtt: { url: broker.url } });
    expect(r.mqtt).toEqual({ topic: `edgepull/v1/${name}/withdrawals` });
    expect((await takeRetained(broker.url, topic)).equals(await readFile(r.path))).toBe(true);
  });
});
