import { describe, expect, it } from "vitest";
import { SIDELOAD_TYPE } from "../../agent/sources/sideload.js";
import type { AttemptRow } from "../../agent/state/store.js";
import { resumesFromChannel } from "../../agent/update/recovery.js";
import { attemptRow } from "../helpers/attempt-row.js";

const envelope = JSON.stringify({ signed: { _type: "edgepull/release", version: "2.0.0" }, signatures: [] });
const sideload = JSON.stringify({
  _type: SIDELOAD_TYPE,
  payload: "{}",
  bundle: { url: "file:///media/usb/demo-2.0.0.tar.gz", size: 1, sha256: "0".repeat(64) },
  receivedAt: "2026-01-01T00:00:00.000Z",
});

describe("resumesFromChannel: which resumed attempts a channel check may drop", () => {
  const cases: { title: string; row: Partial<AttemptRow>; expected: boolean }[] = [
    { title: "an update of a repository release", row: { releaseJson: envelope }, expected: true },
    { title: "a sideload", row: { source: "inbox", releaseJson: sideload }, expected: false },
    {
      title: "an envelope carrying sideload-looking members (still a repository release)",
      row: { releaseJson: JSON.stringify({ ...JSON.parse(sideload), signed: {} }) },
      expected: true,
    },
    { title: "a rollback", row: { kind: "rollback", releaseJson: null, phase: "activating" }, expected: false },
    { title: "an update with no release record", row: { releaseJson: null }, expected: false },
  ];
  for (const c of cases) {
    it(`${c.title}: ${c.expected}`, () => {
      expect(resumesFromChannel(attemptRow(c.row))).toBe(c.expected);
    });
  }
});
