import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSigningKeyPair, parsePrivateKey, parsePublicKey, signEnvelope, verifyEnvelope } from "../../shared/signature.js";

function pair() {
  const k = generateSigningKeyPair();
  return { priv: parsePrivateKey(k.privatePem, "k"), pub: parsePublicKey(k.publicPem, "k.pub") };
}

describe("signed envelopes", () => {
  it("verifies with a trusted key and names it", () => {
    const { priv, pub } = pair();
    const env = signEnvelope({ a: 1 }, [priv]);
    expect(verifyEnvelope(env, [pub], "doc")).toBe(pub.keyid);
  });

  it("refuses altered content as SIGNATURE_INVALID", () => {
    const { priv, pub } = pair();
    const env = signEnvelope({ version: "1.0.0" }, [priv]);
    const forged = { ...env, signed: { version: "6.6.6" } };
    expect(() => verifyEnvelope(forged, [pub], "doc")).toThrow(expect.objectContaining({ code: "SIGNATURE_INVALID" }));
  });

  it("refuses an untrusted signer as KEY_UNTRUSTED and unsigned as SIGNATURE_MISSING", () => {
    const a = pair();
    const b = pair();
    expect(() => verifyEnvelope(signEnvelope({ x: 1 }, [a.priv]), [b.pub], "doc")).toThrow(
      expect.objectContaining({ code: "KEY_UNTRUSTED" }),
    );
    expect(() => verifyEnvelope({ signed: { x: 1 }, signatures: [] }, [b.pub], "doc")).toThrow(
      expect.objectContaining({ code: "SIGNATURE_MISSING" }),
    );
  });

  it("refuses non-Ed25519 keys and private keys offered as public", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    expect(() => parsePrivateKey(rsa.privateKey.export({ type: "pkcs8", format: "pem" }), "rsa.key")).toThrow(
      expect.objectContaining({ code: "KEY_INVALID" }),
    );
    expect(() => parsePublicKey(generateSigningKeyPair().privatePem, "oops.pub")).toThrow(/private key/);
    expect(() => parsePrivateKey("garbage", "g.key")).toThrow(expect.objectContaining({ code: "KEY_INVALID" }));
  });
});
