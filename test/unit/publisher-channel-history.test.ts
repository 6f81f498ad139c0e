import { describe, expect, it } from "vitest";
import {
  HISTORY_LIMIT,
  type HistoryEntry,
  healthyReleases,
  historyCovers,
  mergeHistory,
} from "../../publisher/rollout/channel-history.js";
import type { ChannelPointer, RolloutPolicy } from "../../shared/manifest.js";

function pointer(sequence: number, version: string, rollout?: RolloutPolicy): ChannelPointer {
  const p: ChannelPointer = {
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
  if (rollout) p.rollout = rollout;
  return p;
}

const share = (percent: number, paused = false): RolloutPolicy => ({ percent, paused });
const none = new Set<string>();

/** A history built the way the publisher builds it: each write records the pointer it replaced and the new one. */
function written(steps: [ChannelPointer, HistoryEntry["aborted"]?][]): HistoryEntry[] {
  let h: HistoryEntry[] = [];
  let previous: ChannelPointer | undefined;
  for (const [p, aborted] of steps) {
    h = mergeHistory(h, previous ? [previous, p] : [p], aborted);
    previous = p;
  }
  return h;
}

describe("channel history: the release an abort goes back to", () => {
  it("skips a release an earlier abort took the channel away from (1.0, 1.1 aborted, 1.2 aborted lands on 1.0)", () => {
    const h = written([
      [pointer(1, "1.0.0")],
      [pointer(2, "1.1.0", share(10))],
      [pointer(3, "1.1.0")], // 1.1 reached every device, then went bad
      [pointer(4, "1.0.0"), { version: "1.1.0", by: "abort" }],
      [pointer(5, "1.2.0", share(20))],
    ]);
    expect(healthyReleases(h, { sequence: 5, version: "1.2.0" }, none)).toEqual(["1.0.0"]);
  });

  it("a second abort does not return to the release the first one aborted", () => {
    const h = written([[pointer(1, "1.0.0")], [pointer(2, "1.1.0")], [pointer(3, "1.0.0"), { version: "1.1.0", by: "halt" }]]);
    expect(healthyReleases(h, { sequence: 3, version: "1.0.0" }, none)).toEqual([]);
  });

  it("a release is healthy only where it reached every device unpaused", () => {
    const h = written([
      [pointer(1, "1.0.0")],
      [pointer(2, "1.1.0", share(50))],
      [pointer(3, "1.1.0", share(50, true))],
      [pointer(4, "1.2.0", share(10))],
    ]);
    expect(healthyReleases(h, { sequence: 4, version: "1.2.0" }, none)).toEqual(["1.0.0"]);
  });

  it("withdrawn releases are never chosen; the most recently carried comes first", () => {
    const h = written([[pointer(1, "0.9.0")], [pointer(2, "1.1.0")], [pointer(3, "1.0.0")], [pointer(4, "1.2.0", share(5))]]);
    expect(healthyReleases(h, { sequence: 4, version: "1.2.0" }, none)).toEqual(["1.0.0", "1.1.0", "0.9.0"]);
    expect(healthyReleases(h, { sequence: 4, version: "1.2.0" }, new Set(["1.0.0"]))).toEqual(["1.1.0", "0.9.0"]);
  });

  it("a release rolled out to everyone again after its abort is healthy again", () => {
    const h = written([
      [pointer(1, "1.0.0")],
      [pointer(2, "1.1.0")],
      [pointer(3, "1.0.0"), { version: "1.1.0", by: "abort" }],
      [pointer(4, "1.1.0")], // the abort was a false alarm
      [pointer(5, "1.2.0", share(10))],
    ]);
    expect(healthyReleases(h, { sequence: 5, version: "1.2.0" }, none)).toEqual(["1.1.0", "1.0.0"]);
  });
});

describe("channel history: bookkeeping", () => {
  it("re-recording a pointer keeps the abort noted on it", () => {
    const h = mergeHistory(mergeHistory([], [pointer(1, "1.1.0"), pointer(2, "1.0.0")], { version: "1.1.0", by: "abort" }), [
      pointer(2, "1.0.0"),
      pointer(3, "1.2.0"),
    ]);
    expect(h.map((e) => [e.sequence, e.version, e.aborted?.version])).toEqual([
      [1, "1.1.0", undefined],
      [2, "1.0.0", "1.1.0"],
      [3, "1.2.0", undefined],
    ]);
  });

  it("knows when it has a gap before the current pointer", () => {
    expect(historyCovers(mergeHistory([], [pointer(1, "1.0.0"), pointer(2, "1.1.0")]), 3)).toBe(true);
    expect(historyCovers(mergeHistory([], [pointer(1, "1.0.0"), pointer(3, "1.2.0")]), 3)).toBe(false);
    expect(historyCovers([], 1)).toBe(true);
    expect(historyCovers([], 2)).toBe(false);
    // Trimmed to the newest HISTORY_LIMIT: complete from its oldest entry on.
    const many = mergeHistory(
      [],
      Array.from({ length: HISTORY_LIMIT + 5 }, (_, i) => pointer(i + 1, "1.0.0")),
    );
    expect(many).toHaveLength(HISTORY_LIMIT);
    expect(many[0]?.sequence).toBe(6);
    expect(historyCovers(many, HISTORY_LIMIT + 6)).toBe(true);
  });

  it("keeps one entry per sequence, sorted, with the pointer's share", () => {
    const h = mergeHistory(mergeHistory([], [pointer(2, "1.0.0")]), [pointer(1, "0.9.0"), pointer(2, "1.1.0", share(30))]);
    expect(h).toEqual([
      { sequence: 1, version: "0.9.0", at: "2026-01-01T00:00:00.000Z" },
      { sequence: 2, version: "1.1.0", at: "2026-01-01T00:00:00.000Z", rollout: { percent: 30, paused: false } },
    ]);
  });
});
