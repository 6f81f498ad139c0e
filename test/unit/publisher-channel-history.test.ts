import { describe, expect, it } from "vitest";
import { HISTORY_LIMIT, mergeHistory, previousFromHistory } from "../../publisher/rollout/channel-history.js";
import type { ChannelPointer } from "../../shared/manifest.js";

function pointer(sequence: number, version: string): ChannelPointer {
  return {
    _type: "edgepull/channel",
    specVersion: 1,
    name: "det",
    channel: "stable",
    version,
    sequence,
    createdAt: "2026-01-01T00:00:00.000Z",
    expiresAt: "2026-02-01T00:00:00.000Z",
    release: { url: `releases/det/${version}/release.json`, size: 1, sha256: "0".repeat(64) },
  };
}

describe("channel history", () => {
  it("walks back past pointers of the same version to the one before", () => {
    const h = mergeHistory([], [pointer(1, "1.0.0"), pointer(2, "1.1.0"), pointer(3, "1.1.0")]);
    expect(previousFromHistory(h, { sequence: 4, version: "1.1.0" })).toBe("1.0.0");
    expect(previousFromHistory(h, { sequence: 2, version: "1.1.0" })).toBe("1.0.0");
  });

  it("knows nothing across a gap in the sequence numbers", () => {
    const h = mergeHistory([], [pointer(1, "1.0.0"), pointer(3, "1.2.0")]);
    // Sequence 2 was written by someone else and may have named any version.
    expect(previousFromHistory(h, { sequence: 3, version: "1.2.0" })).toBeUndefined();
    expect(previousFromHistory([], { sequence: 1, version: "1.0.0" })).toBeUndefined();
  });

  it("keeps one entry per sequence, sorted, and only the newest entries", () => {
    const h = mergeHistory(mergeHistory([], [pointer(2, "1.0.0")]), [pointer(1, "0.9.0"), pointer(2, "1.1.0")]);
    expect(h.map((e) => [e.sequence, e.version])).toEqual([
      [1, "0.9.0"],
      [2, "1.1.0"],
    ]);
    const many = mergeHistory(
      [],
      Array.from({ length: HISTORY_LIMIT + 5 }, (_, i) => pointer(i + 1, "1.0.0")),
    );
    expect(many).toHaveLength(HISTORY_LIMIT);
    expect(many[0]?.sequence).toBe(6);
  });
});
