import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
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
