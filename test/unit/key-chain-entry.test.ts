import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { enterChain } from "../../shared/key-chain-entry.js";
import type { PublicKeyInfo, SignedEnvelope } from "../../shared/signature.js";
import { keysDocument as doc, type TestKey as Key, testKey as key } from "../helpers/keys-documents.js";

const [k1, k2, k3, stranger] = [key(), key(), key(), key()] as [Key, Key, Key, Key];
/** Rotated twice: keys/1 by K1 listing K1, keys/2 by K1 listing K2, keys/3 by K2 listing K3. */
const twice = [doc(1, [k1], k1), doc(2, [k2], k1), doc(3, [k3], k2)];
const ids = (keys: PublicKeyInfo[]) => keys.map((k) => k.keyid);

describe("entering the keys chain from the shipped keys", () => {
  it("trusts the shipped keys when the repository has no keys documents", () => {
    expect(enterChain([], [k1.pub])).toEqual({ accepted: [], keys: [k1.pub], version: 0 });
  });

  it.each([
    { shipped: "K1", keys: [k1], from: 1 },
    { shipped: "K2", keys: [k2], from: 3 },
    { shipped: "K1 and K3", keys: [k1, k3], from: 1 },
  ])("a device shipped with $shipped enters at the lowest document it signs and follows to the newest", ({ keys, from }) => {
    const entry = enterChain(
      twice,
      keys.map((k) => k.pub),
    );
    expect(entry.accepted.map((a) => a.version)).toEqual([1, 2, 3].filter((v) => v >= from));
    expect(ids(entry.keys)).toEqual([k3.id]);
    expect(entry.version).toBe(3);
  });

  it("a device shipped with the newest document's key, which has signed nothing yet, trusts only that key and keeps nothing", () => {
    const entry = enterChain(twice, [k3.pub, stranger.pub]);
    expect(entry).toMatchObject({ accepted: [], version: 3 });
    expect(ids(entry.keys)).toEqual([k3.id]);
  });

  it("K2 starts from keys/2 before the second rotation exists", () => {
    const entry = enterChain(twice.slice(0, 2), [k2.pub]);
    expect(entry).toMatchObject({ accepted: [], version: 2 });
    expect(ids(entry.keys)).toEqual([k2.id]);
  });

  it("an unrelated key is refused with every document's signers and keys and the device's own", () => {
    let message = "";
    try {
      enterChain(twice, [stranger.pub]);
    } catch (err) {
      expect(err).toMatchObject({ code: "KEY_UNTRUSTED" });
      message = (err as Error).message;
    }
    expect(message).toContain(`this device's trustedKeys (${stranger.short})`);
    expect(message).toContain(`keys/1.json is signed by ${k1.short} and lists ${k1.short}`);
    expect(message).toContain(`keys/2.json is signed by ${k1.short} and lists ${k2.short}`);
    expect(message).toContain(`keys/3.json is signed by ${k2.short} and lists ${k3.short}`);
    expect(message).toMatch(/no document lists this device's keys: either trustedKeys names the wrong key, or a new key/);
    expect(message).toContain(`keys document 4, listing that key and signed by a key of keys document 3: ${k3.short}`);
  });

  it("a key not rotated in yet reads the same way but names the document the repository still lacks", () => {
    expect(() => enterChain(twice.slice(0, 2), [k3.pub])).toThrow(
      `it needs keys document 3, listing that key and signed by a key of keys document 2: ${k2.short}`,
    );
  });

  it("a shipped key that a rotation removed, by a signer the device lacks, is refused as removed", () => {
    const removed = [doc(1, [k1], k1), doc(2, [k1, k2], k1), doc(3, [k1], k1)];
    expect(() => enterChain(removed, [k2.pub])).toThrow(
      expect.objectContaining({
        code: "KEY_UNTRUSTED",
        message: expect.stringContaining(
          "keys document 2 lists this device's key, but keys document 3 dropped it, signed by a key this device does not have",
        ),
      }),
    );
  });

  it("a document signed on top of the chain by a removed shipped key does not become the start", () => {
    // K1 was removed by keys/2; a leaked K1 signs a keys/4 listing an attacker's key.
    const forged = [...twice, doc(4, [stranger], k1)];
    for (const shipped of [[k1.pub], [k1.pub, k3.pub]]) {
      expect(() => enterChain(forged, shipped)).toThrow(
        expect.objectContaining({
          code: "KEY_UNTRUSTED",
          message: expect.stringMatching(
            new RegExp(
              `^keys document 4 \\(keys/4.json\\) is signed by ${k1.short}, but only a key of keys document 3 may sign it \\(${k3.short}`,
            ),
          ),
        }),
      );
    }
  });

  it("a signature entry that claims a shipped key but does not verify fails the entry", () => {
    const claimed = twice.slice(0, 2);
    const tampered = {
      ...doc(3, [stranger], stranger),
      signatures: [{ keyid: k2.id, sig: Buffer.alloc(64).toString("base64") }],
    };
    expect(() => enterChain([...claimed, tampered], [k2.pub])).toThrow(expect.objectContaining({ code: "SIGNATURE_INVALID" }));
  });

  it("a malformed newest document is refused as such, not trusted on a listed key", () => {
    const bad = doc(3, [k3], k2);
    (bad.signed as { version: number }).version = 7;
    expect(() => enterChain([...twice.slice(0, 2), bad], [k3.pub])).toThrow(
      expect.objectContaining({ code: "METADATA_MALFORMED" }),
    );
  });

  it("a long chain is described by its newest documents", () => {
    const long = [doc(1, [k1], k1)];
    for (let v = 2; v <= 8; v++) long.push(doc(v, [k1], k1));
    expect(() => enterChain(long, [stranger.pub])).toThrow(/: keys\/1.json to keys\/3.json not shown; keys\/4.json is signed by/);
  });

  it("never trusts a key the newest document of an honest chain does not list, and keys of every signer reach the end", () => {
    const pool = [key(), key(), key(), key(), key()];
    // An honest chain: each document lists a non-empty subset of the pool and is signed by a key of the one before.
    const chain = fc
      .array(fc.tuple(fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }), fc.nat()), {
        minLength: 1,
        maxLength: 6,
      })
      .map((steps) => {
        const docs: SignedEnvelope<unknown>[] = [];
        const signers: number[] = [];
        let previous = steps[0]?.[0] ?? [0];
        steps.forEach(([listed, pick], i) => {
          const signer = (i === 0 ? listed : previous)[pick % (i === 0 ? listed : previous).length] as number;
          docs.push(
            doc(
              i + 1,
              listed.map((j) => pool[j] as Key),
              pool[signer] as Key,
            ),
          );
          signers.push(signer);
          previous = listed;
        });
        return { docs, signers, newest: previous };
      });
    fc.assert(
      fc.property(chain, fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }), (c, shippedIdx) => {
        const shipped = shippedIdx.map((j) => (pool[j] as Key).pub);
        const newestIds = c.newest.map((j) => (pool[j] as Key).id);
        let entry: ReturnType<typeof enterChain>;
        try {
          entry = enterChain(c.docs, shipped);
        } catch (err) {
          // Refused only when no shipped key signed a document and none is listed by the newest.
          expect(err).toMatchObject({ code: "KEY_UNTRUSTED" });
          expect(shippedIdx.some((j) => c.signers.includes(j) || c.newest.includes(j))).toBe(false);
          return;
        }
        expect(entry.version).toBe(c.docs.length);
        for (const id of ids(entry.keys)) expect(newestIds).toContain(id);
        if (shippedIdx.some((j) => c.signers.includes(j))) expect(ids(entry.keys).sort()).toEqual([...newestIds].sort());
      }),
      { seed: 10, numRuns: 60 },
    );
  });
});
