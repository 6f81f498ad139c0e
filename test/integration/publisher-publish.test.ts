import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { sha256Hex } from "../../shared/digest.js";
import { parseChannelPointer, parseEnvelopeText } from "../../shared/manifest.js";
import { parsePublicKey, verifyEnvelope } from "../../shared/signature.js";

const NAME = "demo-model";
let root: string;
let repoDir: string;
let keyPath: string;
let publicKeyPath: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-publish-"));
  repoDir = join(root, "repo");
  const keys = await keygen({ outDir: join(root, "keys") });
  keyPath = keys.privateKeyPath;
  publicKeyPath = keys.publicKeyPath;
  const model = join(root, "model");
  await mkdir(model);
  await writeFile(join(model, "weights.bin"), "w1");
  await buildRelease({ modelDir: model, name: NAME, version: "1.0.0", repoDir, keyPath });
  await writeFile(join(model, "weights.bin"), "w2");
  await buildRelease({ modelDir: model, name: NAME, version: "1.1.0", repoDir, keyPath });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function publish(version: string, channel = "stable", extra: Partial<Parameters<typeof publishChannel>[0]> = {}) {
  return publishChannel({ repoDir, name: NAME, version, channel, keyPath, ...extra });
}

async function readPointer(channel: string) {
  const text = await readFile(join(repoDir, "channels", NAME, `${channel}.json`), "utf8");
  const env = parseEnvelopeText(text, channel);
  return { env, pointer: parseChannelPointer(env.signed) };
}

describe("publishChannel", () => {
  it("writes a signed pointer naming the release manifest by its exact bytes, expiring in 30 days", async () => {
    const now = new Date("2024-01-01T00:00:00.000Z");
    const { pointer, path } = await publish("1.0.0", "stable", { now });
    expect(path).toBe(join(repoDir, "channels", NAME, "stable.json"));
    const { env, pointer: onDisk } = await readPointer("stable");
    expect(onDisk).toEqual(pointer);
    const trusted = [parsePublicKey(await readFile(publicKeyPath), publicKeyPath)];
    expect(() => verifyEnvelope(env, trusted, "stable.json")).not.toThrow();
    const releaseBytes = await readFile(join(repoDir, "releases", NAME, "1.0.0", "release.json"));
    expect(pointer).toMatchObject({
      name: NAME,
      channel: "stable",
      version: "1.0.0",
      sequence: 1,
      createdAt: "2024-01-01T00:00:00.000Z",
      expiresAt: "2024-01-31T00:00:00.000Z",
      release: { url: `releases/${NAME}/1.0.0/release.json`, size: releaseBytes.length, sha256: sha256Hex(releaseBytes) },
    });
  });

  it("increments the sequence on every publish, per channel", async () => {
    expect((await publish("1.0.0")).pointer.sequence).toBe(1);
    expect((await publish("1.1.0")).pointer.sequence).toBe(2);
    expect((await publish("1.0.0")).pointer.sequence).toBe(3);
    expect((await publish("1.1.0", "canary", { expiresInDays: 1 })).pointer.sequence).toBe(1);
    expect((await readPointer("stable")).pointer).toMatchObject({ version: "1.0.0", sequence: 3 });
    expect((await readPointer("canary")).pointer).toMatchObject({ version: "1.1.0", sequence: 1 });
  });

  it("refuses a version that is not built as RELEASE_NOT_FOUND, naming it and the path looked at", async () => {
    await expect(publish("2.0.0")).rejects.toMatchObject({
      code: "RELEASE_NOT_FOUND",
      message: expect.stringContaining(
        `${NAME} 2.0.0 is not built in this repository (looked for ${join(repoDir, "releases", NAME, "2.0.0", "release.json")})`,
      ),
    });
  });

  it("refuses bad names, channels and expiries", async () => {
    await expect(publish("1.0")).rejects.toMatchObject({ code: "VERSION_INVALID" });
    await expect(publish("1.0.0", "Stable!")).rejects.toMatchObject({
      code: "VERSION_INVALID",
      message: expect.stringContaining("channel"),
    });
    await expect(publish("1.0.0", "stable", { expiresInDays: 0 })).rejects.toMatchObject({ code: "USAGE" });
  });

  it("refuses to continue from a malformed pointer rather than restart the sequence", async () => {
    await publish("1.0.0");
    const path = join(repoDir, "channels", NAME, "stable.json");
    await writeFile(path, "{ not json");
    await expect(publish("1.1.0")).rejects.toMatchObject({ code: "METADATA_MALFORMED", message: expect.stringContaining(path) });
    expect(await readFile(path, "utf8")).toBe("{ not json");
  });

  it("refuses a release.json that does not parse", async () => {
    await writeFile(
      join(repoDir, "releases", NAME, "1.0.0", "release.json"),
      '{"signed":{"_type":"edgepull/release"},"signatures":[]}',
    );
    await expect(publish("1.0.0")).rejects.toMatchObject({
      code: "METADATA_MALFORMED",
      message: expect.stringContaining("release.json"),
    });
  });
});
