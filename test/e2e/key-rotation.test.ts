import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { keysInit, keysRotate } from "../../publisher/commands/keys.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { KEYS_TYPE, type KeysDocument, keysDocumentPath } from "../../shared/key-chain.js";
import { parsePrivateKey, signEnvelope } from "../../shared/signature.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

interface KeyFiles {
  privateKeyPath: string;
  publicKeyPath: string;
  keyid: string;
}

async function writeKeysDoc(repoDir: string, version: number, listed: KeyFiles[], signer: KeyFiles): Promise<void> {
  const doc: KeysDocument = {
    _type: KEYS_TYPE,
    specVersion: 1,
    version,
    createdAt: new Date().toISOString(),
    keys: await Promise.all(listed.map(async (k) => ({ keyid: k.keyid, publicKey: await readFile(k.publicKeyPath, "utf8") }))),
  };
  const key = parsePrivateKey(await readFile(signer.privateKeyPath), signer.privateKeyPath);
  await mkdir(join(repoDir, "keys"), { recursive: true });
  await writeFile(join(repoDir, keysDocumentPath(version)), canonicalJson(signEnvelope(doc, [key])));
}

describe("key rotation without touching the device", () => {
  it("follows two rotations, keeps updating, and refuses a release signed by a removed key", async () => {
    world = await World.create();
    const w = world;
    const k1: KeyFiles = { privateKeyPath: w.keyPath, publicKeyPath: w.publicKeyPath, keyid: "" };
    k1.keyid = parsePrivateKey(await readFile(k1.privateKeyPath), "k1").keyid;
    const k2 = await keygen({ outDir: join(w.root, "keys-2") });
    const k3 = await keygen({ outDir: join(w.root, "keys-3") });

    const releaseWith = async (version: string, key: KeyFiles) => {
      const model = join(w.root, "models", version);
      await writeExampleModel(model, { version, seed: version.length });
      await buildRelease({ modelDir: model, name: w.name, version, repoDir: w.repoDir, keyPath: key.privateKeyPath });
      await publishChannel({ repoDir: w.repoDir, name: w.name, version, channel: w.channel, keyPath: key.privateKeyPath });
    };
    const check = async () => {
      const r = await w.cli(["check", "--json"]);
      return { code: r.code, stderr: r.stderr, out: r.stdout ? JSON.parse(r.stdout) : undefined };
    };

    await releaseWith("1.0.0", k1);
    expect((await check()).code).toBe(0);

    // Rotation 1: k1 adds k2. Rotation 2: k2 replaces both with k3. The device ships trusting only k1.
    await writeKeysDoc(w.repoDir, 1, [k1, k2], k1);
    await writeKeysDoc(w.repoDir, 2, [k3], k2);
    await releaseWith("2.0.0", k3);
    const second = await check();
    expect(second.code, second.stderr).toBe(0);
    expect((await w.status()).activeVersion).toBe("2.0.0");

    // k1 was removed by document 2: a release it signs is refused, and nothing changes.
    await releaseWith("3.0.0", k1);
    const refused = await check();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^edge-agent: KEY_UNTRUSTED: /m);
    expect((await w.status()).activeVersion).toBe("2.0.0");

    // A document not signed by the current keys does not extend the chain.
    await writeKeysDoc(w.repoDir, 3, [k1], k1);
    const forgedChain = await check();
    expect(forgedChain.code).toBe(1);
    expect(forgedChain.stderr).toMatch(/^edge-agent: KEY_UNTRUSTED: keys document 3/m);

    // Re-checking what the journal recorded under earlier keys still works.
    expect((await w.cli(["verify", "--version", "1.0.0"])).code).toBe(0);
  });
});

/** The key the world's repository signs with (K1). */
async function worldKey(w: World): Promise<KeyFiles> {
  const keyid = parsePrivateKey(await readFile(w.keyPath), "k1").keyid;
  return { privateKeyPath: w.keyPath, publicKeyPath: w.publicKeyPath, keyid };
}

/** keys/1 signed by K1 listing K1, keys/2 by K1 listing K2, keys/3 by K2 listing K3 (the last only with `rotations: 2`). */
async function rotatedRepository(w: World, rotations: 1 | 2): Promise<{ k1: KeyFiles; k2: KeyFiles; k3: KeyFiles }> {
  const k1 = await worldKey(w);
  const k2 = await keygen({ outDir: join(w.root, "keys-2") });
  const k3 = await keygen({ outDir: join(w.root, "keys-3") });
  await writeKeysDoc(w.repoDir, 1, [k1], k1);
  await writeKeysDoc(w.repoDir, 2, [k2], k1);
  if (rotations === 2) await writeKeysDoc(w.repoDir, 3, [k3], k2);
  return { k1, k2, k3 };
}

/** A new device: its config ships with only these public keys. */
async function shipWith(w: World, ...keys: KeyFiles[]): Promise<void> {
  await w.writeConfig({ extraConfig: { trustedKeys: keys.map((k) => k.publicKeyPath) } });
}

async function checkNow(w: World): Promise<{ code: number | null; stderr: string }> {
  const r = await w.cli(["check", "--json"]);
  return { code: r.code, stderr: r.stderr };
}

/** Releases `version` signed by `key` and checks: the device installs it. */
async function expectInstalled(w: World, version: string, key: KeyFiles): Promise<void> {
  await w.release(version, { keyPath: key.privateKeyPath });
  const r = await checkNow(w);
  expect(r.code, r.stderr).toBe(0);
  expect((await w.status()).activeVersion).toBe(version);
}

/** Releases `version` signed by `key` and checks: refused as KEY_UNTRUSTED, the active version unchanged. */
async function expectUntrusted(w: World, version: string, key: KeyFiles): Promise<string> {
  const before = (await w.status()).activeVersion;
  await w.release(version, { keyPath: key.privateKeyPath });
  const r = await checkNow(w);
  expect(r.code).toBe(1);
  const line = r.stderr.split("\n").find((l) => l.startsWith("edge-agent: KEY_UNTRUSTED: "));
  expect(line, r.stderr).toBeDefined();
  expect((await w.status()).activeVersion).toBe(before);
  return line as string;
}

describe("a new device shipped with a rotated key", () => {
  it("shipped with only the newest key (K3), starts on a twice-rotated repository, installs, and follows the next rotation", async () => {
    world = await World.create();
    const w = world;
    const { k3 } = await rotatedRepository(w, 2);
    await shipWith(w, k3);
    await expectInstalled(w, "1.0.0", k3);

    // K3 signs keys/4 handing over to K4: the device enters the signed chain there.
    const k4 = await keygen({ outDir: join(w.root, "keys-4") });
    await writeKeysDoc(w.repoDir, 4, [k4], k3);
    await expectInstalled(w, "2.0.0", k4);
    await expectUntrusted(w, "3.0.0", k3);
  });

  it("shipped with only K2, starts from keys/3 (which K2 signs) and no longer trusts K2", async () => {
    world = await World.create();
    const w = world;
    const { k2, k3 } = await rotatedRepository(w, 2);
    await shipWith(w, k2);
    await expectInstalled(w, "1.0.0", k3);
    await expectUntrusted(w, "2.0.0", k2);
  });

  it("shipped with only K2, starts from keys/2 before the second rotation, follows it, and refuses the chain going back", async () => {
    world = await World.create();
    const w = world;
    const { k2, k3 } = await rotatedRepository(w, 1);
    await shipWith(w, k2);
    await expectInstalled(w, "1.0.0", k2);

    await writeKeysDoc(w.repoDir, 3, [k3], k2);
    await expectInstalled(w, "2.0.0", k3);

    // A mirror serving the chain without keys/3 cannot bring K2 back: the journal holds keys/3.
    await rm(join(w.repoDir, keysDocumentPath(3)));
    await expectUntrusted(w, "3.0.0", k2);
  });

  it("shipped with an unrelated key, fails naming each document's signers and keys and the device's key", async () => {
    world = await World.create();
    const w = world;
    const { k1, k2, k3 } = await rotatedRepository(w, 2);
    const stranger = await keygen({ outDir: join(w.root, "keys-x") });
    await shipWith(w, stranger);
    const line = await expectUntrusted(w, "1.0.0", k3);
    const s = (k: KeyFiles) => k.keyid.slice(0, 16);
    expect(line).toContain(`this device's trustedKeys (${s(stranger)})`);
    expect(line).toContain(`keys/1.json is signed by ${s(k1)} and lists ${s(k1)}`);
    expect(line).toContain(`keys/2.json is signed by ${s(k1)} and lists ${s(k2)}`);
    expect(line).toContain(`keys/3.json is signed by ${s(k2)} and lists ${s(k3)}`);
    expect(line).toContain("no document lists this device's keys");
  });
});

describe("the rotation procedure in packaging/README.md", () => {
  it("keys init, rotate --add, sign with the new key, rotate --remove: the running device, a new-key device and an old image all follow", async () => {
    world = await World.create();
    const w = world;
    const k1 = await worldKey(w);
    await keysInit({ repoDir: w.repoDir, keyPath: k1.privateKeyPath });
    await expectInstalled(w, "1.0.0", k1);

    const k2 = await keygen({ outDir: join(w.root, "new") });
    await keysRotate({ repoDir: w.repoDir, keyPath: k1.privateKeyPath, add: [k2.publicKeyPath] });
    await expectInstalled(w, "2.0.0", k2);
    await keysRotate({ repoDir: w.repoDir, keyPath: k2.privateKeyPath, remove: [k1.keyid.slice(0, 16)] });

    for (const [dataDir, shipped] of [
      ["data-new-key", k2],
      ["data-old-image", k1],
    ] as const) {
      await w.writeConfig({ extraConfig: { dataDir, trustedKeys: [shipped.publicKeyPath] } });
      const r = await checkNow(w);
      expect(r.code, `${dataDir}: ${r.stderr}`).toBe(0);
      expect((await w.status()).activeVersion).toBe("2.0.0");
    }
    await expectUntrusted(w, "3.0.0", k1);
  });
});
