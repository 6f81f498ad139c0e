import { describe, expect, it } from "vitest";
import { rebuildCopyAdd } from "../../agent/delta/copy-add.js";
import { encodeCopyAdd } from "../../publisher/delta/copy-add-encoder.js";
import { type CopySource, copySource, offsetValue, VarintReader } from "../../shared/copy-add-format.js";
import type { CopyAddStreams } from "../../shared/delta-format.js";
import { varints } from "../helpers/delta-craft.js";

/** Deterministic bytes: text-like when `alphabet` is small, binary otherwise. */
function bytes(n: number, seed: number, alphabet = 256): Buffer {
  const out = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = alphabet === 256 ? s >>> 24 : 97 + ((s >>> 16) % alphabet);
  }
  return out;
}

const text = (lines: number, tag: (i: number) => string) =>
  Buffer.from(Array.from({ length: lines }, (_, i) => `"token_${i}": ${(i * 7919) % 100003}${tag(i)},`).join("\n"));

async function roundTrip(base: Buffer, target: Buffer): Promise<CopyAddStreams<Buffer>> {
  const streams = await encodeCopyAdd(base, target);
  expect(rebuildCopyAdd(base, streams, target.length, "w").equals(target)).toBe(true);
  return streams;
}

describe("copy-add streams", () => {
  const base = text(3000, (i) => (i % 250 === 0 ? " // old" : ""));

  it.each([
    ["generic text edits", () => text(3000, (i) => (i % 250 === 0 ? " // new value" : ""))],
    [
      "a binary edit",
      () => {
        const b = bytes(50_000, 3);
        const t = Buffer.from(b);
        for (let i = 100; i < t.length; i += 4000) t[i] = (t[i] as number) ^ 0x55;
        return { base: b, target: t };
      },
    ],
    ["a range inserted", () => Buffer.concat([base.subarray(0, 20_000), bytes(3000, 9, 20), base.subarray(20_000)])],
    ["a range removed", () => Buffer.concat([base.subarray(0, 10_000), base.subarray(25_000)])],
    ["identical windows", () => base],
    ["an empty target window", () => Buffer.alloc(0)],
    ["an empty base window (the target copies only from itself)", () => ({ base: Buffer.alloc(0), target: text(500, () => "") })],
    ["a run longer than its period (an overlapping copy)", () => Buffer.concat([Buffer.from("ab"), Buffer.alloc(10_000, 7)])],
  ] as const)("round-trip %s", async (_name, make) => {
    const made = make();
    const [b, t] = Buffer.isBuffer(made) ? [base, made] : [made.base, made.target];
    const streams = await roundTrip(b, t);
    if (t.length > 0 && b.equals(t)) expect(streams.literals.length).toBe(0);
  });

  it("spends few bytes on a small edit of a large window", async () => {
    const target = text(3000, (i) => (i === 1500 ? " // changed" : i % 250 === 0 ? " // old" : ""));
    const streams = await roundTrip(base, target);
    expect(streams.literals.length).toBeLessThan(40);
    expect(streams.instructions.length + streams.offsets.length).toBeLessThan(24);
  });

  it("is deterministic", async () => {
    const target = Buffer.concat([base.subarray(5000), bytes(2000, 4, 8), base.subarray(0, 5000)]);
    const [a, b] = [await encodeCopyAdd(base, target), await encodeCopyAdd(base, target)];
    expect(a.instructions.equals(b.instructions) && a.offsets.equals(b.offsets) && a.literals.equals(b.literals)).toBe(true);
  });

  it.each([
    { from: "base", start: 100, expected: 100 },
    { from: "base", start: 90, expected: 100 },
    { from: "base", start: 0, expected: 70_000 },
    { from: "base", start: 2 ** 26, expected: 0 },
    { from: "target", distance: 1 },
    { from: "target", distance: 12_345 },
  ] satisfies CopySource[])("offset value round-trips %o", (source) => {
    const expected = source.from === "base" ? source.expected : 0;
    expect(copySource(offsetValue(source), expected)).toEqual(source);
  });

  it("reads back what the writer wrote, up to 2^35", () => {
    const values = [0, 1, 127, 128, 16_383, 16_384, 2 ** 28, 2 ** 35 - 1];
    const reader = new VarintReader(varints(...values), "s");
    expect(values.map(() => reader.next())).toEqual(values);
    expect(reader.done).toBe(true);
  });
});

describe("rebuildCopyAdd refuses hostile streams", () => {
  const base = Buffer.from("0123456789abcdef");
  const ok = {
    instructions: varints(2, 4),
    offsets: varints(offsetValue({ from: "base", start: 3, expected: 0 })),
    literals: Buffer.from("xy"),
  };

  it("accepts the well-formed streams the cases below break", () => {
    expect(rebuildCopyAdd(base, ok, 6, "w").toString()).toBe("xy3456");
  });

  const base1 = (start: number) => varints(offsetValue({ from: "base", start, expected: 0 }));
  it.each([
    [
      "a copy past the end of the base window",
      { offsets: base1(14) },
      6,
      /copies base bytes \[14, 18\) of a 16-byte base window/,
    ],
    ["a copy before the base window", { offsets: base1(-1) }, 6, /copies base bytes \[-1, 3\)/],
    [
      "a target copy from before the window",
      { offsets: varints(offsetValue({ from: "target", distance: 3 })) },
      6,
      /copies from 3 bytes back at byte 2/,
    ],
    ["lengths that run past the window", {}, 5, /runs past the window's 5 bytes/],
    ["lengths that fall short of the window", {}, 7, /rebuild 6 bytes, the window holds 7/],
    ["more adds than literals", { literals: Buffer.from("x") }, 6, /adds 2 bytes at byte 0, the literals hold 1 more/],
    ["literals left over", { literals: Buffer.from("xyz") }, 6, /1 literal bytes are left over/],
    ["offsets left over", { offsets: Buffer.concat([base1(3), base1(0)]) }, 6, /offsets are left over/],
    ["a missing offset", { offsets: Buffer.alloc(0) }, 6, /offsets ends inside a number or lacks one/],
    [
      "an instruction stream cut inside a number",
      { instructions: Buffer.from([2, 0x84]) },
      6,
      /instructions ends inside a number/,
    ],
    [
      "an instruction stream cut between add and copy",
      { instructions: varints(2) },
      6,
      /instructions ends inside a number or lacks one/,
    ],
    [
      "a number longer than five bytes",
      { instructions: Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]) },
      6,
      /longer than 5 bytes/,
    ],
    ["an empty instruction", { instructions: varints(0, 0, 2, 4) }, 6, /an empty instruction at byte 0/],
    ["a huge length", { instructions: varints(2, 2 ** 34) }, 6, /runs past the window/],
  ] as const)("%s", (_name, change, length, message) => {
    const streams = { ...ok, ...change };
    let caught: unknown;
    try {
      rebuildCopyAdd(base, streams, length, "w");
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(message) });
  });
});
