import { describe, expect, it } from "vitest";
import { applyPointerMessage, emptyPointerBoard, pointerRows } from "../../publisher/fleet/fleet-pointers.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { CHANNEL_TYPE, type ChannelPointer } from "../../shared/manifest.js";
import { generateSigningKeyPair, parsePrivateKey, signEnvelope } from "../../shared/signature.js";
import { channelTopic, POINTER_MAX_BYTES } from "../../shared/topics.js";

const key = parsePrivateKey(generateSigningKeyPair().privatePem, "test");
const NOW = new Date("2026-03-01T00:00:00.000Z");
const DAY = 86_400_000;

function pointer(name: string, channel: string, expiresInDays: number, sequence = 1): Buffer {
  const p: ChannelPointer = {
    _type: CHANNEL_TYPE,
    specVersion: 1,
    name,
    channel,
    version: "1.2.0",
    sequence,
    createdAt: NOW.toISOString(),
    expiresAt: new Date(NOW.getTime() + expiresInDays * DAY).toISOString(),
    release: { url: `releases/${name}/1.2.0/release.json`, size: 2, sha256: "0".repeat(64) },
  };
  return Buffer.from(canonicalJson(signEnvelope(p, [key])));
}

describe("fleet view: retained channel pointers", () => {
  it("keeps the newest pointer per topic and warns for expired and soon-expiring ones, in name/channel order", () => {
    const board = emptyPointerBoard();
    expect(applyPointerMessage(board, channelTopic("m", "stable"), pointer("m", "stable", 10))).toMatchObject({
      kind: "pointer",
    });
    expect(applyPointerMessage(board, channelTopic("m", "stable"), pointer("m", "stable", 2, 2)).kind).toBe("pointer");
    applyPointerMessage(board, channelTopic("m", "canary"), pointer("m", "canary", -1));
    applyPointerMessage(board, channelTopic("a", "lts"), pointer("a", "lts", 40));
    const { pointers, warnings } = pointerRows(board, NOW, 7);
    expect(pointers.map((p) => [p.name, p.channel, p.sequence, p.expired, p.expiresSoon, p.daysLeft])).toEqual([
      ["a", "lts", 1, false, false, 40],
      ["m", "canary", 1, true, false, -1],
      ["m", "stable", 2, false, true, 2],
    ]);
    expect(warnings).toEqual([
      "warning: m canary (1.2.0, sequence 1) EXPIRED at 2026-02-28T00:00:00.000Z: devices refuse it; run edge-publish refresh",
      "warning: m stable (1.2.0, sequence 2) expires at 2026-03-03T00:00:00.000Z, in 2 days: run edge-publish refresh before then",
    ]);
    expect(applyPointerMessage(board, channelTopic("m", "canary"), Buffer.alloc(0)).kind).toBe("cleared-pointer");
    expect(pointerRows(board, NOW, 7).pointers.map((p) => p.channel)).toEqual(["lts", "stable"]);
  });

  it("skips garbage, oversized payloads and a pointer on another channel's topic, with the reason", () => {
    const board = emptyPointerBoard();
    const topic = channelTopic("m", "stable");
    const cases: [Buffer, RegExp][] = [
      [Buffer.from("{not json"), /^METADATA_MALFORMED/],
      [Buffer.from(JSON.stringify({ signed: { hello: 1 }, signatures: [] })), /^METADATA_MALFORMED/],
      [Buffer.alloc(POINTER_MAX_BYTES + 1, 0x20), /bytes; at most/],
      [pointer("m", "canary", 5), /a pointer for m canary on the topic of m stable/],
    ];
    for (const [payload, reason] of cases) {
      const outcome = applyPointerMessage(board, topic, payload);
      expect(outcome.kind).toBe("skipped");
      expect(outcome.kind === "skipped" && outcome.reason).toMatch(reason);
    }
    expect(board.size).toBe(0);
  });
});
