import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import type { Header } from "tar-stream";
import { expect } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { verifyPointerText, verifyReleaseText } from "../../agent/sources/intake.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { extractBundle } from "../../shared/bundle-reader/extract.js";
import { sha256Hex } from "../../shared/digest.js";
import type { ErrorCode } from "../../shared/errors.js";
import type { PayloadFile } from "../../shared/manifest.js";
import { bundlePath, channelPointerPath, releaseManifestPath } from "../../shared/repo-layout.js";
import { unsafePathReason } from "../../shared/safe-path.js";
import { parsePublicKey } from "../../shared/signature.js";
import { metadataEntries, newSigner, type TarEntry, tarOf } from "../helpers/tar-craft.js";
import { acceptsOrRefuses, applyDamage, type Damage, damageArbitrary, defineTarget, type FuzzTarget } from "./fuzz.js";

/**
 * Fuzz targets for the bundle: the tar reader on damaged valid bundles and on
 * crafted entry lists, and the publisher's bundle and metadata read back by the
 * agent (a round trip that must always succeed).
 */
const NAME = "demo";
const VERSION = "1.0.0";
const signer = newSigner();
const contents: Record<string, Buffer> = {
  "config.json": Buffer.from('{"layers":2}'),
  "sub/vocab.txt": Buffer.from("a\nb\nc\n"),
  "weights.bin": Buffer.alloc(1500, 7),
};
const files: PayloadFile[] = Object.entries(contents).map(([path, c]) => ({
  path,
  size: c.length,
  sha256: sha256Hex(c),
  mode: 0o644,
}));
const entries: TarEntry[] = [
  ...metadataEntries({ name: NAME, version: VERSION, files, signer }),
  { name: "payload/", type: "directory" },
  { name: "payload/config.json", content: contents["config.json"] },
  { name: "payload/sub/", type: "directory" },
  { name: "payload/sub/vocab.txt", content: contents["sub/vocab.txt"] },
  { name: "payload/weights.bin", content: contents["weights.bin"] },
];

const EXTRACT_CODES: ErrorCode[] = [
  "BUNDLE_CORRUPT",
  "BUNDLE_TRUNCATED",
  "PATH_UNSAFE",
  "ENTRY_FORBIDDEN",
  "ENTRY_UNEXPECTED",
  "ENTRY_MISSING",
  "ENTRY_TOO_LARGE",
  "SIZE_MISMATCH",
  "DIGEST_MISMATCH",
  "METADATA_MALFORMED",
  "NAME_MISMATCH",
  "SIGNATURE_MISSING",
  "SIGNATURE_INVALID",
  "KEY_UNTRUSTED",
];

let world: Promise<{ root: string; tar: Buffer }> | undefined;
/** One temporary root per process, with the valid bundle's tar; each input gets its own case folder in it. */
function fuzzWorld(): Promise<{ root: string; tar: Buffer }> {
  world ??= (async () => ({ root: await mkdtemp(join(tmpdir(), "edgepull-fuzz-bundle-")), tar: await tarOf(entries) }))();
  return world;
}

let cases = 0;
/**
 * Extracts `bytes` into a fresh staging folder beside a sentinel folder, and
 * checks the properties: success or a specific refusal, nothing left behind on
 * refusal, nothing written anywhere but the staging folder.
 */
async function extractChecked(bytes: Buffer, expected: PayloadFile[] = files): Promise<void> {
  const { root } = await fuzzWorld();
  const dir = join(root, `case-${++cases}`);
  await mkdir(join(dir, "outside"), { recursive: true });
  await writeFile(join(dir, "outside", "keep.txt"), "untouched");
  await writeFile(join(dir, "bundle.tar.gz"), bytes);
  const destDir = join(dir, "staging", "v");
  try {
    const outcome = await acceptsOrRefuses(
      () =>
        extractBundle({
          bundlePath: join(dir, "bundle.tar.gz"),
          destDir,
          expected: { name: NAME, version: VERSION, files: expected },
          trustedKeys: [signer.publicKey],
          logger: silentLogger(),
        }),
      EXTRACT_CODES,
    );
    expect((await readdir(dir)).sort()).toEqual(["bundle.tar.gz", "outside", "staging"]);
    expect(await readdir(join(dir, "outside"))).toEqual(["keep.txt"]);
    expect(await readFile(join(dir, "outside", "keep.txt"), "utf8")).toBe("untouched");
    expect(await readdir(join(dir, "staging"))).toEqual(outcome === "accepted" ? ["v"] : []);
    if (outcome === "accepted") {
      for (const f of expected) expect(sha256Hex(await readFile(join(destDir, f.path)))).toBe(f.sha256);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const TYPES: Header["type"][] = ["file", "directory", "symlink", "link", "character-device", "block-device", "fifo"];
/** Names built from the pieces hostile names are made of. */
const entryName = fc
  .array(
    fc.constantFrom("payload", "manifest.json", "SHA256SUMS", "..", ".", "", "a", "sub", "config.json", "\u202e", "\uFFFD", "é"),
    {
      minLength: 1,
      maxLength: 5,
    },
  )
  .map((parts) => parts.join("/"));
const craftedEntry: fc.Arbitrary<TarEntry> = fc.record({
  name: entryName,
  type: fc.constantFrom(...TYPES),
  content: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  linkname: fc.constantFrom("/etc/passwd", "../outside", "payload/config.json"),
  mode: fc.constantFrom(0o644, 0o4777, 0o7777, 0),
});

/** A model folder of 1-4 files with safe, possibly non-ASCII names, for the publisher round trip. */
const modelFiles = fc
  .uniqueArray(
    fc.record({
      path: fc
        .array(fc.stringMatching(/^[a-zA-Z0-9._ \u00e9\u4e2d-]{1,12}$/), { minLength: 1, maxLength: 3 })
        .map((parts) => parts.join("/"))
        .filter((p) => unsafePathReason(p) === undefined),
      content: fc.uint8Array({ maxLength: 3000 }),
    }),
    { minLength: 1, maxLength: 4, selector: (f) => f.path },
  )
  .filter((list) => !list.some((a) => list.some((b) => b.path.startsWith(`${a.path}/`))));

export const bundleTargets: FuzzTarget<unknown>[] = [
  defineTarget<Damage>({
    name: "tar-reader-damaged",
    arbitrary: () => damageArbitrary(8),
    quickRuns: 40,
    weight: 0.25,
    check: async (damage) => extractChecked(gzipSync(applyDamage((await fuzzWorld()).tar, damage))),
  }),
  defineTarget<Damage>({
    name: "gzip-damaged",
    arbitrary: () => damageArbitrary(4),
    quickRuns: 20,
    weight: 0.1,
    check: async (damage) => extractChecked(applyDamage(gzipSync((await fuzzWorld()).tar), damage)),
  }),
  defineTarget<TarEntry[]>({
    name: "tar-reader-crafted",
    arbitrary: () => fc.array(craftedEntry, { maxLength: 4 }),
    quickRuns: 30,
    weight: 0.25,
    check: async (crafted) => {
      const safe = crafted.map((e) => (e.type === "file" ? e : { ...e, content: undefined }));
      await extractChecked(gzipSync(await tarOf([...entries.slice(0, 2), ...safe])));
    },
  }),
  defineTarget<{ path: string; content: Uint8Array }[]>({
    name: "publisher-round-trip",
    arbitrary: () => modelFiles,
    quickRuns: 4,
    weight: 0.02,
    check: async (model) => {
      const { root } = await fuzzWorld();
      const dir = await mkdtemp(join(root, "round-"));
      try {
        await roundTrip(dir, model);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  }),
];

/** build + publish as the publisher does, then the agent's checks on what it wrote: all must pass. */
async function roundTrip(dir: string, model: { path: string; content: Uint8Array }[]): Promise<void> {
  const modelDir = join(dir, "model");
  for (const f of model) {
    const path = join(modelDir, f.path);
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, f.content);
  }
  const keys = await keygen({ outDir: join(dir, "keys") });
  const repoDir = join(dir, "repo");
  await buildRelease({ modelDir, name: NAME, version: VERSION, repoDir, keyPath: keys.privateKeyPath });
  await publishChannel({ repoDir, name: NAME, version: VERSION, channel: "stable", keyPath: keys.privateKeyPath });
  const trustedKeys = [parsePublicKey(await readFile(keys.publicKeyPath), "pub")];
  const pointerText = await readFile(join(repoDir, channelPointerPath(NAME, "stable")), "utf8");
  const { pointer } = verifyPointerText(pointerText, {
    trustedKeys,
    name: NAME,
    channel: "stable",
    now: new Date(),
    highestSequence: 0,
  });
  const releaseText = await readFile(join(repoDir, releaseManifestPath(NAME, VERSION)), "utf8");
  const { release } = verifyReleaseText(releaseText, pointer, trustedKeys);
  const destDir = join(dir, "staging", "v");
  await extractBundle({
    bundlePath: join(repoDir, bundlePath(NAME, VERSION)),
    destDir,
    expected: { name: NAME, version: VERSION, files: release.files },
    trustedKeys,
    logger: silentLogger(),
  });
  for (const f of model) expect(Buffer.compare(await readFile(join(destDir, f.path)), Buffer.from(f.content))).toBe(0);
}
