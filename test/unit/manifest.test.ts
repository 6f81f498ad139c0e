import { describe, expect, it } from "vitest";
import { parsePayloadManifest } from "../../shared/manifest.js";
import { unsafePathReason } from "../../shared/safe-path.js";

const file = (path: string) => ({ path, size: 1, sha256: "c".repeat(64), mode: 0o644 });
const payload = (files: unknown[]) => ({ _type: "edgepull/payload", specVersion: 1, name: "demo", version: "1.0.0", files });

describe("payload manifest", () => {
  it("accepts a well-formed manifest", () => {
    expect(parsePayloadManifest(payload([file("a"), file("dir/b")])).files).toHaveLength(2);
  });

  it("lists every problem at once", () => {
    const bad = { ...payload([file("../x"), file("/abs")]), version: "v1", name: "Bad Name" };
    let message = "";
    try {
      parsePayloadManifest(bad);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/name must be/);
    expect(message).toMatch(/not a semantic version/);
    expect(message).toMatch(/'\.\.' segment/);
    expect(message).toMatch(/is absolute/);
  });

  it.each([
    ["unsorted", [file("b"), file("a")]],
    ["duplicated", [file("a"), file("a")]],
    ["file and folder clash", [file("a"), file("a/b")]],
    ["empty", []],
  ])("refuses %s file lists", (_name, files) => {
    expect(() => parsePayloadManifest(payload(files))).toThrow(expect.objectContaining({ code: "METADATA_MALFORMED" }));
  });
});

describe("unsafePathReason", () => {
  it.each(["model.bin", "a/b/c.json", "weird name.txt", "..hidden", "a..b"])("accepts %s", (p) => {
    expect(unsafePathReason(p)).toBeUndefined();
  });
  it.each(["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "C:/x", "a\u0000b", "a/"])("refuses %j", (p) => {
    expect(unsafePathReason(p)).toBeDefined();
  });
});
