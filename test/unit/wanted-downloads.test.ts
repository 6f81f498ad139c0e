import { describe, expect, it } from "vitest";
import { isDownloadFileName } from "../../agent/install/layout.js";
import type { AttemptRow } from "../../agent/state/store.js";
import { downloadsWanted } from "../../agent/update/wanted-downloads.js";
import { attemptRow } from "../helpers/attempt-row.js";

const all = { name: "m", version: "2.0.0", deltaFrom: "1.0.0" };

describe("downloadsWanted", () => {
  it.each<[string, Partial<AttemptRow>, boolean, object | undefined]>([
    ["open, downloading: bundle and delta, partial or finished", {}, false, all],
    ["open, staging: the same", { phase: "staging" }, false, all],
    [
      "open, delta given up: the bundle only",
      { phase: "staging", deltaFallbackCode: "DELTA_FAILED" },
      false,
      { ...all, deltaFrom: null },
    ],
    ["open, staged and waiting for a window: nothing", { phase: "waiting" }, false, undefined],
    ["open, past activation: nothing", { phase: "probation" }, false, undefined],
    [
      "failed before activation: its partials, for a retry",
      { phase: "failed", result: "failed" },
      false,
      { ...all, partialOnly: true },
    ],
    ["failed and deny-listed: nothing", { phase: "failed", result: "failed" }, true, undefined],
    ["succeeded: nothing", { phase: "succeeded", result: "succeeded" }, false, undefined],
    ["rolled back: nothing", { phase: "rolled_back", result: "rolled_back" }, true, undefined],
    ["superseded: nothing", { phase: "superseded", result: "superseded" }, false, undefined],
    ["a manual rollback: nothing", { kind: "rollback", phase: "activating" }, false, undefined],
  ])("%s", (_what, over, denied, expected) => {
    expect(downloadsWanted(attemptRow(over), "m", denied)).toEqual(expected);
  });
});

describe("isDownloadFileName", () => {
  it.each([
    ["demo-model-1.2.0.tar.gz", true],
    ["demo-model-1.2.0.tar.gz.part", true],
    ["demo-model-2.0.0-rc.1+build.5.tar.gz.part", true],
    ["demo-model-1.2.0.from-1.1.0.epdelta", true],
    ["demo-model-1.2.0.from-1.1.0-rc.1.epdelta.part", true],
    ["notes.txt", false],
    ["demo-model-1.2.0.tar", false],
    ["demo-model.tar.gz", false],
    [".hidden-1.0.0.tar.gz", false],
    ["demo-model-1.2.0.epdelta", false],
  ])("%s: %s", (file, ours) => {
    expect(isDownloadFileName(file)).toBe(ours);
  });
});
