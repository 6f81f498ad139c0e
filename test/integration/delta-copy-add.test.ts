import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brotliCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyDelta } from "../../agent/delta/apply-delta.js";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import { offsetValue } from "../../shared/copy-add-format.js";
import { DELTA_PREFIX_BYTES, type DeltaHeader, type DeltaWindow, MAX_DELTA_HEADER_BYTES } from "../../shared/delta-format.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { deltaFolders, fileOf, joinDelta, payloadOf, splitDelta, varints } from "../helpers/delta-craft.js";

const WINDOW = 16 * 1024;

let root: string;
let baseDir: string;
let targetDir: string;
let targetFiles: PayloadFile[];
let deltaBytes: Buffer;

/** A tokenizer-like JSON vocabulary: the edited one renames a few tokens and appends new ones. */
function vocab(edited: boolean): string {
  const entries = Array.from({ length: 3000 }, (_, i) => `  "${edited && i % 400 === 7 ? "renamed" : "tok"}_${i}": ${i}`);
  if (edited) for (let i = 0; i < 200; i++) entries.push(`  "<extra_${i}>": ${3000 + i}`);
  return `{\n${entries.join(",\n")}\n}\n`;
}

beforeAll(async () => {
  ({ root, baseDir, targetDir } = await deltaFolders("edgepull-delta-copy-add-"));
  await writeFile(join(baseDir, "vocab.json"), vocab(false));
  await writeFile(join(targetDir, "vocab.json"), vocab(true));
  const paths = ["vocab.json"];
  targetFiles = await payloadOf(targetDir, paths);
  await buildDelta({
    baseDir,
    targetDir,
    baseFiles: await payloadOf(baseDir, paths),
    targetFiles,
    outPath: join(root, "good.delta"),
    windowBytes: WINDOW,
  });
  deltaBytes = await readFile(join(root, "good.delta"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function copyAddWindows(header: DeltaHeader): Extract<DeltaWindow, { op: "copy-add" }>[] {
  return fileOf(header, "windows", "vocab.json").windows.filter((w) => w.op === "copy-add");
}

let counter = 0;
/** Applies a delta made of `header` and `data` into a fresh destination. */
async function applyCrafted(bytes: Buffer) {
  const deltaPath = join(root, `crafted-${++counter}.delta`);
  await writeFile(deltaPath, bytes);
  const destDir = join(root, `dest-${counter}`);
  const run = applyDelta({ deltaPath, baseDir, destDir, expectedFiles: targetFiles });
  return { run, destDir };
}

async function applyTampered(edit: (header: DeltaHeader, data: Buffer) => Buffer | undefined) {
  const { header, data } = splitDelta(Buffer.from(deltaBytes));
  return applyCrafted(await joinDelta(header, edit(header, data) ?? data));
}

/** Replaces the first copy-add window's streams with raw ones appended to the data section. */
function withStreams(header: DeltaHeader, data: Buffer, streams: { instructions: Buffer; offsets: Buffer; literals: Buffer }) {
  const window = copyAddWindows(header)[0];
  if (!window) throw new Error("no copy-add window");
  let at = data.length;
  for (const name of ["instructions", "offsets", "literals"] as const) {
    const bytes = streams[name];
    window[name] = { at, len: bytes.length, codec: "raw", size: bytes.length };
    at += bytes.length;
  }
  header.dataLength = at;
  return Buffer.concat([data, streams.instructions, streams.offsets, streams.literals]);
}

describe("copy-add windows", () => {
  it("carry a tokenizer-like edit in a fraction of the compressed file, and rebuild it", async () => {
    const { header } = splitDelta(deltaBytes);
    const ops = fileOf(header, "windows", "vocab.json").windows.map((w) => w.op);
    expect(ops.filter((op) => op === "copy-add").length).toBeGreaterThan(1);
    // 4 KiB of appended tokens and a few renames in 61 KiB; the target alone is 4.1 KiB at brotli quality 5.
    expect(deltaBytes.length).toBeLessThan(1500);
    const { run, destDir } = await applyCrafted(deltaBytes);
    await expect(run).resolves.toEqual({ files: 1, bytes: targetFiles[0]?.size });
    expect((await readFile(join(destDir, "vocab.json"))).equals(await readFile(join(targetDir, "vocab.json")))).toBe(true);
  });

  it("are deterministic: a second build gives the same bytes", async () => {
    const again = join(root, "again.delta");
    await buildDelta({
      baseDir,
      targetDir,
      baseFiles: await payloadOf(baseDir, ["vocab.json"]),
      targetFiles,
      outPath: again,
      windowBytes: WINDOW,
    });
    expect((await readFile(again)).equals(deltaBytes)).toBe(true);
  });
});

describe("applyDelta refuses hostile copy-add windows and headers", () => {
  const refused = async (
    crafted: Promise<{ run: Promise<unknown>; destDir: string }>,
    message: RegExp,
    code = "BUNDLE_CORRUPT",
  ) => {
    const { run, destDir } = await crafted;
    await expect(run).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    // The half-written file is gone and nothing else was written (a refused header stops before the folder is made).
    expect(await readdir(destDir).catch(() => [])).toEqual([]);
  };

  it("a copy past the end of the base window", async () => {
    const copy = WINDOW;
    await refused(
      applyTampered((h, d) =>
        withStreams(h, d, {
          instructions: varints(0, copy),
          offsets: varints(offsetValue({ from: "base", start: 1, expected: 0 })),
          literals: Buffer.alloc(0),
        }),
      ),
      /copies base bytes \[1, 16385\) of a 16384-byte base window/,
    );
  });

  it("instruction lengths that add up to more than the window (the output never grows)", async () => {
    await refused(
      applyTampered((h, d) =>
        withStreams(h, d, { instructions: varints(WINDOW + 1, 0), offsets: Buffer.alloc(0), literals: Buffer.alloc(WINDOW + 1) }),
      ),
      /announces 16389 bytes of copy-add streams for a 16384-byte window/,
    );
    await refused(
      applyTampered((h, d) =>
        withStreams(h, d, { instructions: varints(8, WINDOW), offsets: varints(0), literals: Buffer.alloc(8) }),
      ),
      /runs past the window's 16384 bytes/,
    );
  });

  it("instruction lengths that add up to less than the window", async () => {
    await refused(
      applyTampered((h, d) =>
        withStreams(h, d, { instructions: varints(8, 0), offsets: Buffer.alloc(0), literals: Buffer.alloc(8) }),
      ),
      /rebuild 8 bytes, the window holds 16384/,
    );
  });

  it("a truncated stream", async () => {
    await refused(
      applyTampered((h, d) =>
        withStreams(h, d, { instructions: Buffer.from([0x00, 0x80]), offsets: Buffer.alloc(0), literals: Buffer.alloc(0) }),
      ),
      /instructions ends inside a number/,
    );
  });

  it("a compressed stream whose decoded size is a lie, either way", async () => {
    for (const delta of [-1, 1]) {
      await refused(
        applyTampered((h) => {
          // A stream compressed well below its size, so that the lie is caught by decompressing.
          const w = copyAddWindows(h).find((x) => x.literals.codec === "brotli" && x.literals.len < x.literals.size / 2);
          if (!w) throw new Error("no well-compressed literals");
          w.literals.size += delta;
          return undefined;
        }),
        /literals (does not decompress to|decompresses to)/,
      );
    }
  });

  it("a raw stream whose size is not its length", async () => {
    await refused(
      applyTampered((h, d) => {
        const data = withStreams(h, d, { instructions: varints(0, WINDOW), offsets: varints(0), literals: Buffer.alloc(0) });
        const w = copyAddWindows(h)[0];
        if (w) w.offsets.size = 2;
        return data;
      }),
      /offsets is a raw blob of 1 bytes for 2 bytes/,
    );
  });

  it("a stream without a decoded size", async () => {
    await refused(
      applyTampered((h) => {
        const w = copyAddWindows(h)[0] as unknown as { offsets: Record<string, unknown> };
        delete w.offsets.size;
        return undefined;
      }),
      /offsets has no size/,
    );
  });

  it("a header whose decompressed size is a lie, or over the bound", async () => {
    const lie = (decoded: number) => {
      const bytes = Buffer.from(deltaBytes);
      bytes.writeUInt32LE(decoded, 12);
      return applyCrafted(bytes);
    };
    const actual = deltaBytes.readUInt32LE(12);
    await refused(lie(actual - 1), /header does not decompress within/);
    await refused(lie(actual + 1), /header decompresses to \d+ bytes, the prefix says/);
    await refused(lie(MAX_DELTA_HEADER_BYTES + 1), /header announces \d+ bytes decompressed/);
  });

  it("a header that is not brotli, or whose stored length runs past the file", async () => {
    const garbage = Buffer.from(deltaBytes);
    garbage.fill(0xa5, DELTA_PREFIX_BYTES, DELTA_PREFIX_BYTES + 8);
    await refused(applyCrafted(garbage), /header does not decompress/);
    const long = Buffer.from(deltaBytes);
    long.writeUInt32LE(deltaBytes.length, 8);
    await refused(applyCrafted(long), /header length \d+ is zero or exceeds the file/);
  });

  it("a header of compressed JSON that is not a delta header", async () => {
    const json = Buffer.from('{"format":"edgepull-delta","formatVersion":1}');
    const packed = brotliCompressSync(json);
    const prefix = Buffer.alloc(DELTA_PREFIX_BYTES);
    deltaBytes.copy(prefix, 0, 0, 8);
    prefix.writeUInt32LE(packed.length, 8);
    prefix.writeUInt32LE(json.length, 12);
    await refused(applyCrafted(Buffer.concat([prefix, packed])), /version 1 is not edgepull-delta 2/);
  });
});
