import { describe, expect, it } from "vitest";
import { verifyWithdrawalText } from "../../agent/sources/withdrawal-intake.js";
import type { DeniedRow } from "../../agent/state/store.js";
import { decideCheck } from "../../agent/update/check-decision.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { CHANNEL_TYPE, type ChannelPointer, RELEASE_TYPE, type ReleaseManifest } from "../../shared/manifest.js";
import { generateSigningKeyPair, parsePrivateKey, parsePublicKey, signEnvelope } from "../../shared/signature.js";
import { parseWithdrawalList, WITHDRAWALS_TYPE, type WithdrawalEntry, type WithdrawalList } from "../../shared/withdrawals.js";

const keys = generateSigningKeyPair();
const priv = parsePrivateKey(keys.privatePem, "k");
const pub = parsePublicKey(keys.publicPem, "k.pub");
const other = parsePrivateKey(generateSigningKeyPair().privatePem, "other");
const now = new Date("2026-06-01T00:00:00Z");

const entry = (version: string, action: WithdrawalEntry["action"] = "move"): WithdrawalEntry => ({
  version,
  reason: "NaN outputs on int8 boards",
  withdrawnAt: "2026-05-20T00:00:00.000Z",
  action,
});

function list(patch: Partial<WithdrawalList> = {}): WithdrawalList {
  return {
    _type: WITHDRAWALS_TYPE,
    specVersion: 1,
    name: "demo",
    sequence: 3,
    createdAt: "2026-05-20T00:00:00.000Z",
    expiresAt: "2026-06-20T00:00:00.000Z",
    entries: [entry("1.1.0")],
    ...patch,
  };
}
const signed = (l: WithdrawalList, by = priv) => canonicalJson(signEnvelope(l, [by]));
const ctx = { trustedKeys: [pub], name: "demo", now };

describe("withdrawal list document", () => {
  it("parses a well-formed list", () => {
    expect(parseWithdrawalList(list({ entries: [entry("1.1.0"), entry("1.2.0", "stay")] })).entries).toHaveLength(2);
  });

  it("lists every problem at once", () => {
    const bad = {
      ...list(),
      _type: "edgepull/channel",
      sequence: 0,
      expiresAt: "soon",
      entries: [{ ...entry("1.1.0"), action: "delete" }, entry("1.1.0"), { ...entry("v2"), reason: "", releaseDigest: "ABC" }],
    };
    let message = "";
    try {
      parseWithdrawalList(bad);
    } catch (err) {
      expect(err).toMatchObject({ code: "METADATA_MALFORMED" });
      message = (err as Error).message;
    }
    for (const part of [
      '_type must be "edgepull/withdrawals"',
      "sequence must be a positive integer",
      "expiresAt must be an ISO 8601 time",
      'entries[0].action must be "move" or "stay"',
      "entries[1].version 1.1.0 is listed twice",
      'entries[2]: version "v2" is not a semantic version',
      "entries[2].reason must be a non-empty string",
      "entries[2].releaseDigest must be 64 lowercase hex digits",
    ]) {
      expect(message).toContain(part);
    }
  });
});

describe("verifyWithdrawalText: signature, name, expiry and sequence", () => {
  it("accepts a signed, fresh list and recognises the one it already accepted", () => {
    const t = signed(list());
    expect(verifyWithdrawalText(t, ctx).alreadyAccepted).toBe(false);
    expect(verifyWithdrawalText(t, { ...ctx, accepted: { sequence: 3, text: t } }).alreadyAccepted).toBe(true);
    // Re-serialised but the same signed content: still the same list.
    const spaced = JSON.stringify(JSON.parse(t), null, 2);
    expect(verifyWithdrawalText(spaced, { ...ctx, accepted: { sequence: 3, text: t } }).alreadyAccepted).toBe(true);
  });

  it.each([
    ["a lower sequence (a replay that would un-withdraw)", signed(list({ sequence: 2, entries: [] })), "SEQUENCE_REPLAY"],
    ["the same sequence with other content", signed(list({ entries: [] })), "SEQUENCE_REPLAY"],
    ["an expired list", signed(list({ sequence: 4, expiresAt: "2026-05-31T00:00:00Z" })), "METADATA_EXPIRED"],
    ["another model's list", signed(list({ sequence: 4, name: "other" })), "NAME_MISMATCH"],
    ["a list signed by an unknown key", signed(list({ sequence: 4 }), other), "KEY_UNTRUSTED"],
    ["garbage", "{", "METADATA_MALFORMED"],
  ])("refuses %s", (_name, text, code) => {
    const accepted = { sequence: 3, text: signed(list()) };
    expect(() => verifyWithdrawalText(text, { ...ctx, accepted })).toThrow(expect.objectContaining({ code }));
  });

  it("judges expiry by the trusted time: a clock reset to 1970 does not revive an expired list", () => {
    const lastPointerText = canonicalJson(signEnvelope({ createdAt: "2026-06-25T00:00:00Z" }, [priv]));
    expect(() => verifyWithdrawalText(signed(list()), { ...ctx, now: new Date(0), lastPointerText })).toThrow(
      expect.objectContaining({ code: "METADATA_EXPIRED" }),
    );
  });
});

describe("decideCheck with withdrawals", () => {
  const release = (version: string): ReleaseManifest => ({
    _type: RELEASE_TYPE,
    specVersion: 1,
    name: "demo",
    version,
    createdAt: "2026-05-01T00:00:00Z",
    files: [{ path: "model.bin", size: 3, sha256: "a".repeat(64), mode: 0o644 }],
    bundle: { url: `releases/demo/${version}/demo-${version}.tar.gz`, size: 100, sha256: "b".repeat(64) },
  });
  const pointer = (version: string, rollout?: ChannelPointer["rollout"]): ChannelPointer => ({
    _type: CHANNEL_TYPE,
    specVersion: 1,
    name: "demo",
    channel: "stable",
    version,
    sequence: 9,
    createdAt: "2026-05-01T00:00:00Z",
    expiresAt: "2026-07-01T00:00:00Z",
    release: { url: `releases/demo/${version}/release.json`, size: 1, sha256: "c".repeat(64) },
    ...(rollout ? { rollout } : {}),
  });
  const input = (
    target: string,
    active: string,
    withdrawals: WithdrawalList | undefined,
    rollout?: ChannelPointer["rollout"],
  ) => ({
    deviceId: "dev-1",
    arch: "x64",
    labels: [],
    configHold: false,
    operatorHold: undefined,
    release: release(target),
    pointer: pointer(target, rollout),
    activeVersion: active,
    withdrawals,
    denied: undefined,
    failures: { count: 0, lastAt: null },
    now,
    retryBaseMs: 60_000,
    retryCapMs: 3_600_000,
  });
  const summary = (r: ReturnType<typeof decideCheck>) => [
    r.decision.action === "install" ? "install" : r.decision.reason,
    r.leaving?.version ?? null,
  ];

  it("refuses a withdrawn target with VERSION_WITHDRAWN, naming the reason", () => {
    expect(() => decideCheck(input("1.1.0", "1.0.0", list()))).toThrow(
      expect.objectContaining({
        code: "VERSION_WITHDRAWN",
        message: expect.stringContaining("1.1.0 was withdrawn by the publisher at 2026-05-20T00:00:00.000Z: NaN outputs"),
      }),
    );
  });

  it("a device on a withdrawn version (move) takes the channel's older release, whatever its rollout share", () => {
    const paused = { percent: 0, paused: true };
    expect(summary(decideCheck(input("1.0.0", "1.1.0", list(), paused)))).toEqual(["install", "1.1.0"]);
    // Without the withdrawal the share holds it back.
    expect(summary(decideCheck(input("1.0.0", "1.1.0", undefined, paused)))).toEqual(["rollout-paused", null]);
  });

  it("a device on a withdrawn version (move) whose channel still names it waits, saying why", () => {
    const r = decideCheck(input("1.1.0", "1.1.0", list()));
    expect(r.decision).toMatchObject({
      action: "none",
      reason: "withdrawn",
      detail: expect.stringMatching(/channel still names it/),
    });
  });

  it("stay keeps the version, and ordinary channel rules still apply", () => {
    const stay = list({ entries: [entry("1.1.0", "stay")] });
    expect(decideCheck(input("1.1.0", "1.1.0", stay)).decision).toMatchObject({
      reason: "withdrawn",
      detail: expect.stringMatching(/chose to keep it running/),
    });
    expect(summary(decideCheck(input("1.0.0", "1.1.0", stay, { percent: 0, paused: false })))).toEqual(["not-in-rollout", null]);
    expect(summary(decideCheck(input("1.2.0", "1.1.0", stay)))).toEqual(["install", null]);
  });

  it("the move goes only to a release that is not deny-listed", () => {
    const denied: DeniedRow = { version: "1.0.0", releaseDigest: null, errorCode: "HEALTH_FAILED", reason: "x", deniedAt: "" };
    expect(summary(decideCheck({ ...input("1.0.0", "1.1.0", list()), denied }))).toEqual(["denied", "1.1.0"]);
  });

  it("a deny-listed target is reported as denied, not as waiting behind a hold or a paused rollout", () => {
    const denied: DeniedRow = { version: "1.2.0", releaseDigest: null, errorCode: "HEALTH_TIMEOUT", reason: "x", deniedAt: "" };
    const held = { ...input("1.2.0", "1.1.0", undefined), operatorHold: { reason: "servicing" }, denied };
    expect(summary(decideCheck(held))).toEqual(["denied", null]);
    const paused = { ...input("1.2.0", "1.1.0", undefined, { percent: 0, paused: true }), denied };
    expect(summary(decideCheck(paused))).toEqual(["denied", null]);
    // Not deny-listed: the hold is what holds it.
    expect(summary(decideCheck({ ...held, denied: undefined }))).toEqual(["held", null]);
  });
});
