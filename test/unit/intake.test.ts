import { describe, expect, it } from "vitest";
import { verifyPointerText, verifyReleaseText } from "../../agent/sources/intake.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { CHANNEL_TYPE, type ChannelPointer, RELEASE_TYPE, type ReleaseManifest } from "../../shared/manifest.js";
import { generateSigningKeyPair, parsePrivateKey, parsePublicKey, signEnvelope } from "../../shared/signature.js";

const keys = generateSigningKeyPair();
const priv = parsePrivateKey(keys.privatePem, "k");
const pub = parsePublicKey(keys.publicPem, "k.pub");
const now = new Date("2026-06-01T00:00:00Z");

const release: ReleaseManifest = {
  _type: RELEASE_TYPE,
  specVersion: 1,
  name: "demo",
  version: "1.2.0",
  createdAt: "2026-05-01T00:00:00Z",
  files: [{ path: "model.bin", size: 3, sha256: "a".repeat(64), mode: 0o644 }],
  bundle: { url: "releases/demo/1.2.0/demo-1.2.0.tar.gz", size: 100, sha256: "b".repeat(64) },
};
const releaseText = canonicalJson(signEnvelope(release, [priv]));

function pointer(patch: Partial<ChannelPointer> = {}): ChannelPointer {
  return {
    _type: CHANNEL_TYPE,
    specVersion: 1,
    name: "demo",
    channel: "stable",
    version: "1.2.0",
    sequence: 5,
    createdAt: "2026-05-01T00:00:00Z",
    expiresAt: "2026-07-01T00:00:00Z",
    release: { url: "releases/demo/1.2.0/release.json", size: Buffer.byteLength(releaseText), sha256: sha256Hex(releaseText) },
    ...patch,
  };
}
const text = (p: ChannelPointer) => canonicalJson(signEnvelope(p, [priv]));
const ctx = { trustedKeys: [pub], name: "demo", channel: "stable", now, highestSequence: 4 };

describe("verifyPointerText", () => {
  it("accepts a fresh, signed, newer pointer", () => {
    const v = verifyPointerText(text(pointer()), ctx);
    expect(v.pointer.sequence).toBe(5);
    expect(v.alreadyAccepted).toBe(false);
  });

  it("recognises the pointer it already accepted", () => {
    const t = text(pointer());
    expect(verifyPointerText(t, { ...ctx, highestSequence: 5, lastAcceptedText: t }).alreadyAccepted).toBe(true);
  });

  it.each([
    ["an older sequence", () => text(pointer({ sequence: 3 })), {}, "SEQUENCE_REPLAY"],
    [
      "a reused sequence with other content",
      () => text(pointer({ version: "9.0.0" })),
      { highestSequence: 5, lastAcceptedText: text(pointer()) },
      "SEQUENCE_REPLAY",
    ],
    ["an expired pointer", () => text(pointer({ expiresAt: "2026-05-31T00:00:00Z" })), {}, "METADATA_EXPIRED"],
    ["another channel", () => text(pointer({ channel: "canary" })), {}, "NAME_MISMATCH"],
    [
      "an untrusted signer",
      () => canonicalJson(signEnvelope(pointer(), [parsePrivateKey(generateSigningKeyPair().privatePem, "x")])),
      {},
      "KEY_UNTRUSTED",
    ],
    ["no signatures", () => JSON.stringify({ signed: pointer(), signatures: [] }), {}, "SIGNATURE_MISSING"],
    [
      "forged content",
      () => JSON.stringify({ ...JSON.parse(text(pointer())), signed: pointer({ version: "6.6.6" }) }),
      {},
      "SIGNATURE_INVALID",
    ],
    ["malformed JSON", () => "{not json", {}, "METADATA_MALFORMED"],
    ["a bad schema", () => text({ ...pointer(), sequence: -1 }), {}, "METADATA_MALFORMED"],
  ])("refuses %s", (_name, make, patch, code) => {
    expect(() => verifyPointerText(make(), { ...ctx, ...patch })).toThrow(expect.objectContaining({ code }));
  });
});

describe("expiry with a wrong clock", () => {
  it("judges expiry by the last trusted pointer's creation time when the device clock is behind it", () => {
    const accepted = text(pointer({ sequence: 4, createdAt: "2026-05-20T00:00:00Z" }));
    const stale = text(pointer({ sequence: 5, expiresAt: "2026-05-10T00:00:00Z" }));
    const clockReset = new Date("1970-01-01T00:00:00Z");
    expect(() => verifyPointerText(stale, { ...ctx, now: clockReset, lastAcceptedText: accepted })).toThrow(
      expect.objectContaining({ code: "METADATA_EXPIRED" }),
    );
    // Without that floor, a reset clock would have taken it.
    expect(verifyPointerText(stale, { ...ctx, now: clockReset }).pointer.sequence).toBe(5);
  });

  it("a device whose clock runs ahead refuses pointers as expired, naming the expiry", () => {
    expect(() => verifyPointerText(text(pointer()), { ...ctx, now: new Date("2030-01-01T00:00:00Z") })).toThrow(
      /expired at 2026-07-01/,
    );
  });
});

describe("verifyReleaseText", () => {
  it("accepts the release the pointer names", () => {
    expect(verifyReleaseText(releaseText, pointer(), [pub]).release.version).toBe("1.2.0");
  });

  it("refuses a release whose bytes differ from the pointer's digest", () => {
    const other = canonicalJson(signEnvelope({ ...release, createdAt: "2026-05-02T00:00:00Z" }, [priv]));
    expect(() => verifyReleaseText(other, pointer(), [pub])).toThrow(expect.objectContaining({ code: "DIGEST_MISMATCH" }));
  });
});
