import { randomBytes } from "node:crypto";
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { type ExtractOptions, extractBundle } from "../../shared/bundle-reader/extract.js";
import { sha256Hex } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";
import {
  base256Size,
  bundleFromFolder,
  corrupt,
  entryBoundaries,
  type FolderBundle,
  fixChecksum,
  gnuLongName,
  headerOffset,
  insertBefore,
  lieAboutSize,
  metadataEntries,
  newSigner,
  rawHeader,
  type Signer,
  setTypeflag,
  type TarEntry,
  tarGzOf,
  tarOf,
  truncate,
} from "../helpers/tar-craft.js";

const NAME = "demo-model";
const VERSION = "1.2.0";

let root: string;
let modelDir: string;
let signer: Signer;
let valid: FolderBundle;
const weights = randomBytes(300_000);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-extract-"));
  modelDir = join(root, "model");
  await mkdir(join(modelDir, "bin"), { recursive: true });
  await mkdir(join(modelDir, "sub", "deep"), { recursive: true });
  await writeFile(join(modelDir, "weights.bin"), weights);
  await writeFile(join(modelDir, "config.json"), '{"layers":4}');
  await writeFile(join(modelDir, "bin", "run.sh"), "#!/bin/sh\necho run\n");
  await chmod(join(modelDir, "bin", "run.sh"), 0o755);
  await writeFile(join(modelDir, "sub", "deep", "vocab.txt"), "a\nb\nc\n");
  await writeFile(join(modelDir, "empty.txt"), "");
  signer = newSigner();
  valid = await bundleFromFolder(modelDir, { name: NAME, version: VERSION, signer });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Case {
  dir: string;
  outside: string;
  bundlePath: string;
  destDir: string;
}

/** A folder holding the bundle, an empty staging parent and a sentinel folder a hostile bundle would aim at. */
async function newCase(): Promise<Case> {
  const dir = await mkdtemp(join(root, "case-"));
  const outside = join(dir, "outside");
  await mkdir(join(dir, "staging"));
  await mkdir(outside);
  await writeFile(join(outside, "keep.txt"), "untouched");
  return { dir, outside, bundlePath: join(dir, "bundle.tar.gz"), destDir: join(dir, "staging", `${VERSION}.1`) };
}

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.map((e) => join(e.parentPath, e.name).slice(dir.length)).sort();
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function options(c: Case, extra: Partial<ExtractOptions> = {}): ExtractOptions {
  return {
    bundlePath: c.bundlePath,
    destDir: c.destDir,
    expected: { name: NAME, version: VERSION, files: valid.files },
    logger: silentLogger(),
    ...extra,
  };
}

const meta = (files: PayloadFile[] = valid.files, s: Signer = signer): TarEntry[] =>
  metadataEntries({ name: NAME, version: VERSION, files, signer: s });
const payloadOf = (): TarEntry[] => valid.entries.slice(2);
const content = (path: string): Buffer => {
  const entry = valid.entries.find((e) => e.name === `payload/${path}`);
  if (!entry?.content) throw new Error(`no payload entry ${path}`);
  return entry.content;
};

describe("extractBundle with a valid bundle", () => {
  it("writes byte-identical files with the manifest's modes, and nothing else", async () => {
    const c = await newCase();
    await writeFile(c.bundlePath, valid.bytes);
    const progress: number[] = [];
    const result = await extractBundle(options(c, { trustedKeys: [signer.publicKey], onProgress: (b) => progress.push(b) }));
    const total = valid.files.reduce((sum, f) => sum + f.size, 0);
    expect(result.files).toBe(valid.files.length);
    expect(result.bytes).toBe(total);
    expect(result.manifest.files).toEqual(valid.files);
    expect(progress.at(-1)).toBe(total);
    expect(await listTree(c.destDir)).toEqual([
      "/bin",
      "/bin/run.sh",
      "/config.json",
      "/empty.txt",
      "/sub",
      "/sub/deep",
      "/sub/deep/vocab.txt",
      "/weights.bin",
    ]);
    for (const f of valid.files) {
      const path = join(c.destDir, f.path);
      expect((await readFile(path)).equals(await readFile(join(modelDir, f.path)))).toBe(true);
      expect((await stat(path)).mode & 0o777).toBe(f.mode);
    }
    expect(valid.files.find((f) => f.path === "bin/run.sh")?.mode).toBe(0o755);
    expect((await stat(join(c.destDir, "sub"))).mode & 0o777).toBe(0o755);
    expect(await listTree(c.outside)).toEqual(["/keep.txt"]);
  });

  it("ignores the tar's mode bits (setuid, setgid, world-writable) and gives each file the manifest's mode", async () => {
    const c = await newCase();
    const modes = [0o4777, 0o2755, 0o1777, 0o666];
    const entries = valid.entries.map((e, i) => (e.type === "directory" ? { ...e, mode: 0o7777 } : { ...e, mode: modes[i % 4] }));
    await writeFile(c.bundlePath, await tarGzOf(entries));
    await extractBundle(options(c));
    for (const f of valid.files) expect((await stat(join(c.destDir, f.path))).mode & 0o7777).toBe(f.mode);
    expect((await stat(join(c.destDir, "sub"))).mode & 0o7777).toBe(0o755);
  });

  it("accepts a bundle without folder entries", async () => {
    const c = await newCase();
    await writeFile(c.bundlePath, await tarGzOf(valid.entries.filter((e) => e.type !== "directory")));
    const result = await extractBundle(options(c));
    expect(result.files).toBe(valid.files.length);
    expect(await readFile(join(c.destDir, "sub", "deep", "vocab.txt"), "utf8")).toBe("a\nb\nc\n");
  });

  it("refuses a destination that already exists, and leaves it alone", async () => {
    const c = await newCase();
    await writeFile(c.bundlePath, valid.bytes);
    await mkdir(c.destDir);
    await writeFile(join(c.destDir, "mine.txt"), "x");
    await expect(extractBundle(options(c))).rejects.toMatchObject({ code: "INTERNAL" });
    expect(await readFile(join(c.destDir, "mine.txt"), "utf8")).toBe("x");
  });

  it("stops on abort, rejects with the reason and removes the staging folder", async () => {
    const c = await newCase();
    await writeFile(c.bundlePath, valid.bytes);
    const controller = new AbortController();
    const reason = new Error("agent stopping");
    const run = extractBundle(options(c, { signal: controller.signal, onProgress: () => controller.abort(reason) }));
    await expect(run).rejects.toBe(reason);
    expect(await exists(c.destDir)).toBe(false);
  });
});

type Make = (c: Case) => Promise<Buffer>;

/** 4085 characters: within what a manifest may name, too long for PATH_MAX once under any folder. */
const longPath = `${Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(203, "d")).join("/")}/f.bin`;
const longFiles: PayloadFile[] = [{ path: longPath, size: 1, sha256: sha256Hex("x"), mode: 0o644 }];

type HostileCase = [string, string, Make, ((c: Case) => Partial<ExtractOptions>)?];

const hostile: HostileCase[] = [
  [
    "an absolute path",
    "PATH_UNSAFE",
    (c) => tarGzOf([...meta(), { name: join(c.outside, "abs.txt"), content: Buffer.from("x") }]),
  ],
  ["a ../ escape", "PATH_UNSAFE", async () => tarGzOf([...meta(), { name: "../escape.txt", content: Buffer.from("x") }])],
  [
    "payload/../../x",
    "PATH_UNSAFE",
    async () => tarGzOf([...meta(), { name: "payload/../../outside/pwned.txt", content: Buffer.from("x") }]),
  ],
  [
    "a symlink pointing outside, then a file through it",
    "ENTRY_FORBIDDEN",
    (c) =>
      tarGzOf([
        ...meta(),
        { name: "payload/sub", type: "symlink", linkname: c.outside },
        { name: "payload/sub/keep.txt", content: Buffer.from("overwritten") },
      ]),
  ],
  [
    "a hardlink",
    "ENTRY_FORBIDDEN",
    (c) => tarGzOf([...meta(), { name: "payload/config.json", type: "link", linkname: join(c.outside, "keep.txt") }]),
  ],
  [
    "a character device",
    "ENTRY_FORBIDDEN",
    async () => tarGzOf([...meta(), { name: "payload/weights.bin", type: "character-device" }]),
  ],
  ["a fifo", "ENTRY_FORBIDDEN", async () => tarGzOf([...meta(), { name: "payload/weights.bin", type: "fifo" }])],
  [
    "an entry not in the manifest",
    "ENTRY_UNEXPECTED",
    async () => tarGzOf([...meta(), ...payloadOf(), { name: "payload/extra.bin", content: Buffer.from("x") }]),
  ],
  [
    "a duplicate entry",
    "ENTRY_UNEXPECTED",
    async () => tarGzOf([...meta(), ...payloadOf(), { name: "payload/config.json", content: content("config.json") }]),
  ],
  [
    "an unknown top-level entry",
    "ENTRY_UNEXPECTED",
    async () => tarGzOf([...meta(), { name: "README", content: Buffer.from("x") }, ...payloadOf()]),
  ],
  ["a first entry other than manifest.json", "ENTRY_UNEXPECTED", async () => tarGzOf([...meta().reverse(), ...payloadOf()])],
  [
    "a file larger than the manifest says",
    "ENTRY_TOO_LARGE",
    async () =>
      tarGzOf([...meta(), { name: "payload/config.json", content: Buffer.concat([content("config.json"), Buffer.from("!")]) }]),
  ],
  [
    "a header claiming more than the manifest (and the archive) holds",
    "ENTRY_TOO_LARGE",
    async () => gzipSync(lieAboutSize(await tarOf([...meta(), ...payloadOf()]), "payload/config.json", 1 << 30)),
  ],
  [
    "a header claiming fewer bytes than the manifest",
    "SIZE_MISMATCH",
    async () => gzipSync(lieAboutSize(await tarOf([...meta(), ...payloadOf()]), "payload/weights.bin", 1000)),
  ],
  [
    "tampered content",
    "DIGEST_MISMATCH",
    async () =>
      tarGzOf([
        ...meta(),
        ...payloadOf().map((e) => (e.name === "payload/weights.bin" ? { ...e, content: corrupt(weights, 1234) } : e)),
      ]),
  ],
  ["a truncated gzip", "BUNDLE_TRUNCATED", async () => truncate(valid.bytes, 0.6)],
  ["a gzip without its trailer", "BUNDLE_TRUNCATED", async () => truncate(valid.bytes, valid.bytes.length - 4)],
  [
    "a tar cut inside an entry",
    "BUNDLE_TRUNCATED",
    async () => gzipSync(truncate(await tarOf([...meta(), ...payloadOf()]), 0.7)),
  ],
  ["garbage bytes", "BUNDLE_CORRUPT", async () => randomBytes(4096)],
  ["gzip of something that is not a tar", "BUNDLE_CORRUPT", async () => gzipSync(randomBytes(4096))],
  [
    "a damaged tar header",
    "BUNDLE_CORRUPT",
    async () => {
      const tar = await tarOf([...meta(), ...payloadOf()]);
      return gzipSync(corrupt(tar, headerOffset(tar, "payload/config.json") + 10));
    },
  ],
  [
    "a missing payload file",
    "ENTRY_MISSING",
    async () => tarGzOf([...meta(), ...payloadOf().filter((e) => e.name !== "payload/config.json")]),
  ],
  [
    "SHA256SUMS disagreeing with the manifest",
    "BUNDLE_CORRUPT",
    async () => {
      const [manifest, sums] = meta();
      const text = sums?.content?.toString().replace(sha256Hex(weights), sha256Hex("other")) ?? "";
      return tarGzOf([manifest as TarEntry, { name: "SHA256SUMS", content: Buffer.from(text) }, ...payloadOf()]);
    },
  ],
  [
    "a manifest for another version",
    "NAME_MISMATCH",
    async () => valid.bytes,
    () => ({ expected: { name: NAME, version: "1.2.1", files: valid.files } }),
  ],
  [
    "a manifest whose files differ from the release's",
    "METADATA_MALFORMED",
    async () => valid.bytes,
    () => ({ expected: { name: NAME, version: VERSION, files: valid.files.map((f) => ({ ...f, mode: 0o755 })) } }),
  ],
  [
    "a manifest signed by an untrusted key",
    "KEY_UNTRUSTED",
    async () => tarGzOf([...meta(valid.files, newSigner()), ...payloadOf()]),
    () => ({ trustedKeys: [signer.publicKey] }),
  ],
  // Entry types tar-stream does not name, set by their typeflag byte.
  ...(
    [
      ["7", "a contiguous file"],
      ["S", "a GNU sparse file"],
      ["V", "a GNU volume label"],
      ["D", "a GNU dump folder"],
      ["Z", "an unknown typeflag"],
    ] as const
  ).map(
    ([flag, what]): HostileCase => [
      `${what} (typeflag ${flag}) in place of a payload file`,
      "ENTRY_FORBIDDEN",
      async () => gzipSync(setTypeflag(await tarOf([...meta(), ...payloadOf()]), "payload/config.json", flag)),
    ],
  ),
  ["a block device", "ENTRY_FORBIDDEN", async () => tarGzOf([...meta(), { name: "payload/weights.bin", type: "block-device" }])],
  [
    "a hardlink to another payload file",
    "ENTRY_FORBIDDEN",
    async () =>
      tarGzOf([
        ...meta(),
        ...payloadOf().filter((e) => e.name !== "payload/empty.txt"),
        { name: "payload/empty.txt", type: "link", linkname: "payload/config.json" },
      ]),
  ],
  [
    "a GNU long name climbing out",
    "PATH_UNSAFE",
    async () => {
      const tar = await tarOf([...meta(), ...payloadOf()]);
      return gzipSync(insertBefore(tar, "payload/config.json", gnuLongName(`payload/${"../".repeat(40)}outside/pwned.txt`)));
    },
  ],
  [
    "a pax path climbing out",
    "PATH_UNSAFE",
    async () =>
      tarGzOf([...meta(), { name: "payload/config.json", content: content("config.json"), pax: { path: "../../pwned.txt" } }]),
  ],
  [
    "a pax path with a NUL byte",
    "PATH_UNSAFE",
    async () =>
      tarGzOf([
        ...meta(),
        { name: "payload/config.json", content: content("config.json"), pax: { path: "payload/config.json\0.sh" } },
      ]),
  ],
  [
    "a pax path that is absolute",
    "PATH_UNSAFE",
    (c) =>
      tarGzOf([
        ...meta(),
        { name: "payload/config.json", content: content("config.json"), pax: { path: join(c.outside, "pax.txt") } },
      ]),
  ],
  [
    "a pax size of a petabyte",
    "ENTRY_TOO_LARGE",
    async () =>
      tarGzOf([...meta(), { name: "payload/config.json", content: content("config.json"), pax: { size: "1000000000000000" } }]),
  ],
  [
    "a negative pax size",
    "BUNDLE_CORRUPT",
    async () => tarGzOf([...meta(), { name: "payload/config.json", content: content("config.json"), pax: { size: "-5" } }]),
  ],
  [
    "a pax size that is not a number",
    "BUNDLE_CORRUPT",
    async () => tarGzOf([...meta(), { name: "payload/config.json", content: content("config.json"), pax: { size: "many" } }]),
  ],
  [
    "a pax header over 4 MiB",
    "BUNDLE_CORRUPT",
    async () =>
      tarGzOf([
        ...meta(),
        { name: "payload/config.json", content: content("config.json"), pax: { comment: "x".repeat(5 * 1024 * 1024) } },
      ]),
  ],
  [
    "a base-256 size of a terabyte",
    "ENTRY_TOO_LARGE",
    async () => gzipSync(base256Size(await tarOf([...meta(), ...payloadOf()]), "payload/config.json", false)),
  ],
  [
    "a negative base-256 size",
    "BUNDLE_CORRUPT",
    async () => gzipSync(base256Size(await tarOf([...meta(), ...payloadOf()]), "payload/config.json", true)),
  ],
  [
    "a manifest.json header claiming 17 MiB",
    "ENTRY_TOO_LARGE",
    async () => gzipSync(lieAboutSize(await tarOf([...meta(), ...payloadOf()]), "manifest.json", 17 * 1024 * 1024)),
  ],
  [
    "a manifest.json of 17 MiB (whitespace after the JSON)",
    "ENTRY_TOO_LARGE",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const padded = Buffer.concat([manifest.content ?? Buffer.alloc(0), Buffer.alloc(17 * 1024 * 1024, 0x20)]);
      return tarGzOf([{ ...manifest, content: padded }, sums, ...payloadOf()]);
    },
  ],
  [
    "a SHA256SUMS of 17 MiB",
    "ENTRY_TOO_LARGE",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const padded = Buffer.concat([sums.content ?? Buffer.alloc(0), Buffer.alloc(17 * 1024 * 1024, 0x0a)]);
      return tarGzOf([manifest, { ...sums, content: padded }, ...payloadOf()]);
    },
  ],
  [
    "manifest.json that is not JSON",
    "METADATA_MALFORMED",
    async () => tarGzOf([{ name: "manifest.json", content: Buffer.from("{not json") }, ...meta().slice(1), ...payloadOf()]),
  ],
  [
    "manifest.json nested 100 000 levels deep",
    "METADATA_MALFORMED",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const text = manifest.content?.toString() ?? "";
      const deep = `{"x":${"[".repeat(100_000)}${"]".repeat(100_000)},${text.slice(1)}`;
      return tarGzOf([{ ...manifest, content: Buffer.from(deep) }, sums, ...payloadOf()]);
    },
  ],
  [
    "manifest.json repeating a key (another version first)",
    "METADATA_MALFORMED",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const text = manifest.content?.toString() ?? "";
      const doubled = text.replace('"signed":{', '"signed":{"version":"9.9.9",');
      return tarGzOf([{ ...manifest, content: Buffer.from(doubled) }, sums, ...payloadOf()]);
    },
  ],
  ["manifest.json as a folder", "ENTRY_UNEXPECTED", async () => tarGzOf([{ name: "manifest.json/", type: "directory" }])],
  ["manifest.json twice", "ENTRY_UNEXPECTED", async () => tarGzOf([...meta(), meta()[0] as TarEntry, ...payloadOf()])],
  ["SHA256SUMS twice", "ENTRY_UNEXPECTED", async () => tarGzOf([...meta(), meta()[1] as TarEntry, ...payloadOf()])],
  ["no SHA256SUMS", "ENTRY_MISSING", async () => tarGzOf([meta()[0] as TarEntry, ...payloadOf()])],
  ["an empty archive", "ENTRY_MISSING", async () => tarGzOf([])],
  ["an empty file", "BUNDLE_TRUNCATED", async () => Buffer.alloc(0)],
  [
    "SHA256SUMS with CRLF line ends",
    "BUNDLE_CORRUPT",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const crlf = Buffer.from((sums.content?.toString() ?? "").replaceAll("\n", "\r\n"));
      return tarGzOf([manifest, { ...sums, content: crlf }, ...payloadOf()]);
    },
  ],
  [
    "SHA256SUMS listing a file the manifest does not",
    "BUNDLE_CORRUPT",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const more = Buffer.from(`${sums.content?.toString() ?? ""}${"0".repeat(64)}  payload/extra.bin\n`);
      return tarGzOf([manifest, { ...sums, content: more }, ...payloadOf()]);
    },
  ],
  [
    "SHA256SUMS missing a file",
    "BUNDLE_CORRUPT",
    async () => {
      const [manifest, sums] = meta() as [TarEntry, TarEntry];
      const fewer = Buffer.from((sums.content?.toString() ?? "").split("\n").slice(1).join("\n"));
      return tarGzOf([manifest, { ...sums, content: fewer }, ...payloadOf()]);
    },
  ],
  [
    "a duplicate folder",
    "ENTRY_UNEXPECTED",
    async () => tarGzOf([...meta(), ...payloadOf(), { name: "payload/sub/", type: "directory" }]),
  ],
  [
    "a folder under a payload file's name",
    "ENTRY_UNEXPECTED",
    async () => tarGzOf([...meta(), { name: "payload/config.json/", type: "directory" }, ...payloadOf()]),
  ],
  [
    "a folder the manifest does not need",
    "ENTRY_UNEXPECTED",
    async () => tarGzOf([...meta(), { name: "payload/spare/", type: "directory" }]),
  ],
  ["payload as a file", "ENTRY_UNEXPECTED", async () => tarGzOf([...meta(), { name: "payload", content: Buffer.from("x") }])],
  [
    "a name with a right-to-left override",
    "PATH_UNSAFE",
    async () => tarGzOf([...meta(), { name: "payload/run\u202Ehs.txt", content: Buffer.from("x") }]),
  ],
  [
    "a name with a C1 control character",
    "PATH_UNSAFE",
    async () => tarGzOf([...meta(), { name: "payload/a\u0085b", content: Buffer.from("x") }]),
  ],
  [
    "a name segment of 300 bytes",
    "PATH_UNSAFE",
    async () => tarGzOf([...meta(), { name: `payload/${"a".repeat(300)}`, content: Buffer.from("x") }]),
  ],
  [
    "a name of 5000 characters",
    "PATH_UNSAFE",
    async () => tarGzOf([...meta(), { name: `payload/${"abcd/".repeat(1000)}x`, content: Buffer.from("x") }]),
  ],
  [
    "a signed path too long for this filesystem once under the data folder",
    "PATH_UNSAFE",
    async () => tarGzOf([...meta(longFiles), { name: `payload/${longPath}`, content: Buffer.from("x") }]),
    () => ({ expected: { name: NAME, version: VERSION, files: longFiles } }),
  ],
  [
    "non-zero bytes after the end of the archive",
    "BUNDLE_CORRUPT",
    async () => gzipSync(Buffer.concat([await tarOf([...meta(), ...payloadOf()]), Buffer.alloc(512, 0x41)])),
  ],
  [
    "zeros after the end of the archive, 100 MiB of them (a gzip bomb)",
    "BUNDLE_CORRUPT",
    async () => gzipSync(Buffer.concat([await tarOf([...meta(), ...payloadOf()]), Buffer.alloc(100 * 1024 * 1024)])),
  ],
  ["garbage after the gzip stream", "BUNDLE_CORRUPT", async () => Buffer.concat([valid.bytes, Buffer.from("trailing garbage")])],
  ["the bundle twice, as two gzip members", "ENTRY_UNEXPECTED", async () => Buffer.concat([valid.bytes, valid.bytes])],
  [
    "a header of a block of spaces",
    "BUNDLE_CORRUPT",
    async () => gzipSync(insertBefore(await tarOf([...meta(), ...payloadOf()]), "SHA256SUMS", Buffer.alloc(512, 0x20))),
  ],
  [
    "a header in neither ustar nor GNU form",
    "BUNDLE_CORRUPT",
    async () => {
      const header = rawHeader("payload/x", "0", 0);
      header.fill(0, 257, 265);
      fixChecksum(header);
      return gzipSync(insertBefore(await tarOf([...meta(), ...payloadOf()]), "SHA256SUMS", header));
    },
  ],
];

describe("extractBundle refuses hostile and broken bundles", () => {
  it.each(hostile)("%s -> %s", async (_name, code, make, extra) => {
    const c = await newCase();
    await writeFile(c.bundlePath, await make(c));
    const before = await listTree(c.dir);
    const err = await extractBundle(options(c, extra?.(c))).then(
      () => new Error("extracted without complaint"),
      (e: unknown) => e as Error & { code?: string },
    );
    expect({ code: (err as { code?: string }).code, message: err.message }).toMatchObject({ code });
    expect(await exists(c.destDir)).toBe(false);
    expect(await listTree(c.dir)).toEqual(before);
    expect(await readFile(join(c.outside, "keep.txt"), "utf8")).toBe("untouched");
  });

  it("refuses a tar cut anywhere: between entries ENTRY_MISSING, inside one BUNDLE_TRUNCATED; only the end blocks may go", async () => {
    const files = valid.files.filter((f) => f.path !== "weights.bin");
    const tar = await tarOf([...meta(files), ...payloadOf().filter((e) => e.name !== "payload/weights.bin")]);
    const { headers, bodies, end } = entryBoundaries(tar);
    const expected: [number, string][] = [];
    for (const [i, at] of headers.entries()) {
      expected.push([at, "ENTRY_MISSING"], [at + 100, "BUNDLE_TRUNCATED"]);
      const body = bodies[i] as number;
      if ((headers[i + 1] ?? end) > body) expected.push([body + 1, "BUNDLE_TRUNCATED"]);
    }
    expected.push([end, "installed"], [end + 512, "installed"]);
    const found: [number, string][] = [];
    for (const [cut] of expected) {
      const c = await newCase();
      await writeFile(c.bundlePath, gzipSync(tar.subarray(0, cut)));
      const outcome = await extractBundle(options(c, { expected: { name: NAME, version: VERSION, files } })).then(
        () => "installed",
        (e: { code?: string }) => e.code ?? String(e),
      );
      found.push([cut, outcome]);
      if (outcome !== "installed") expect(await exists(c.destDir)).toBe(false);
      expect(await listTree(c.outside)).toEqual(["/keep.txt"]);
    }
    expect(found).toEqual(expected);
  });

  it("refuses a gzip stream cut at any byte as BUNDLE_TRUNCATED", async () => {
    const files = valid.files.filter((f) => f.path !== "weights.bin");
    const gz = await tarGzOf([...meta(files), ...payloadOf().filter((e) => e.name !== "payload/weights.bin")]);
    const cuts = Array.from({ length: gz.length }, (_, i) => i).filter((i) => i < 20 || i % 37 === 0 || i > gz.length - 10);
    const found = new Map<string, number>();
    for (const cut of cuts) {
      const c = await newCase();
      await writeFile(c.bundlePath, gz.subarray(0, cut));
      const code = await extractBundle(options(c, { expected: { name: NAME, version: VERSION, files } })).then(
        () => "installed",
        (e: { code?: string }) => e.code ?? String(e),
      );
      found.set(code, (found.get(code) ?? 0) + 1);
      expect(await exists(c.destDir)).toBe(false);
    }
    expect(Object.fromEntries(found)).toEqual({ BUNDLE_TRUNCATED: cuts.length });
  });

  it("names the offending entry in the message", async () => {
    const c = await newCase();
    await writeFile(c.bundlePath, await tarGzOf([...meta(), { name: "payload/sub", type: "symlink", linkname: "/etc" }]));
    await expect(extractBundle(options(c))).rejects.toThrow(/"payload\/sub" is a symlink \(to "\/etc"\)/);
  });
});
