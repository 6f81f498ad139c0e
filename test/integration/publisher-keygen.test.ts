import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { keygen } from "../../publisher/commands/keygen.js";
import { loadPrivateKey } from "../../publisher/key-file.js";
import { generateSigningKeyPair, parsePublicKey } from "../../shared/signature.js";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-keygen-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe("keygen", () => {
  it("writes a 0600 private key and a 0644 public key that belong together, creating the folder", async () => {
    const keys = await keygen({ outDir: join(root, "a", "keys") });
    expect(keys.privateKeyPath).toBe(join(root, "a", "keys", "publisher.key"));
    expect(keys.publicKeyPath).toBe(join(root, "a", "keys", "publisher.pub"));
    expect(await modeOf(keys.privateKeyPath)).toBe(0o600);
    expect(await modeOf(keys.publicKeyPath)).toBe(0o644);
    expect(await readFile(keys.privateKeyPath, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const priv = await loadPrivateKey(keys.privateKeyPath);
    const pub = parsePublicKey(await readFile(keys.publicKeyPath), keys.publicKeyPath);
    expect(priv.keyid).toBe(keys.keyid);
    expect(pub.keyid).toBe(keys.keyid);
  });

  it("gives the private key 0600 whatever the umask, and the public key 0644 even under umask 077", async () => {
    const previous = process.umask(0);
    try {
      const open = await keygen({ outDir: join(root, "open") });
      expect(await modeOf(open.privateKeyPath)).toBe(0o600);
      process.umask(0o077);
      const strict = await keygen({ outDir: join(root, "strict") });
      expect(await modeOf(strict.privateKeyPath)).toBe(0o600);
      expect(await modeOf(strict.publicKeyPath)).toBe(0o644);
    } finally {
      process.umask(previous);
    }
  });

  it("refuses to replace an existing key unless forced, leaving it untouched", async () => {
    const first = await keygen({ outDir: root });
    const before = await readFile(first.privateKeyPath, "utf8");
    await expect(keygen({ outDir: root })).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("--force") });
    expect(await readFile(first.privateKeyPath, "utf8")).toBe(before);

    const second = await keygen({ outDir: root, force: true });
    expect(second.keyid).not.toBe(first.keyid);
    expect((await loadPrivateKey(second.privateKeyPath)).keyid).toBe(second.keyid);
    expect(await modeOf(second.privateKeyPath)).toBe(0o600);
  });

  it("refuses when only the public key exists, and leaves no private key behind", async () => {
    await writeFile(join(root, "publisher.pub"), "someone else's key");
    await expect(keygen({ outDir: root })).rejects.toMatchObject({ code: "USAGE" });
    await expect(stat(join(root, "publisher.key"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("loadPrivateKey", () => {
  it.each([
    ["a missing file", async () => join(root, "nope.key"), /cannot read private key .*nope\.key \(ENOENT\)/],
    ["a folder", async () => root, /cannot read private key/],
    [
      "garbage",
      async () => {
        await writeFile(join(root, "g.key"), "not a key at all");
        return join(root, "g.key");
      },
      /g\.key is not a PEM file/,
    ],
    [
      "an RSA key",
      async () => {
        const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
        await writeFile(join(root, "rsa.key"), rsa.privateKey.export({ type: "pkcs8", format: "pem" }));
        return join(root, "rsa.key");
      },
      /rsa\.key is a rsa key, expected ed25519/,
    ],
    [
      "a public key",
      async () => {
        await writeFile(join(root, "x.pub"), generateSigningKeyPair().publicPem);
        return join(root, "x.pub");
      },
      /x\.pub is not a PEM private key/,
    ],
  ])("refuses %s as KEY_INVALID naming the file", async (_what, make, message) => {
    const path = await make();
    await expect(loadPrivateKey(path)).rejects.toMatchObject({ code: "KEY_INVALID", message: expect.stringMatching(message) });
  });
});
