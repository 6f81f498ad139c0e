import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { gzipSync } from "node:zlib";
import { type Header, pack as tarPack } from "tar-stream";
import { FIXED_MTIME, MANIFEST_ENTRY, PAYLOAD_PREFIX, SUMS_ENTRY } from "../../shared/bundle-format.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { formatSha256Sums, sha256Hex } from "../../shared/digest.js";
import { PAYLOAD_TYPE, type PayloadFile, type PayloadManifest, SPEC_VERSION } from "../../shared/manifest.js";
import {
  generateSigningKeyPair,
  type PrivateKeyInfo,
  type PublicKeyInfo,
  parsePrivateKey,
  parsePublicKey,
  signEnvelope,
} from "../../shared/signature.js";

/**
 * Builds tar.gz bytes by hand for extractor tests: well-formed bundles in our
 * format, and anything a hostile or broken publisher could produce (links,
 * devices, escaping names, sizes that disagree with the manifest, cut or
 * damaged bytes). The real publisher is not used: these tests must not depend on it.
 */
export interface TarEntry {
  name: string;
  type?: Header["type"];
  content?: Buffer;
  linkname?: string;
  mode?: number;
  /** Pax records to write before the entry (tar-stream then writes `path` too). */
  pax?: Record<string, string>;
}

export interface Signer {
  privateKey: PrivateKeyInfo;
  publicKey: PublicKeyInfo;
}

export function newSigner(): Signer {
  const pair = generateSigningKeyPair();
  return { privateKey: parsePrivateKey(pair.privatePem, "test key"), publicKey: parsePublicKey(pair.publicPem, "test key") };
}

/** An uncompressed tar of exactly these entries, in this order, with the bundle format's fixed metadata. */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const collected = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  for (const e of entries) {
    const type = e.type ?? "file";
    const content = type === "file" ? (e.content ?? Buffer.alloc(0)) : undefined;
    const header: Partial<Header> & Pick<Header, "name"> = {
      name: e.name,
      type,
      size: content?.length ?? 0,
      mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
      mtime: FIXED_MTIME,
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.pax !== undefined) header.pax = e.pax;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (content) pack.entry(header, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  return collected;
}

export async function tarGzOf(entries: TarEntry[]): Promise<Buffer> {
  return gzipSync(await tarOf(entries));
}

/** The first `keep` bytes (a fraction when below 1). */
export function truncate(bytes: Buffer, keep: number): Buffer {
  return Buffer.from(bytes.subarray(0, keep < 1 ? Math.floor(bytes.length * keep) : keep));
}

/** A copy with the byte at `offset` (negative: from the end) inverted. */
export function corrupt(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  const at = offset < 0 ? copy.length + offset : offset;
  copy[at] = (copy[at] ?? 0) ^ 0xff;
  return copy;
}

/** Where the 512-byte header of entry `name` starts in an uncompressed tar (plain ustar names only). */
export function headerOffset(tar: Buffer, name: string): number {
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    const entryName = field(header, 0, 100);
    if (entryName === "") break;
    if (entryName === name) return at;
    const size = Number.parseInt(field(header, 124, 12).trim(), 8) || 0;
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no tar entry named ${name}`);
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString("utf8");
}

/** A copy where `edit` changed the 512-byte header of entry `name`, with its checksum fixed again. */
export function patchHeader(tar: Buffer, name: string, edit: (header: Buffer) => void): Buffer {
  const copy = Buffer.from(tar);
  const at = headerOffset(copy, name);
  const header = copy.subarray(at, at + 512);
  edit(header);
  fixChecksum(header);
  return copy;
}

/** Recomputes a header block's checksum after an edit. */
export function fixChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
}

/**
 * Rewrites the size field of the tar header of entry `name` and fixes its checksum,
 * so the header claims `size` bytes while the archive holds the original content.
 */
export function lieAboutSize(tar: Buffer, name: string, size: number): Buffer {
  return patchHeader(tar, name, (h) => h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii"));
}

/** The size field in base-256 (GNU's form for sizes past 8 GiB): `bytes` are its last 11 bytes, big-endian. */
export function base256Size(tar: Buffer, name: string, negative: boolean): Buffer {
  return patchHeader(tar, name, (h) => {
    h.fill(negative ? 0xff : 0, 124, 136);
    h[124] = negative ? 0xff : 0x80;
    if (negative) h[135] = 0xf0;
    else h.writeUIntBE(2 ** 40, 130, 6);
  });
}

/** Sets the typeflag byte of entry `name` (for types tar-stream cannot write: GNU sparse 'S', volume label 'V', ...). */
export function setTypeflag(tar: Buffer, name: string, flag: string): Buffer {
  return patchHeader(tar, name, (h) => h.write(flag, 156, 1, "latin1"));
}

/** A ustar header block of `typeflag` for `size` bytes, named `name` (at most 100 bytes). */
export function rawHeader(name: string, typeflag: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, 8, "ascii");
  h.write("0000000\0", 108, 8, "ascii");
  h.write("0000000\0", 116, 8, "ascii");
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124, 12, "ascii");
  h.write(
    `${Math.floor(FIXED_MTIME.getTime() / 1000)
      .toString(8)
      .padStart(11, "0")}\0`,
    136,
    12,
    "ascii",
  );
  h.write(typeflag, 156, 1, "latin1");
  h.write("ustar\0" + "00", 257, 8, "ascii");
  fixChecksum(h);
  return h;
}

/** A GNU long-name record ('L') giving the next entry the name `name`, whatever its own header says. */
export function gnuLongName(name: string): Buffer {
  const body = Buffer.from(`${name}\0`, "utf8");
  return Buffer.concat([rawHeader("././@LongLink", "L", body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** Inserts `bytes` (whole blocks) just before the header of entry `name`. */
export function insertBefore(tar: Buffer, name: string, bytes: Buffer): Buffer {
  const at = headerOffset(tar, name);
  return Buffer.concat([tar.subarray(0, at), bytes, tar.subarray(at)]);
}

/** Offsets where each entry's header starts, its body starts, and where the end-of-archive blocks start. */
export function entryBoundaries(tar: Buffer): { headers: number[]; bodies: number[]; end: number } {
  const headers: number[] = [];
  const bodies: number[] = [];
  let at = 0;
  while (at + 512 <= tar.length && tar.subarray(at, at + 512).some((b) => b !== 0)) {
    const size = Number.parseInt(field(tar.subarray(at, at + 512), 124, 12).trim(), 8) || 0;
    headers.push(at);
    bodies.push(at + 512);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return { headers, bodies, end: at };
}

export interface BundleSpec {
  name: string;
  version: string;
  files: PayloadFile[];
  signer: Signer;
}

/** manifest.json and SHA256SUMS entries as the publisher writes them, for `files`. */
export function metadataEntries(spec: BundleSpec): TarEntry[] {
  const manifest: PayloadManifest = {
    _type: PAYLOAD_TYPE,
    specVersion: SPEC_VERSION,
    name: spec.name,
    version: spec.version,
    files: spec.files,
  };
  const envelope = signEnvelope(manifest, [spec.signer.privateKey]);
  const sums = formatSha256Sums(spec.files.map((f) => ({ path: `${PAYLOAD_PREFIX}${f.path}`, sha256: f.sha256 })));
  return [
    { name: MANIFEST_ENTRY, content: Buffer.from(canonicalJson(envelope)) },
    { name: SUMS_ENTRY, content: Buffer.from(sums) },
  ];
}

export interface FolderBundle {
  files: PayloadFile[];
  /** Every entry in order: metadata, then payload folders and files, sorted. */
  entries: TarEntry[];
  bytes: Buffer;
}

/** A valid signed bundle of a folder's files, deterministic like the publisher's. */
export async function bundleFromFolder(dir: string, opts: Omit<BundleSpec, "files">): Promise<FolderBundle> {
  const found = await walk(dir);
  const files: PayloadFile[] = [];
  const payload: TarEntry[] = [{ name: PAYLOAD_PREFIX, type: "directory" }];
  for (const item of found) {
    if (item.dir) {
      payload.push({ name: `${PAYLOAD_PREFIX}${item.rel}/`, type: "directory" });
      continue;
    }
    const content = await readFile(join(dir, item.rel));
    const mode = item.mode & 0o100 ? 0o755 : 0o644;
    files.push({ path: item.rel, size: content.length, sha256: sha256Hex(content), mode });
    payload.push({ name: `${PAYLOAD_PREFIX}${item.rel}`, content, mode });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const entries = [...metadataEntries({ ...opts, files }), ...payload];
  return { files, entries, bytes: await tarGzOf(entries) };
}

async function walk(root: string): Promise<{ rel: string; dir: boolean; mode: number }[]> {
  const out: { rel: string; dir: boolean; mode: number }[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    const full = join(e.parentPath, e.name);
    out.push({ rel: relative(root, full).split(sep).join("/"), dir: e.isDirectory(), mode: (await stat(full)).mode });
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}
