import { describe, expect, it } from "vitest";
import { applyWithdrawalsMessage, emptyWithdrawalBoard, withdrawalRows } from "../../publisher/fleet/fleet-withdrawals.js";
import { nextWithdrawalList, signWithdrawalList } from "../../publisher/withdraw/withdrawal-file.js";
import { generateSigningKeyPair, parsePrivateKey } from "../../shared/signature.js";
import { channelTopic, WITHDRAWALS_MAX_BYTES, withdrawalsTopic } from "../../shared/topics.js";
import type { WithdrawalEntry } from "../../shared/withdrawals.js";

const key = parsePrivateKey(generateSigningKeyPair().privatePem, "test");
const NOW = new Date("2026-03-01T00:00:00.000Z");
const entry = (version: string): WithdrawalEntry => ({
  version,
  reason: "NaN outputs",
  withdrawnAt: "2026-02-01T00:00:00.000Z",
  action: "move",
});

/** A list of `name` withdrawing `count` versions, signed `expiresInDays` before its expiry as of NOW. */
function list(name: string, expiresInDays: number, count = 1, sequence = 1): Buffer {
  const entries = Array.from({ length: count }, (_, i) => entry(`1.${i}.0`));
  return signWithdrawalList(nextWithdrawalList(name, sequence - 1, entries, NOW, expiresInDays), key);
}

describe("fleet view: retained withdrawal lists", () => {
  it("keeps the newest list per model and warns for expired and soon-expiring ones, by name", () => {
    const board = emptyWithdrawalBoard();
    expect(applyWithdrawalsMessage(board, withdrawalsTopic("m"), list("m", 10))).toMatchObject({ kind: "withdrawals" });
    applyWithdrawalsMessage(board, withdrawalsTopic("m"), list("m", 2, 3, 2));
    applyWithdrawalsMessage(board, withdrawalsTopic("k"), list("k", -1));
    applyWithdrawalsMessage(board, withdrawalsTopic("a"), list("a", 40));
    const { withdrawalLists, warnings } = withdrawalRows(board, NOW, 7);
    expect(withdrawalLists.map((l) => [l.name, l.sequence, l.entries, l.expired, l.expiresSoon, l.daysLeft])).toEqual([
      ["a", 1, 1, false, false, 40],
      ["k", 1, 1, true, false, -1],
      ["m", 2, 3, false, true, 2],
    ]);
    expect(warnings).toEqual([
      "warning: withdrawal list of k (sequence 1, 1 withdrawn) EXPIRED at 2026-02-28T00:00:00.000Z: every device's channel check fails (METADATA_EXPIRED); run edge-publish refresh",
      "warning: withdrawal list of m (sequence 2, 3 withdrawn) expires at 2026-03-03T00:00:00.000Z, in 2 days: run edge-publish refresh before then",
    ]);
    expect(applyWithdrawalsMessage(board, withdrawalsTopic("k"), Buffer.alloc(0)).kind).toBe("cleared-withdrawals");
    expect(withdrawalRows(board, NOW, 7).withdrawalLists.map((l) => l.name)).toEqual(["a", "m"]);
  });

  it("skips garbage, oversized payloads, another model's list and foreign topics, with the reason", () => {
    const board = emptyWithdrawalBoard();
    const topic = withdrawalsTopic("m");
    const cases: [string, Buffer, RegExp][] = [
      [topic, Buffer.from("{not json"), /^METADATA_MALFORMED/],
      [topic, Buffer.from(JSON.stringify({ signed: { hello: 1 }, signatures: [] })), /^METADATA_MALFORMED/],
      [topic, Buffer.alloc(WITHDRAWALS_MAX_BYTES + 1, 0x20), /bytes; at most/],
      [topic, list("other", 5), /the withdrawal list of other on the topic of m/],
      [channelTopic("m", "stable"), list("m", 5), /not a withdrawal list topic/],
    ];
    for (const [t, payload, reason] of cases) {
      const outcome = applyWithdrawalsMessage(board, t, payload);
      expect(outcome.kind).toBe("skipped");
      expect(outcome.kind === "skipped" && outcome.reason).toMatch(reason);
    }
    expect(board.size).toBe(0);
  });
});
