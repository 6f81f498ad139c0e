import { MANIFEST_ENTRY, MANIFEST_MAX_BYTES, PAYLOAD_PREFIX, SUMS_ENTRY, SUMS_MAX_BYTES } from "../bundle-format.js";
import { EdgeError } from "../errors.js";
import type { PayloadFile } from "../manifest.js";
import { unsafePathReason } from "../safe-path.js";

/**
 * Decides, from its tar header alone and before a byte of it is written, what
 * each bundle entry is and whether it may exist at all. Everything not named by
 * the signed manifest is refused, so the extractor only ever creates the files
 * and folders the manifest lists.
 */
export interface EntryHeader {
  name: string;
  type?: string | null;
  size?: number;
  linkname?: string | null;
}

export type EntryKind =
  | { kind: "manifest" }
  | { kind: "sums" }
  | { kind: "payload-root" }
  | { kind: "dir"; path: string }
  | { kind: "file"; path: string; file: PayloadFile };

const PAYLOAD_ROOT = PAYLOAD_PREFIX.replace(/\/$/, "");

export class BundleEntries {
  private readonly files = new Map<string, PayloadFile>();
  private readonly dirs = new Set<string>();
  private readonly seen = new Set<string>();

  constructor(expected: PayloadFile[]) {
    for (const f of expected) {
      this.files.set(f.path, f);
      const parts = f.path.split("/");
      for (let i = 1; i < parts.length; i++) this.dirs.add(parts.slice(0, i).join("/"));
    }
  }

  accept(header: EntryHeader): EntryKind {
    const type = header.type ?? "file";
    // Folders conventionally end in '/'; one trailing slash is not an empty segment.
    const name = type === "directory" && header.name.endsWith("/") ? header.name.slice(0, -1) : header.name;
    const shown = JSON.stringify(header.name);
    const unsafe = unsafePathReason(name);
    if (unsafe) throw new EdgeError("PATH_UNSAFE", `bundle entry ${shown} ${unsafe}`);
    // tar-stream reports a typeflag it does not know (GNU sparse, volume label, ...) as null: never a plain file.
    if (header.type === null) {
      throw new EdgeError("ENTRY_FORBIDDEN", `bundle entry ${shown} has an unknown tar type; only files and folders are allowed`);
    }
    if (type !== "file" && type !== "directory") {
      const target = header.linkname ? ` (to ${JSON.stringify(header.linkname)})` : "";
      throw new EdgeError("ENTRY_FORBIDDEN", `bundle entry ${shown} is a ${type}${target}; only files and folders are allowed`);
    }
    if (this.seen.size === 0 && name !== MANIFEST_ENTRY) {
      throw new EdgeError("ENTRY_UNEXPECTED", `bundle entry ${shown} comes first; ${MANIFEST_ENTRY} must be the first entry`);
    }
    if (this.seen.has(name)) throw new EdgeError("ENTRY_UNEXPECTED", `bundle entry ${shown} appears twice`);
    this.seen.add(name);
    const size = header.size ?? 0;

    if (name === MANIFEST_ENTRY || name === SUMS_ENTRY) {
      if (type !== "file") throw new EdgeError("ENTRY_UNEXPECTED", `bundle entry ${shown} must be a file, found a folder`);
      const max = name === MANIFEST_ENTRY ? MANIFEST_MAX_BYTES : SUMS_MAX_BYTES;
      if (size > max) throw new EdgeError("ENTRY_TOO_LARGE", `bundle entry ${shown} is ${size} bytes, at most ${max} allowed`);
      return { kind: name === MANIFEST_ENTRY ? "manifest" : "sums" };
    }
    if (name === PAYLOAD_ROOT && type === "directory") return { kind: "payload-root" };
    if (!name.startsWith(PAYLOAD_PREFIX)) {
      throw new EdgeError(
        "ENTRY_UNEXPECTED",
        `bundle entry ${shown} is not ${MANIFEST_ENTRY}, ${SUMS_ENTRY} or under ${PAYLOAD_PREFIX}`,
      );
    }
    const path = name.slice(PAYLOAD_PREFIX.length);
    if (type === "directory") {
      if (!this.dirs.has(path)) throw new EdgeError("ENTRY_UNEXPECTED", `bundle folder ${shown} holds no file of the manifest`);
      return { kind: "dir", path };
    }
    const file = this.files.get(path);
    if (!file) throw new EdgeError("ENTRY_UNEXPECTED", `bundle entry ${shown} is not in the manifest`);
    if (size > file.size) {
      throw new EdgeError("ENTRY_TOO_LARGE", `bundle entry ${shown} is ${size} bytes, the manifest says ${file.size}`);
    }
    if (size < file.size) {
      throw new EdgeError("SIZE_MISMATCH", `bundle entry ${shown} is ${size} bytes, the manifest says ${file.size}`);
    }
    return { kind: "file", path, file };
  }

  /** Every entry a well-formed bundle of these files can hold: metadata, the payload root, folders and files. */
  get entryLimit(): number {
    return 3 + this.dirs.size + this.files.size;
  }

  /** At the end of the archive: everything the manifest lists must have come. */
  finish(): void {
    const missing = [MANIFEST_ENTRY, SUMS_ENTRY, ...[...this.files.keys()].map((p) => `${PAYLOAD_PREFIX}${p}`)].filter(
      (name) => !this.seen.has(name),
    );
    if (missing.length > 0) {
      const shown = missing.slice(0, 5).map((n) => JSON.stringify(n));
      const more = missing.length > 5 ? ` and ${missing.length - 5} more` : "";
      throw new EdgeError("ENTRY_MISSING", `bundle lacks ${shown.join(", ")}${more}`);
    }
  }
}
