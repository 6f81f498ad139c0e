import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brotliCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyDelta } from "../../agent/delta/apply-delta.js";
import { writeSafetensors } from "../../packaging/example-service/safetensors.js";
import { buildDelta } from "../../publisher/delta/build-delta.js";
import { DELTA_MAGIC, DELTA_PREFIX_BYTES, type DeltaFile, type DeltaHeader } from "../../shared/delta-format.js";
import { sha256Hex } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { deltaFolders, fileOf, joinDelta, payloadOf, relocatedTable, splitDelta, varints } from "../helpers/delta-craft.js";

let root: string;
let baseDir: string;
let targetDir: string;
let deltaBytes: Buffer;
let targetFiles: PayloadFile[];

function floats(n: number, seed: number): Float32Array {
  let s = seed;
  // Random mantissas, exponents of weights near 0.01: XOR planes differ in how well they compress.
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * 0.02;
  });
}

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `line ${i} ${i % 97 === 0 ? tag : ""}`).join("\n");

beforeAll(async () => {
  ({ root, baseDir, targetDir } = await deltaFolders("edgepull-delta-hostile-"));
  const a = floats(65536, 1);
  const b = a.map((x) => x * 1.001);
  await writeSafetensors(join(baseDir, "model.safetensors"), { w: { dtype: "F32", shape: [256, 256], data: a } });
  await writeSafetensors(join(targetDir, "model.safetensors"), { w: { dtype: "F32", shape: [256, 256], data: b } });
  await writeFile(join(baseDir, "notes.txt"), lines(4000, "old"));
  await writeFile(join(targetDir, "notes.txt"), `${lines(4000, "new")}\n${lines(2000, "tail")}`);
  await writeFile(join(baseDir, "table.bin"), relocatedTable(64 * 1024, false));
  await writeFile(join(targetDir, "table.bin"), relocatedTable(64 * 1024, true));
  const paths = ["model.safetensors", "notes.txt", "table.bin"];
  targetFiles = await payloadOf(targetDir, paths);
  const outPath = join(root, "good.delta");
  await buildDelta({
    baseDir,
    targetDir,
    baseFiles: await payloadOf(baseDir, paths),
    targetFiles,
    outPath,
    windowBytes: 16384,
    chunkBytes: 65536,
  });
  deltaBytes = await readFile(outPath);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A delta whose only file is unchanged (op same). */
async function unchangedOnly(): Promise<{ base: string; delta: string; files: PayloadFile[] }> {
  const base = join(root, "same-base");
  await mkdir(base);
  await writeFile(join(base, "config.json"), '{"a":1}');
  const files = await payloadOf(base, ["config.json"]);
  const delta = join(root, "same.delta");
  const built = await buildDelta({ baseDir: base, targetDir: base, baseFiles: files, targetFiles: files, outPath: delta });
  expect(built.perFile.map((f) => f.op)).toEqual(["same"]);
  return { base, delta, files };
}

let counter = 0;
/** Applies a tampered delta into a fresh destination; returns the destination. */
async function applyTampered(
  edit: (header: DeltaHeader, data: Buffer) => Buffer | undefined,
  opts: { expected?: PayloadFile[]; signal?: AbortSignal } = {},
) {
  const { header, data } = splitDelta(Buffer.from(deltaBytes));
  const newData = edit(header, data) ?? data;
  const deltaPath = join(root, `tampered-${++counter}.delta`);
  await writeFile(deltaPath, await joinDelta(header, newData));
  const destDir = join(root, `dest-${counter}`);
  const run = applyDelta({
    deltaPath,
    baseDir,
    destDir,
    expectedFiles: opts.expected ?? targetFiles,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { run, destDir };
}

/** Applies these delta bytes into a fresh destination; the code it ends in, or "applied". */
async function outcome(bytes: Buffer, expected: PayloadFile[] = targetFiles): Promise<string> {
  const deltaPath = join(root, `raw-${++counter}.delta`);
  await writeFile(deltaPath, bytes);
  const destDir = join(root, `dest-${counter}`);
  return applyDelta({ deltaPath, baseDir, destDir, expectedFiles: expected }).then(
    () => "applied",
    (err: { code?: string }) => err.code ?? `not an EdgeError: ${String(err)}`,
  );
}

/** The delta with its prefix fields or header JSON replaced. */
function withPrefix(edit: (prefix: Buffer) => void): Buffer {
  const copy = Buffer.from(deltaBytes);
  edit(copy.subarray(0, DELTA_PREFIX_BYTES));
  return copy;
}
async function withHeaderText(json: string): Promise<Buffer> {
  const { data } = splitDelta(deltaBytes);
  const packed = brotliCompressSync(Buffer.from(json));
  const prefix = Buffer.alloc(DELTA_PREFIX_BYTES);
  DELTA_MAGIC.copy(prefix);
  prefix.writeUInt32LE(packed.length, 8);
  prefix.writeUInt32LE(Buffer.byteLength(json), 12);
  return Buffer.concat([prefix, packed, data]);
}
async function withHeader(edit: (h: Record<string, unknown>, dataLength: number) => void): Promise<Buffer> {
  const { header, data } = splitDelta(deltaBytes);
  const raw = structuredClone(header) as unknown as Record<string, unknown>;
  edit(raw, data.length);
  return withHeaderText(JSON.stringify(raw));
}
/** The first window of notes.txt replaced by copy-add streams of these bytes, appended raw to the data section. */
async function copyAddWindow(instructions: Buffer, offsets: Buffer, literals: Buffer): Promise<Buffer> {
  const { header, data } = splitDelta(deltaBytes);
  const w = fileOf(header, "windows", "notes.txt");
  let at = data.length;
  const blob = (b: Buffer) => {
    const out = { at, len: b.length, codec: "raw" as const, size: b.length };
    at += b.length;
    return out;
  };
  w.windows[0] = { op: "copy-add", instructions: blob(instructions), offsets: blob(offsets), literals: blob(literals) };
  header.dataLength = at;
  return joinDelta(header, Buffer.concat([data, instructions, offsets, literals]));
}
const firstFile = (h: Record<string, unknown>) => (h.files as Record<string, unknown>[])[0] as Record<string, unknown>;
const firstTensor = (h: Record<string, unknown>) =>
  (firstFile(h).tensors as Record<string, unknown>[])[0] as Record<string, unknown>;

const deltaCases: [string, string, () => Promise<Buffer>][] = [
  ["the untampered delta", "applied", async () => deltaBytes],
  ["an empty file", "BUNDLE_TRUNCATED", async () => Buffer.alloc(0)],
  ["only the magic", "BUNDLE_TRUNCATED", async () => DELTA_MAGIC],
  ["another magic", "BUNDLE_CORRUPT", async () => withPrefix((p) => p.write("EPDELTA1", 0, "latin1"))],
  ["a stored header length of 0", "BUNDLE_CORRUPT", async () => withPrefix((p) => p.writeUInt32LE(0, 8))],
  ["a stored header length past the file", "BUNDLE_CORRUPT", async () => withPrefix((p) => p.writeUInt32LE(0xffffffff, 8))],
  ["a decoded header length of 0", "BUNDLE_CORRUPT", async () => withPrefix((p) => p.writeUInt32LE(0, 12))],
  ["a decoded header length of 4 GiB", "BUNDLE_CORRUPT", async () => withPrefix((p) => p.writeUInt32LE(0xffffffff, 12))],
  ["a decoded header length too small", "BUNDLE_CORRUPT", async () => withPrefix((p) => p.writeUInt32LE(10, 12))],
  [
    "a decoded header length too large",
    "BUNDLE_CORRUPT",
    async () => withPrefix((p) => p.writeUInt32LE(p.readUInt32LE(12) + 1, 12)),
  ],
  [
    "a header that is not brotli",
    "BUNDLE_CORRUPT",
    async () => {
      const copy = Buffer.from(deltaBytes);
      copy.fill(0xa5, DELTA_PREFIX_BYTES, DELTA_PREFIX_BYTES + copy.readUInt32LE(8));
      return copy;
    },
  ],
  ["a header that is not JSON", "BUNDLE_CORRUPT", () => withHeaderText("{not json")],
  ["a header that is a list", "BUNDLE_CORRUPT", () => withHeaderText("[]")],
  ["a header nested 100 000 levels deep", "BUNDLE_CORRUPT", () => withHeaderText(`{"x":${"[".repeat(1e5)}${"]".repeat(1e5)}}`)],
  [
    "format version 1",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.formatVersion = 1;
      }),
  ],
  [
    "versions as numbers",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.baseVersion = 1;
      }),
  ],
  [
    "windowBytes 0",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.windowBytes = 0;
      }),
  ],
  [
    "windowBytes 1 TiB",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.windowBytes = 2 ** 40;
      }),
  ],
  [
    "windowBytes as a string",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.windowBytes = "16384";
      }),
  ],
  [
    "chunkBytes not a multiple of 8",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.chunkBytes = 65537;
      }),
  ],
  [
    "dataLength negative",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.dataLength = -1;
      }),
  ],
  [
    "dataLength 1e400 (Infinity)",
    "BUNDLE_CORRUPT",
    () => withHeaderText(JSON.stringify(splitDelta(deltaBytes).header).replace(/"dataLength":\d+/, '"dataLength":1e400')),
  ],
  [
    "dataLength past the file",
    "BUNDLE_TRUNCATED",
    () =>
      withHeader((h, n) => {
        h.dataLength = n + 1;
      }),
  ],
  [
    "dataLength short of the file",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h, n) => {
        h.dataLength = n - 1;
      }),
  ],
  [
    "files not a list",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        h.files = {};
      }),
  ],
  [
    "a file entry null",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        (h.files as unknown[])[0] = null;
      }),
  ],
  [
    "a path that is a number",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        firstFile(h).path = 5;
      }),
  ],
  [
    "a path climbing out",
    "PATH_UNSAFE",
    () =>
      withHeader((h) => {
        firstFile(h).path = "../../outside.bin";
      }),
  ],
  [
    "an absolute path",
    "PATH_UNSAFE",
    () =>
      withHeader((h) => {
        firstFile(h).path = "/etc/passwd";
      }),
  ],
  [
    "a path with a lone surrogate",
    "PATH_UNSAFE",
    () =>
      withHeader((h) => {
        firstFile(h).path = "model\uD800";
      }),
  ],
  [
    "a path listed twice",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        (h.files as unknown[]).push(firstFile(h));
      }),
  ],
  [
    "a path not in the target manifest",
    "ENTRY_UNEXPECTED",
    () =>
      withHeader((h) => {
        firstFile(h).path = "other.bin";
      }),
  ],
  [
    "an unknown file op",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        firstFile(h).op = "xdelta";
      }),
  ],
  [
    "a base without sha256",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        firstFile(h).base = { size: 1 };
      }),
  ],
  [
    "a tensor op unknown",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        firstTensor(h).op = "zstd";
      }),
  ],
  [
    "tensor chunks not a list",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        firstTensor(h).chunks = 3;
      }),
  ],
  [
    "a tensor chunk missing",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        (firstTensor(h).chunks as unknown[]).pop();
      }),
  ],
  [
    "a plane missing",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        ((firstTensor(h).chunks as unknown[][])[0] as unknown[]).pop();
      }),
  ],
  [
    "a blob at a negative offset",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        (firstFile(h).header as Record<string, unknown>).at = -1;
      }),
  ],
  [
    "a blob of fractional length",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        (firstFile(h).header as Record<string, unknown>).len = 1.5;
      }),
  ],
  [
    "a blob of unknown codec",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h) => {
        (firstFile(h).header as Record<string, unknown>).codec = "zstd";
      }),
  ],
  [
    "a blob past the data section",
    "BUNDLE_CORRUPT",
    () =>
      withHeader((h, n) => {
        (firstFile(h).header as Record<string, unknown>).at = n;
      }),
  ],
  [
    "a window op unknown",
    "BUNDLE_CORRUPT",
    async () => {
      const { header, data } = splitDelta(deltaBytes);
      (fileOf(header, "windows", "notes.txt").windows[0] as { op: string }).op = "move";
      return joinDelta(header, data);
    },
  ],
  [
    "a window missing",
    "BUNDLE_CORRUPT",
    async () => {
      const { header, data } = splitDelta(deltaBytes);
      fileOf(header, "windows", "notes.txt").windows.pop();
      return joinDelta(header, data);
    },
  ],
  [
    "copy-add streams larger than their window",
    "BUNDLE_CORRUPT",
    () => copyAddWindow(Buffer.alloc(10000), Buffer.alloc(10000), Buffer.alloc(0)),
  ],
  [
    "a copy-add copy past the base window",
    "BUNDLE_CORRUPT",
    () => copyAddWindow(varints(0, 16384), varints(2 * 2 * 1_000_000), Buffer.alloc(0)),
  ],
  [
    "a copy-add copy from before the window start",
    "BUNDLE_CORRUPT",
    () => copyAddWindow(varints(0, 16384), varints(1), Buffer.alloc(0)),
  ],
  [
    "a copy-add add past the literals",
    "BUNDLE_CORRUPT",
    () => copyAddWindow(varints(16384, 0), Buffer.alloc(0), Buffer.alloc(10)),
  ],
  [
    "a copy-add instruction past the window",
    "BUNDLE_CORRUPT",
    () => copyAddWindow(varints(0, 1 << 30), varints(0), Buffer.alloc(0)),
  ],
  [
    "a copy-add number of 6 bytes",
    "BUNDLE_CORRUPT",
    () => copyAddWindow(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.alloc(0), Buffer.alloc(0)),
  ],
  ["copy-add literals left over", "BUNDLE_CORRUPT", () => copyAddWindow(varints(0, 16384), varints(0), Buffer.alloc(3))],
  ["the file cut in its data section", "BUNDLE_TRUNCATED", async () => deltaBytes.subarray(0, deltaBytes.length - 100)],
  ["the file cut in its header", "BUNDLE_CORRUPT", async () => deltaBytes.subarray(0, DELTA_PREFIX_BYTES + 5)],
  ["bytes after the data section", "BUNDLE_CORRUPT", async () => Buffer.concat([deltaBytes, Buffer.from("extra")])],
];

describe("applyDelta ends every hostile delta in its own code and writes only into its destination", () => {
  it.each(deltaCases)("%s -> %s", async (_name, code, make) => {
    const before = await readdir(root);
    expect(await outcome(await make())).toBe(code);
    const added = (await readdir(root)).filter((n) => !before.includes(n));
    expect(added.every((n) => /^(raw|dest)-\d+(\.delta)?$/.test(n))).toBe(true);
    expect(await readdir(baseDir)).toEqual(["model.safetensors", "notes.txt", "table.bin"]);
  });

  it("refuses two target paths that name one file on disk (lone surrogates), not with EEXIST", async () => {
    const { header, data } = splitDelta(deltaBytes);
    const [a, b] = ["x\uD800", "x\uDBFF"];
    header.files = [
      { path: a, op: "full", data: { at: 0, len: 0, codec: "raw" } },
      { path: b, op: "full", data: { at: 0, len: 0, codec: "raw" } },
    ];
    const empty = sha256Hex("");
    const expected: PayloadFile[] = [a, b].map((path) => ({ path, size: 0, sha256: empty, mode: 0o644 }));
    expect(await outcome(await joinDelta(header, data), expected)).toBe("PATH_UNSAFE");
  });
});

describe("applyDelta refuses hostile or mismatched deltas", () => {
  it("applies the untampered delta (the fixture is sound), using tensors, copy-add windows and bsdiff windows", async () => {
    const { header } = splitDelta(deltaBytes);
    expect(header.files.map((f) => f.op)).toEqual(["tensors", "windows", "windows"]);
    expect(fileOf(header, "windows", "notes.txt").windows.map((w) => w.op)).toContain("copy-add");
    expect(fileOf(header, "windows", "table.bin").windows.map((w) => w.op)).toContain("bsdiff");
    const { run } = await applyTampered(() => undefined);
    await expect(run).resolves.toEqual({ files: 3, bytes: targetFiles.reduce((n, f) => n + f.size, 0) });
  });

  it("a path that escapes the destination", async () => {
    const { run } = await applyTampered((h) => {
      (h.files[1] as DeltaFile).path = "../escaped.txt";
      return undefined;
    });
    await expect(run).rejects.toMatchObject({ code: "PATH_UNSAFE" });
    await expect(readdir(root)).resolves.not.toContain("escaped.txt");
  });

  it("a blob offset past the end of the data section", async () => {
    const { run } = await applyTampered((h, data) => {
      const w = fileOf(h, "windows", "notes.txt").windows.find((x) => x.op === "copy-add");
      if (w?.op !== "copy-add") throw new Error("expected a copy-add window");
      w.literals.at = data.length;
      return undefined;
    });
    await expect(run).rejects.toMatchObject({
      code: "BUNDLE_CORRUPT",
      message: expect.stringMatching(/outside the data section/),
    });
  });

  it("a corrupted compressed plane", async () => {
    const { run, destDir } = await applyTampered((h, data) => {
      const planes = fileOf(h, "tensors").tensors[0];
      if (planes?.op !== "xor-planes") throw new Error("expected xor-planes");
      const blob = planes.chunks[0]?.find((b) => b.codec === "brotli");
      if (!blob) throw new Error("expected a compressed plane");
      const copy = Buffer.from(data);
      copy.fill(0x5a, blob.at, blob.at + blob.len);
      return copy;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/plane/) });
    // The half-written file is removed.
    await expect(readdir(destDir)).resolves.not.toContain("model.safetensors");
  });

  it("a flipped byte in a raw plane is caught by the rebuilt file's hash", async () => {
    const { run } = await applyTampered((h, data) => {
      const planes = fileOf(h, "tensors").tensors[0];
      if (planes?.op !== "xor-planes") throw new Error("expected xor-planes");
      const blob = planes.chunks[0]?.find((b) => b.codec === "raw" && b.len > 0);
      if (!blob) throw new Error("expected a raw plane");
      const copy = Buffer.from(data);
      copy[blob.at] = (copy[blob.at] as number) ^ 1;
      return copy;
    });
    await expect(run).rejects.toMatchObject({
      code: "DIGEST_MISMATCH",
      message: expect.stringMatching(/rebuilt model.safetensors/),
    });
  });

  it("a copy window that reads past the end of the base", async () => {
    const { run } = await applyTampered((h) => {
      const windows = fileOf(h, "windows", "notes.txt").windows;
      windows[windows.length - 1] = { op: "copy" };
      return undefined;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/reads base bytes/) });
  });

  it("a bsdiff patch that lies about its window's size", async () => {
    const { run } = await applyTampered((h, data) => {
      const w = fileOf(h, "windows", "table.bin").windows.find((x) => x.op === "bsdiff");
      if (w?.op !== "bsdiff") throw new Error("expected a bsdiff window");
      const copy = Buffer.from(data);
      copy.writeBigUInt64LE(1n << 40n, w.patch.at + 24);
      return copy;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/announces/) });
  });

  it("a bsdiff patch whose compressed blocks are garbage is refused by bspatch, not fatal to the process", async () => {
    const { run } = await applyTampered((h, data) => {
      const w = fileOf(h, "windows", "table.bin").windows.find((x) => x.op === "bsdiff");
      if (w?.op !== "bsdiff") throw new Error("expected a bsdiff window");
      const copy = Buffer.from(data);
      copy.fill(0xa5, w.patch.at + 32, w.patch.at + w.patch.len);
      return copy;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT", message: expect.stringMatching(/does not apply/) });
  });

  it("a tensor entry naming a tensor the target header does not have", async () => {
    const { run } = await applyTampered((h) => {
      const t = fileOf(h, "tensors").tensors[0];
      if (t) t.name = "other";
      return undefined;
    });
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_CORRUPT" });
  });

  it("a truncated delta", async () => {
    const { run } = await applyTampered((_h, data) => data.subarray(0, data.length - 10));
    await expect(run).rejects.toMatchObject({ code: "BUNDLE_TRUNCATED" });
  });

  it("a base that is not the one the delta was made from", async () => {
    const other = join(root, "other-base");
    await mkdir(other);
    await writeFile(join(other, "notes.txt"), lines(4000, "different"));
    await writeFile(join(other, "model.safetensors"), await readFile(join(baseDir, "model.safetensors")));
    const run = applyDelta({
      deltaPath: join(root, "good.delta"),
      baseDir: other,
      destDir: join(root, "dest-other"),
      expectedFiles: targetFiles,
    });
    await expect(run).rejects.toMatchObject({
      code: "DELTA_BASE_MISMATCH",
      message: expect.stringMatching(/base mismatch: notes.txt/),
    });
  });

  it("an unchanged file whose base copy differs, or is missing", async () => {
    const same = await unchangedOnly();
    await writeFile(join(same.base, "config.json"), '{"a":2}');
    const changed = applyDelta({
      deltaPath: same.delta,
      baseDir: same.base,
      destDir: join(root, "dest-same-1"),
      expectedFiles: same.files,
    });
    await expect(changed).rejects.toMatchObject({
      code: "DELTA_BASE_MISMATCH",
      message: expect.stringMatching(/base mismatch: config.json/),
    });
    await rm(join(same.base, "config.json"));
    const missing = applyDelta({
      deltaPath: same.delta,
      baseDir: same.base,
      destDir: join(root, "dest-same-2"),
      expectedFiles: same.files,
    });
    await expect(missing).rejects.toMatchObject({
      code: "DELTA_BASE_MISMATCH",
      message: expect.stringMatching(/base mismatch: config.json/),
    });
  });

  it("a delta that does not rebuild the target manifest's files", async () => {
    const extra: PayloadFile = { path: "extra.bin", size: 1, sha256: "0".repeat(64), mode: 0o644 };
    const { run } = await applyTampered(() => undefined, { expected: [...targetFiles, extra] });
    await expect(run).rejects.toMatchObject({ code: "ENTRY_MISSING" });
  });

  it("stops with INTERRUPTED when aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const { run } = await applyTampered(() => undefined, { signal: controller.signal });
    await expect(run).rejects.toMatchObject({ code: "INTERRUPTED" });
  });
});
