import { describe, expect, it } from "vitest";
import { payloadDifferences } from "../../publisher/release-compare.js";
import type { PayloadFile } from "../../shared/manifest.js";

const A = "a".repeat(64);
const B = "b".repeat(64);
const file = (path: string, size = 1, sha256 = A, mode = 0o644): PayloadFile => ({ path, size, sha256, mode });

describe("payloadDifferences", () => {
  it("finds nothing when files and compatibility match", () => {
    const files = [file("a.bin"), file("b/c.json", 5, B, 0o755)];
    expect(payloadDifferences({ files }, { files: files.map((f) => ({ ...f })) })).toEqual([]);
    expect(
      payloadDifferences({ files, compatibility: { arch: ["arm64"] } }, { files, compatibility: { arch: ["arm64"] } }),
    ).toEqual([]);
  });

  it("names every differing file and what differs", () => {
    const diff = payloadDifferences(
      { files: [file("gone.bin"), file("same.bin"), file("w.bin", 1, A, 0o644)] },
      { files: [file("new.bin"), file("same.bin"), file("w.bin", 2, B, 0o755)] },
    );
    expect(diff).toEqual([
      "gone.bin is gone",
      "new.bin is new",
      `w.bin: size 1 -> 2, sha256 ${A.slice(0, 12)} -> ${B.slice(0, 12)}, mode 644 -> 755`,
    ]);
  });

  it("counts a change of compatibility as a difference", () => {
    const files = [file("a.bin")];
    expect(payloadDifferences({ files }, { files, compatibility: { arch: ["arm64"] } })).toEqual([
      'compatibility {} -> {"arch":["arm64"]}',
    ]);
  });
});
