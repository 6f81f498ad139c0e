import { brotliDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { checkBsdiffHeader } from "../../agent/delta/bspatch.js";
import { xorPlanes } from "../../publisher/delta/tensor-encoder.js";
import {
  DELTA_FORMAT,
  DELTA_FORMAT_VERSION,
  type DeltaHeader,
  encodeDeltaPrefix,
  pieceCount,
  pieceRange,
} from "../../shared/delta-format.js";
import { parseSafetensorsHeader } from "../../shared/safetensors-header.js";

const header: DeltaHeader = {
  format: DELTA_FORMAT,
  formatVersion: DELTA_FORMAT_VERSION,
  baseVersion: "1.0.0",
  targetVersion: "1.1.0",
  windowBytes: 4096,
  chunkBytes: 4096,
  dataLength: 3,
  files: [{ path: "a", op: "full", data: { at: 0, len: 3, codec: "raw" } }],
};

describe("delta prefix", () => {
  it("is magic, the stored and decompressed header lengths (32-bit little-endian) and brotli of canonical JSON", async () => {
    const prefix = await encodeDeltaPrefix(header);
    expect(prefix.subarray(0, 8).toString("ascii")).toBe("EPDELTA2");
    const stored = prefix.readUInt32LE(8);
    expect(prefix.length).toBe(16 + stored);
    const json = brotliDecompressSync(prefix.subarray(16)).toString("utf8");
    expect(prefix.readUInt32LE(12)).toBe(Buffer.byteLength(json));
    expect(json.startsWith('{"baseVersion":"1.0.0","chunkBytes":4096,"dataLength":3,"files":[{"data":{"at":0,')).toBe(true);
    expect(JSON.parse(json)).toEqual(header);
  });

  it("does not depend on key order", async () => {
    const shuffled = Object.fromEntries(Object.entries(header).reverse()) as unknown as DeltaHeader;
    expect((await encodeDeltaPrefix(shuffled)).equals(await encodeDeltaPrefix(header))).toBe(true);
  });
});

describe("pieces", () => {
  it.each([
    [0, 4, 10, [0, 4]],
    [2, 4, 10, [8, 10]],
    [0, 4, 0, [0, 0]],
  ] as const)("piece %i of %i over %i bytes", (i, piece, size, range) => {
    expect(pieceRange(i, piece, size)).toEqual(range);
  });
  it.each([
    [0, 4, 0],
    [1, 4, 1],
    [8, 4, 2],
    [9, 4, 3],
  ])("%i bytes in pieces of %i: %i pieces", (size, piece, count) => {
    expect(pieceCount(size, piece)).toBe(count);
  });
});

describe("xorPlanes", () => {
  it("puts byte p of every element of next XOR prev in plane p", () => {
    const next = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const prev = Buffer.from([1, 0, 3, 0, 0, 6, 0, 8]);
    expect(xorPlanes(next, prev, 4).map((p) => [...p])).toEqual([
      [0, 5],
      [2, 0],
      [0, 7],
      [4, 0],
    ]);
  });
});

describe("parseSafetensorsHeader", () => {
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  const t = (dtype: string, shape: number[], offsets: [number, number]) => ({ dtype, shape, data_offsets: offsets });

  it("orders tensors by data offset and skips metadata", () => {
    const h = json({ __metadata__: { a: "b" }, z: t("F32", [2], [0, 8]), a: t("I8", [3], [8, 11]) });
    const layout = parseSafetensorsHeader(h, 8 + h.length + 11);
    expect(layout.tensors.map((x) => [x.name, x.elementBytes, x.begin, x.end])).toEqual([
      ["z", 4, 0, 8],
      ["a", 1, 8, 11],
    ]);
    expect(layout.dataStart).toBe(8 + h.length);
  });

  it.each([
    ["a gap", { a: t("F32", [1], [0, 4]), b: t("F32", [1], [8, 12]) }, 12, /starts at 8, expected 4/],
    ["an overlap", { a: t("F32", [2], [0, 8]), b: t("F32", [1], [4, 8]) }, 8, /starts at 4/],
    ["bytes after the tensors", { a: t("F32", [1], [0, 4]) }, 5, /cover 4 bytes but the file holds 5/],
    ["a size lie", { a: t("F32", [2], [0, 4]) }, 4, /do not hold/],
    ["an unknown dtype", { a: t("F4", [1], [0, 1]) }, 1, /unknown dtype/],
    ["a non-object", [1, 2], 0, /not a JSON object/],
  ])("refuses %s", (_name, raw, dataBytes, message) => {
    const h = json(raw);
    expect(() => parseSafetensorsHeader(h, 8 + h.length + dataBytes)).toThrow(message);
  });
});

describe("checkBsdiffHeader", () => {
  const patch = (ctrl: bigint, diff: bigint, size: bigint, total = 64) => {
    const b = Buffer.alloc(total);
    b.write("BSDIFF40", 0, "ascii");
    b.writeBigUInt64LE(ctrl, 8);
    b.writeBigUInt64LE(diff, 16);
    b.writeBigUInt64LE(size, 24);
    return b;
  };
  it("accepts a header whose new size is the window's", () => {
    expect(() => checkBsdiffHeader(patch(16n, 16n, 100n), 100, "w")).not.toThrow();
  });
  it.each([
    ["another new size", patch(16n, 16n, 101n), /announces 101 bytes/],
    ["blocks past the patch", patch(40n, 16n, 100n), /past its 64 bytes/],
    ["a negative block", patch(16n | (1n << 63n), 16n, 100n), /past its/],
    ["another magic", Buffer.alloc(64), /not a BSDIFF40 patch/],
  ])("refuses %s", (_n, p, message) => {
    expect(() => checkBsdiffHeader(p, 100, "w")).toThrow(message);
  });
});
