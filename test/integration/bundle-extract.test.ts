import { randomBytes } from "node:crypto";
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExtractOptions, extractBundle } from "../../agent/bundle/extract.js";
import { silentLogger } from "../../agent/logging.js";
import { sha256Hex } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";
import {
  bundleFromFolder,
  corrupt,
  type FolderBundle,
  headerOffset,
  lieAboutSize,
  metadataEntries,
  newSigner,
  type Signer,
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

const hostile: [string, string, Make, ((c: Case) => Partial<ExtractOptions>)?][] = [
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

  it("names the offending entry in the message", async () => {
    const c = await newCase();
    await writeFile(c.bundlePath, await tarGzOf([...meta(), { name: "payload/sub", type: "symlink", linkname: "/etc" }]));
    await expect(extractBundle(options(c))).rejects.toThrow(/"payload\/sub" is a symlink \(to "\/etc"\)/);
  });
});
