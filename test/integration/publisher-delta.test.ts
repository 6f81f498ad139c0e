import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { makeDeltas } from "../../publisher/commands/delta.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { readChannelPointer, readRelease } from "../../publisher/repo-files.js";
import { sha256Hex } from "../../shared/digest.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { readSafetensorsHeader } from "../../shared/safetensors-header.js";
import { parsePublicKey, verifyEnvelope } from "../../shared/signature.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { PUBLISH_BIN, runNode } from "../helpers/processes.js";

let root: string;
let repoDir: string;
let keyPath: string;
let publicKeyPath: string;
const name = "net";
const MIB = 1024 * 1024;

/** A model with a 2 MiB backbone shared by every version and a head that differs. */
async function model(version: string, seed: number): Promise<string> {
  const dir = join(root, "models", version);
  await writeExampleModel(dir, { version, seed, extraBytes: 2 * MIB, paddingSeed: 99 });
  return dir;
}

beforeAll(async () => {
  await ensurePublisherBuilt();
});

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-pubdelta-"));
  repoDir = join(root, "repo");
  const k = await keygen({ outDir: join(root, "keys") });
  keyPath = k.privateKeyPath;
  publicKeyPath = k.publicKeyPath;
  for (const [version, seed] of [
    ["1.0.0", 1],
    ["1.1.0", 2],
  ] as const) {
    await buildRelease({ modelDir: await model(version, seed), name, version, repoDir, keyPath });
  }
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const cli = (args: string[]) => runNode(PUBLISH_BIN, args);

describe("edge-publish delta", () => {
  it("records the delta in the re-signed release manifest and re-points the channels that carry it, keeping their rollout", async () => {
    await publishChannel({ repoDir, name, version: "1.1.0", channel: "stable", keyPath });
    await changeRollout({ repoDir, name, channel: "stable", keyPath, action: { kind: "percent", percent: 25 } });
    await publishChannel({ repoDir, name, version: "1.0.0", channel: "lts", keyPath });
    const before = (await readChannelPointer(repoDir, name, "stable"))?.value;

    const r = await cli([
      "delta",
      "--repo",
      repoDir,
      "--name",
      name,
      "--from",
      "1.0.0",
      "--to",
      "1.1.0",
      "--key",
      keyPath,
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { deltas: { from: string; offered: boolean; size: number }[]; channels: string[] };
    expect(out.channels).toEqual(["stable"]);
    expect(out.deltas).toMatchObject([{ from: "1.0.0", offered: true }]);

    const release = await readRelease(repoDir, name, "1.1.0");
    if (!release) throw new Error("release vanished");
    const envelope = parseEnvelopeText(release.bytes.toString("utf8"), "release.json");
    const trusted = parsePublicKey(await readFile(publicKeyPath), "pub");
    expect(verifyEnvelope(envelope, [trusted], "release.json")).toBe(trusted.keyid);
    const offer = release.value.deltas?.[0];
    expect(offer).toMatchObject({ from: "1.0.0", url: `releases/${name}/1.1.0/deltas/1.0.0.epdelta`, size: out.deltas[0]?.size });
    const bytes = await readFile(join(repoDir, offer?.url ?? ""));
    expect(offer?.sha256).toBe(sha256Hex(bytes));
    expect(bytes.length * 10).toBeLessThan(release.value.bundle.size);

    const after = (await readChannelPointer(repoDir, name, "stable"))?.value;
    expect(after?.sequence).toBe((before?.sequence ?? 0) + 1);
    expect(after?.rollout).toEqual({ percent: 25, paused: false });
    expect(after?.release.sha256).toBe(sha256Hex(release.bytes));
    // A channel on another release is left alone.
    expect((await readChannelPointer(repoDir, name, "lts"))?.value.sequence).toBe(1);
  });

  it("is deterministic, and a rerun changes nothing a device has seen", async () => {
    await publishChannel({ repoDir, name, version: "1.1.0", channel: "stable", keyPath });
    const first = await makeDeltas({ repoDir, name, from: ["1.0.0"], to: "1.1.0", keyPath });
    const release1 = (await readRelease(repoDir, name, "1.1.0"))?.bytes;
    const pointer1 = (await readChannelPointer(repoDir, name, "stable"))?.value.sequence;
    const second = await makeDeltas({ repoDir, name, from: ["1.0.0"], to: "1.1.0", keyPath });
    expect(second.deltas[0]?.sha256).toBe(first.deltas[0]?.sha256);
    expect(second.channels).toEqual([]);
    expect((await readRelease(repoDir, name, "1.1.0"))?.bytes.equals(release1 ?? Buffer.alloc(0))).toBe(true);
    expect((await readChannelPointer(repoDir, name, "stable"))?.value.sequence).toBe(pointer1);
  });

  it("build --delta-from makes the deltas from several releases while building", async () => {
    const r = await cli([
      "build",
      await model("1.2.0", 3),
      "--name",
      name,
      "--version",
      "1.2.0",
      "--repo",
      repoDir,
      "--key",
      keyPath,
      "--delta-from",
      "1.1.0,1.0.0",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/delta {3}from 1\.1\.0: \d+ bytes \([\d.]+ % of the bundle\)/);
    expect(r.stdout).toMatch(/delta {3}from 1\.0\.0: /);
    const release = (await readRelease(repoDir, name, "1.2.0"))?.value;
    expect(release?.deltas?.map((d) => d.from)).toEqual(["1.0.0", "1.1.0"]);
  });

  it("does not offer a delta that is no smaller than the bundle", async () => {
    // The backbone zeroed (pruned): its XOR with the base's random backbone is as large as the backbone, while
    // the bundle compresses the zeros away.
    await buildRelease({
      modelDir: await writeZeroedBackbone("2.0.0"),
      name,
      version: "2.0.0",
      repoDir,
      keyPath,
    });
    const r = await makeDeltas({ repoDir, name, from: ["1.0.0"], to: "2.0.0", keyPath });
    expect(r.deltas[0]?.offered).toBe(false);
    expect((await readRelease(repoDir, name, "2.0.0"))?.value.deltas).toBeUndefined();
  });

  it.each([
    [["--from", "0.9.0", "--to", "1.1.0"], /^edge-publish: RELEASE_NOT_FOUND: net 0\.9\.0 is not built/m],
    [["--from", "1.1.0", "--to", "1.1.0"], /^edge-publish: USAGE: a delta from 1\.1\.0 to itself/m],
    [["--from", "1.0", "--to", "1.1.0"], /^edge-publish: VERSION_INVALID: /m],
    [["--to", "1.1.0"], /^edge-publish: USAGE: delta needs --from/m],
  ])("refuses %j with one clear line and changes nothing", async (args, message) => {
    const before = (await readRelease(repoDir, name, "1.1.0"))?.bytes;
    const r = await cli(["delta", "--repo", repoDir, "--name", name, "--key", keyPath, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect((await readRelease(repoDir, name, "1.1.0"))?.bytes.equals(before ?? Buffer.alloc(0))).toBe(true);
  });

  it("refuses a base bundle changed in the repository since it was built", async () => {
    const bundle = join(repoDir, `releases/${name}/1.0.0/${name}-1.0.0.tar.gz`);
    const bytes = await readFile(bundle);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
    await writeFile(bundle, bytes);
    await expect(makeDeltas({ repoDir, name, from: ["1.0.0"], to: "1.1.0", keyPath })).rejects.toMatchObject({
      code: expect.stringMatching(/^(BUNDLE_CORRUPT|DIGEST_MISMATCH|BUNDLE_TRUNCATED)$/),
    });
    expect((await readRelease(repoDir, name, "1.1.0"))?.value.deltas).toBeUndefined();
  });
});

/** The 1.x model's shape with other classifier weights and every backbone weight 0. */
async function writeZeroedBackbone(version: string): Promise<string> {
  const dir = await model(version, 12345);
  const file = await open(join(dir, "model.safetensors"), "r+");
  try {
    const { layout } = await readSafetensorsHeader(file, (await file.stat()).size);
    const backbone = layout.tensors.find((t) => t.name === "backbone.padding");
    if (!backbone) throw new Error("no backbone tensor");
    const zeros = Buffer.alloc(backbone.end - backbone.begin);
    await file.write(zeros, 0, zeros.length, layout.dataStart + backbone.begin);
  } finally {
    await file.close();
  }
  return dir;
}
